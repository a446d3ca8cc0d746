//! The leader's upkeep of the usage events' days (`store::usage_partitions`): today's and the
//! next days' partitions made ahead, days past the retention dropped, at start and every hour.

use std::time::Duration;

use sqlx::PgPool;

use super::ownership::Leadership;
use crate::clock::Clock;
use crate::store::usage_partitions;

#[derive(Debug, Clone)]
pub struct UsageRetention {
    /// Whole UTC days of usage events kept before today (`TRADEPLANE_USAGE_RETENTION_DAYS`).
    pub keep_days: u32,
    /// Between two passes of the leader.
    pub every: Duration,
}

impl Default for UsageRetention {
    fn default() -> Self {
        Self {
            keep_days: 30,
            every: Duration::from_secs(3600),
        }
    }
}

/// Runs a pass whenever this node leads and one is due (at once on taking the lead); a failed
/// pass (a table lock not granted in time) is retried a minute later.
pub async fn run_loop(
    pool: PgPool,
    clock: Clock,
    leadership: Leadership,
    config: UsageRetention,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let poll = config.every.min(Duration::from_secs(5));
    let mut next: Option<tokio::time::Instant> = None;
    loop {
        let now = tokio::time::Instant::now();
        if !leadership.is_leader() {
            next = None;
        } else if next.is_none_or(|due| now >= due) {
            next = Some(
                match usage_partitions::maintain(&pool, clock.now(), config.keep_days).await {
                    Ok(done) => {
                        if done != usage_partitions::Maintained::default() {
                            tracing::info!(?done, "usage events: days made and dropped");
                        }
                        now + config.every
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "usage events upkeep failed; retried in a minute");
                        now + Duration::from_secs(60).min(config.every)
                    }
                },
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => return,
        }
    }
}
