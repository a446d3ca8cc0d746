//! Group commit of the runners' PAPER and SHADOW orders and fills. At a boundary where
//! hundreds of bots decide or fill at once, each write alone was its own transaction and
//! commit inside its bot's evaluation. Runners now hand them to this task and await the
//! answer: it takes every write queued while the previous batch committed and writes them in
//! one transaction (`store::paper_batch`, fenced row by row), then answers each. An evaluation
//! still goes on only once its write is committed, and gets exactly what a write alone would
//! answer: a write the batch leaves (a stale fence, an existing key) is written alone, and so
//! is every write of a batch that failed before its commit. A failed commit (its outcome
//! unknown) is answered as the error it is.
//!
//! LIVE orders are not here: their write-ahead runs under the account's lock, and the send
//! waits on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::store::{
    fills::Booked,
    orders::Placed,
    paper_batch::{self, PaperFill, PaperPlace},
};

type Answer<T> = oneshot::Sender<Result<T, sqlx::Error>>;

enum Write {
    Place(Box<PaperPlace>, Answer<Placed>),
    Fill(Box<PaperFill>, Answer<Booked>),
}

/// The runners' side: each call waits for its write's commit.
#[derive(Clone)]
pub struct PaperWriter {
    tx: mpsc::Sender<Write>,
    pub stats: Arc<PaperWriterStats>,
}

/// Counters for the load figures and tests.
#[derive(Debug, Default)]
pub struct PaperWriterStats {
    /// Transactions the writer committed (or tried).
    pub batches: AtomicU64,
    /// Writes handed to it.
    pub writes: AtomicU64,
    /// Writes it left to be written alone (a stale fence, an existing key, a failed batch).
    pub alone: AtomicU64,
}

/// Writes per batch: a boundary of the largest fleets fits in a few batches.
const BATCH: usize = 1_000;

impl PaperWriter {
    /// Starts the task; it ends when every `PaperWriter` is gone.
    pub fn spawn(pool: sqlx::PgPool) -> PaperWriter {
        let (tx, rx) = mpsc::channel(BATCH * 4);
        let stats = Arc::new(PaperWriterStats::default());
        tokio::spawn(run(pool, rx, stats.clone()));
        PaperWriter { tx, stats }
    }

    /// [`crate::store::orders::place`] of `p`, committed with the others queued beside it.
    pub async fn place(&self, p: PaperPlace) -> Result<Placed, sqlx::Error> {
        let (answer, wait) = oneshot::channel();
        self.send(Write::Place(Box::new(p), answer)).await?;
        wait.await.unwrap_or(Err(sqlx::Error::PoolClosed))
    }

    /// [`crate::store::fills::book`] of `f`, committed with the others queued beside it.
    pub async fn fill(&self, f: PaperFill) -> Result<Booked, sqlx::Error> {
        let (answer, wait) = oneshot::channel();
        self.send(Write::Fill(Box::new(f), answer)).await?;
        wait.await.unwrap_or(Err(sqlx::Error::PoolClosed))
    }

    async fn send(&self, w: Write) -> Result<(), sqlx::Error> {
        self.tx.send(w).await.map_err(|_| sqlx::Error::PoolClosed)
    }
}

async fn run(pool: sqlx::PgPool, mut rx: mpsc::Receiver<Write>, stats: Arc<PaperWriterStats>) {
    let mut batch = Vec::with_capacity(BATCH);
    // No linger: what queued while the previous batch committed is the next batch.
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        write(&pool, std::mem::take(&mut batch), &stats).await;
    }
}

async fn write(pool: &sqlx::PgPool, batch: Vec<Write>, stats: &PaperWriterStats) {
    let (mut places, mut placed_to) = (Vec::new(), Vec::new());
    let (mut fills, mut booked_to) = (Vec::new(), Vec::new());
    for w in batch {
        match w {
            Write::Place(p, answer) => {
                places.push(*p);
                placed_to.push(answer);
            }
            Write::Fill(f, answer) => {
                fills.push(*f);
                booked_to.push(answer);
            }
        }
    }
    let written = match together(pool, &places, &fills).await {
        Ok(written) => written,
        Err(Failed::Commit(err)) => {
            tracing::warn!(error = %err, writes = places.len() + fills.len(),
                "PAPER batch commit failed; its writes are answered with the error");
            let why = format!("the PAPER batch's commit failed: {err}");
            for answer in placed_to {
                let _ = answer.send(Err(sqlx::Error::Protocol(why.clone())));
            }
            for answer in booked_to {
                let _ = answer.send(Err(sqlx::Error::Protocol(why.clone())));
            }
            return;
        }
        Err(Failed::Before(err)) => {
            tracing::debug!(error = %err, writes = places.len() + fills.len(),
                "PAPER batch failed before its commit; each write goes alone");
            paper_batch::Written {
                placed: places.iter().map(|_| None).collect(),
                booked: fills.iter().map(|_| None).collect(),
            }
        }
    };
    for ((p, answer), row) in places.into_iter().zip(placed_to).zip(written.placed) {
        match row {
            Some(row) => {
                let _ = answer.send(Ok(p.written(row)));
            }
            None => alone(stats, answer, p.alone(pool.clone())),
        }
    }
    for ((f, answer), booked) in fills.into_iter().zip(booked_to).zip(written.booked) {
        match booked {
            Some(booked) => {
                let _ = answer.send(Ok(booked));
            }
            None => alone(stats, answer, f.alone(pool.clone())),
        }
    }
}

/// Writes one write the batch left, alone and beside the writer (the next batch need not wait
/// for it), and answers it.
fn alone<T: Send + 'static>(
    stats: &PaperWriterStats,
    answer: Answer<T>,
    write: impl Future<Output = Result<T, sqlx::Error>> + Send + 'static,
) {
    stats.alone.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        let _ = answer.send(write.await);
    });
}

/// Where a batch failed: before its commit (nothing written) or at it (outcome unknown).
enum Failed {
    Before(sqlx::Error),
    Commit(sqlx::Error),
}

async fn together(
    pool: &sqlx::PgPool,
    places: &[PaperPlace],
    fills: &[PaperFill],
) -> Result<paper_batch::Written, Failed> {
    let mut tx = pool.begin().await.map_err(Failed::Before)?;
    let written = paper_batch::write(&mut tx, places, fills)
        .await
        .map_err(Failed::Before)?;
    tx.commit().await.map_err(Failed::Commit)?;
    Ok(written)
}
