//! Batched writes of the runners' no-trade traces. Thousands of runners suppress on every bar;
//! each sends an insert (a new suppression, id chosen by the runner) or a fold (the same
//! suppression again: bump count and last-seen time) and this task writes them in a few
//! statements per batch. A failed batch is retried, never dropped; back-pressure reaches the
//! runners through the bounded queue. Every op carries its runner's fence and the batch is
//! fenced in the database (`traces::write_no_trade_batch`): an op of a node that lost the bot
//! (paused past its lease, cut off from the database) is refused and counted, never written.
//! Decision traces are not batched: they are written with their order, in the same
//! transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::store::bot_leases::Fence;
use crate::store::traces::{self, Fold, NoTradeTrace};

/// A no-trade row (its `node_id` and `lease_epoch` are the writing runner's fence) or a fold
/// into one the runner wrote, under its fence.
#[derive(Debug)]
pub enum NoTradeOp {
    Insert(Box<NoTradeTrace>),
    Fold {
        id: Uuid,
        at: DateTime<Utc>,
        fence: Fence,
    },
    /// Answered once every op queued before it is written (or refused): see
    /// [`TraceSender::flush`].
    Barrier(oneshot::Sender<()>),
}

/// Counters for health and the load figures.
#[derive(Debug, Default)]
pub struct TraceWriterStats {
    pub inserted: AtomicU64,
    pub folded: AtomicU64,
    pub failed_batches: AtomicU64,
    /// Ops the database refused because their fence was stale (the node lost the bot).
    pub refused: AtomicU64,
}

#[derive(Clone)]
pub struct TraceSender {
    tx: mpsc::Sender<NoTradeOp>,
    pub stats: Arc<TraceWriterStats>,
}

impl TraceSender {
    /// Queues one op; waits while the queue is full. False when the writer is gone.
    pub async fn send(&self, op: NoTradeOp) -> bool {
        self.tx.send(op).await.is_ok()
    }

    /// Waits until every op queued before this call is written (or refused). A runner's own
    /// kill trigger fires after its evaluation's trace is queued: the kill flushes first, so
    /// the new epoch it takes does not refuse the trace of the evaluation that fired it.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(NoTradeOp::Barrier(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// A sender whose writer is gone (detached runtimes): every send fails.
    pub fn closed() -> Self {
        let (tx, _) = mpsc::channel(1);
        TraceSender {
            tx,
            stats: Arc::default(),
        }
    }
}

const QUEUE: usize = 65_536;
const BATCH: usize = 10_000;
const LINGER: Duration = Duration::from_millis(50);
/// Retries back off from 100 ms; a batch still failing after ~2 minutes of retries is logged as
/// lost (the database has been unreachable that long; runners are blocked on the full queue).
const GIVE_UP_AFTER: Duration = Duration::from_secs(64);

/// Starts the writer. Once `stop` turns true (after the runners stopped) it writes what is
/// queued and ends.
pub fn spawn(
    pool: PgPool,
    stop: watch::Receiver<bool>,
) -> (TraceSender, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let stats = Arc::new(TraceWriterStats::default());
    let join = tokio::spawn(run(pool, rx, stop, stats.clone()));
    (TraceSender { tx, stats }, join)
}

async fn run(
    pool: PgPool,
    mut rx: mpsc::Receiver<NoTradeOp>,
    mut stop: watch::Receiver<bool>,
    stats: Arc<TraceWriterStats>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let stopping = tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => n == 0,
            _ = stop.wait_for(|s| *s) => true,
        };
        if stopping {
            while let Ok(op) = rx.try_recv() {
                batch.push(op);
            }
            if !batch.is_empty() {
                write(&pool, std::mem::take(&mut batch), &stats).await;
            }
            return;
        }
        // Linger briefly so a burst of runners lands in one batch.
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            let room = BATCH - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        write(&pool, std::mem::take(&mut batch), &stats).await;
    }
}

async fn write(pool: &PgPool, ops: Vec<NoTradeOp>, stats: &TraceWriterStats) {
    let (inserts, folds, barriers) = split(ops);
    write_rows(pool, &inserts, &folds, stats).await;
    for done in barriers {
        let _ = done.send(());
    }
}

async fn write_rows(
    pool: &PgPool,
    inserts: &[NoTradeTrace],
    folds: &[Fold],
    stats: &TraceWriterStats,
) {
    if inserts.is_empty() && folds.is_empty() {
        return;
    }
    let mut wait = Duration::from_millis(100);
    loop {
        match traces::write_no_trade_batch(pool, inserts, folds).await {
            Ok(written) => {
                stats
                    .inserted
                    .fetch_add(written.inserted as u64, Ordering::Relaxed);
                stats
                    .folded
                    .fetch_add(written.folded.unsigned_abs(), Ordering::Relaxed);
                if !written.refused.is_empty() {
                    stats
                        .refused
                        .fetch_add(written.refused.len() as u64, Ordering::Relaxed);
                    tracing::warn!(
                        rows = written.refused.len(),
                        "no-trade traces refused: their node no longer holds the bot's lease"
                    );
                }
                return;
            }
            Err(err) => {
                stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %err, rows = inserts.len() + folds.len(),
                    "no-trade trace batch failed; retrying");
                if wait >= GIVE_UP_AFTER {
                    tracing::error!(
                        rows = inserts.len() + folds.len(),
                        "no-trade trace batch lost"
                    );
                    return;
                }
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
}

/// Inserts as they came; folds summed per row and fence (a row folded under two epochs, a
/// runner restarted on this node within one batch, stays two folds, each fenced by its own);
/// barriers to answer after the write.
fn split(ops: Vec<NoTradeOp>) -> (Vec<NoTradeTrace>, Vec<Fold>, Vec<oneshot::Sender<()>>) {
    let mut inserts = Vec::new();
    let mut barriers = Vec::new();
    let mut folds: HashMap<(Uuid, i64), Fold> = HashMap::new();
    for op in ops {
        match op {
            NoTradeOp::Insert(t) => inserts.push(*t),
            NoTradeOp::Fold { id, at, fence } => {
                let e = folds.entry((id, fence.epoch)).or_insert(Fold {
                    id,
                    fence,
                    count: 0,
                    at,
                });
                e.count = e.count.saturating_add(1);
                e.at = e.at.max(at);
            }
            NoTradeOp::Barrier(done) => barriers.push(done),
        }
    }
    (inserts, folds.into_values().collect(), barriers)
}
