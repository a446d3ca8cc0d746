//! One shared database-readiness signal for the runners.
//!
//! During a Postgres outage every runner would otherwise fail its evaluation (or its start),
//! be restarted, fail again and burn its breaker: a restart storm that ends in every bot in
//! ERROR (KILLED when LIVE) for an outage no runner caused. Instead the first runner that sees
//! the database unreachable (`store::error_code` = `DATABASE_UNAVAILABLE`) marks the signal
//! down; one probe task (`SELECT 1`, every `probe_every`) marks it up again. While it is down
//! runners skip their ticks (counted in `db_waits`) and start without loading, so nothing
//! restarts and no breaker counts the outage; the first tick after recovery (re)loads the bot
//! from the ledger and evaluates.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use crate::error_code::ErrorCode;

/// Is the database reachable, as far as the runners know.
#[derive(Clone)]
pub struct DbReadiness {
    inner: Arc<Inner>,
}

struct Inner {
    ready: watch::Sender<bool>,
    probing: AtomicBool,
    /// Ticks runners skipped while the database was down.
    waits: AtomicU64,
    /// Outages seen (down transitions).
    outages: AtomicU64,
    probe_every: Duration,
}

impl DbReadiness {
    pub fn new(probe_every: Duration) -> Self {
        DbReadiness {
            inner: Arc::new(Inner {
                ready: watch::Sender::new(true),
                probing: AtomicBool::new(false),
                waits: AtomicU64::new(0),
                outages: AtomicU64::new(0),
                probe_every,
            }),
        }
    }

    pub fn is_ready(&self) -> bool {
        *self.inner.ready.borrow()
    }

    /// Changes of the signal (true: ready).
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.inner.ready.subscribe()
    }

    /// A runner skipped a tick because the database is down.
    pub fn count_wait(&self) {
        self.inner.waits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn waits(&self) -> u64 {
        self.inner.waits.load(Ordering::Relaxed)
    }

    pub fn outages(&self) -> u64 {
        self.inner.outages.load(Ordering::Relaxed)
    }

    /// Whether `err` means the database is unreachable; if so the signal goes down and the
    /// probe starts (once, whoever reports first).
    pub fn check(&self, pool: &PgPool, err: &sqlx::Error) -> bool {
        if crate::store::error_code(err) != ErrorCode::DatabaseUnavailable {
            return false;
        }
        if self.inner.ready.send_replace(false) {
            self.inner.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %err, "database unreachable: runners wait for it");
        }
        if !self.inner.probing.swap(true, Ordering::AcqRel) {
            let me = self.clone();
            let pool = pool.clone();
            tokio::spawn(async move { me.probe(pool).await });
        }
        true
    }

    async fn probe(self, pool: PgPool) {
        let started = std::time::Instant::now();
        loop {
            tokio::time::sleep(self.inner.probe_every).await;
            let answered = tokio::time::timeout(
                Duration::from_secs(2),
                sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&pool),
            )
            .await;
            if matches!(answered, Ok(Ok(_))) {
                break;
            }
        }
        // Probing ends before the signal rises, so a failure reported right after restarts it.
        self.inner.probing.store(false, Ordering::Release);
        self.inner.ready.send_replace(true);
        tracing::info!(
            outage_ms = started.elapsed().as_millis() as u64,
            "database reachable again: runners resume"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_unavailability_lowers_the_signal() {
        let ready = DbReadiness::new(Duration::from_millis(10));
        // A lazily connecting pool to nowhere: the probe never succeeds while the test runs.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(50))
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        assert!(!ready.check(&pool, &sqlx::Error::RowNotFound));
        assert!(ready.is_ready());
        assert!(ready.check(&pool, &sqlx::Error::PoolTimedOut));
        assert!(ready.check(&pool, &sqlx::Error::PoolTimedOut));
        assert!(!ready.is_ready());
        assert_eq!(ready.outages(), 1, "one outage however many report it");
    }
}
