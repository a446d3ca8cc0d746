//! The database half of `GET /api/system/status`, refreshed in the background every second
//! with a short time box, so the endpoint never waits on Postgres: when the database is down
//! the snapshot goes stale and the status says so at once (`DATABASE_UNAVAILABLE`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use crate::domain::risk::AutonomyTier;

use super::TelemetryHandle;
use crate::store::bot_leases::{self, UnownedBot};
use crate::store::bots::{self as store_bots, KilledBot};
use crate::store::circuit_breakers::{self, ElsewhereBreaker};
use crate::store::integrations::{self as store_integrations, Verification};
use crate::store::reconciliation::MismatchRow;

/// What Postgres said at the last refresh.
#[derive(Debug, Clone)]
pub struct DbSnapshot {
    pub bots: i64,
    /// Bots at stage LIVE (their open breakers are SEV-1).
    pub live_bots: Vec<Uuid>,
    pub verifications: HashMap<String, Verification>,
    /// Bots KILLED, with what they still hold.
    pub killed: Vec<KilledBot>,
    /// Bots that should run but that no node holds now.
    pub unowned: Vec<UnownedBot>,
    /// Active bots (not STOPPED or KILLED) whose strategy needs an LLM.
    pub ai_bots: Vec<Uuid>,
    /// Open broker reconciliation mismatches (each a SEV-1 blocker).
    pub reconciliation: Vec<MismatchRow>,
    /// Latched broker accounts (account daily loss; each a SEV-1 blocker until re-armed).
    pub account_latches: Vec<crate::store::account_risk::LatchRow>,
    /// The names of the bots the mismatches and latches name (blockers name bots by name).
    pub bot_names: HashMap<Uuid, String>,
    /// Bots per stored autonomy tier, in `AutonomyTier::ALL`'s order (never scored: `LOCKED`), as
    /// every node's scorer stored them: a node's own tier book knows only the bots it scores.
    pub tiers: [i64; 4],
    /// LIVE bots whose runner is up (their accounts must be reconciled recently).
    pub live_running: i64,
    /// Each broker account's latest reconciliation run.
    pub reconciliation_runs: Vec<crate::store::reconciliation::RunRow>,
    /// Breakers not CLOSED on the other alive nodes (this node's own are read live).
    pub breakers_elsewhere: Vec<ElsewhereBreaker>,
}

impl DbSnapshot {
    /// A bot's name for a message (its id if the bot is gone).
    pub fn bot_name(&self, id: Uuid) -> String {
        self.bot_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

#[derive(Debug, Default)]
struct State {
    snapshot: Option<(Instant, DbSnapshot)>,
    last_error: Option<String>,
    /// Until when telemetry counts as degraded (it dropped or failed writes recently).
    telemetry_degraded_until: Option<Instant>,
    telemetry_seen: (u64, u64),
}

#[derive(Default)]
pub struct StatusCache {
    state: RwLock<State>,
}

/// The snapshot counts as current for this long; older means Postgres stopped answering.
pub const STALE_AFTER: Duration = Duration::from_secs(3);
const EVERY: Duration = Duration::from_secs(1);
const TIME_BOX: Duration = Duration::from_millis(800);
/// A drop or failed write keeps telemetry DEGRADED for this long.
const TELEMETRY_WINDOW: Duration = Duration::from_secs(60);

/// The database as the status endpoint sees it.
pub enum DbView {
    Current(Box<DbSnapshot>),
    /// No current snapshot: the last error (or "no answer yet").
    Unavailable {
        error: String,
    },
}

impl StatusCache {
    pub fn db(&self) -> DbView {
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        match &s.snapshot {
            Some((at, snap)) if at.elapsed() <= STALE_AFTER => {
                DbView::Current(Box::new(snap.clone()))
            }
            _ => DbView::Unavailable {
                error: s
                    .last_error
                    .as_ref()
                    .map_or_else(|| "no answer from Postgres yet".to_owned(), Clone::clone),
            },
        }
    }

    pub fn telemetry_degraded(&self) -> bool {
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        s.telemetry_degraded_until
            .is_some_and(|until| Instant::now() < until)
    }

    fn note_telemetry(&self, t: &TelemetryHandle) {
        let stats = t.stats();
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        let seen = (stats.dropped, stats.failed_writes);
        if seen != s.telemetry_seen || stats.degraded {
            s.telemetry_degraded_until = Some(Instant::now() + TELEMETRY_WINDOW);
        }
        s.telemetry_seen = seen;
    }

    async fn refresh(&self, pool: &PgPool, now: DateTime<Utc>, node: &ThisNode) {
        let loaded = tokio::time::timeout(TIME_BOX, load(pool, now, node)).await;
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Ok(Ok(snap)) => {
                s.snapshot = Some((Instant::now(), snap));
                s.last_error = None;
            }
            Ok(Err(e)) => s.last_error = Some(e.to_string()),
            Err(_) => {
                s.last_error = Some(format!("no answer within {} ms", TIME_BOX.as_millis()));
            }
        }
    }
}

#[derive(sqlx::FromRow)]
struct BotCounts {
    bots: i64,
    live_bots: Vec<Uuid>,
    live_running: i64,
}

/// The node the cache serves: its name, and the lease TTL past which another node's silence
/// makes it dead.
pub struct ThisNode {
    pub name: String,
    pub lease_ttl: Duration,
}

async fn load(
    pool: &PgPool,
    now: DateTime<Utc>,
    node: &ThisNode,
) -> Result<DbSnapshot, sqlx::Error> {
    let counts: BotCounts = sqlx::query_as(
        "SELECT count(*) AS bots, \
                COALESCE(array_agg(id) FILTER (WHERE stage = 'LIVE'), '{}') AS live_bots, \
                count(*) FILTER (WHERE stage = 'LIVE' \
                    AND status IN ('STARTING', 'RUNNING', 'SUSPENDED', 'RESTARTING')) AS live_running \
         FROM bots",
    )
    .fetch_one(pool)
    .await?;
    // Per stored tier (`autonomy_scores_tier_idx`); a bot never scored counts LOCKED.
    let scored: Vec<(String, i64)> =
        sqlx::query_as("SELECT autonomy_tier, count(*) FROM autonomy_scores GROUP BY 1")
            .fetch_all(pool)
            .await?;
    let mut tiers = [0i64; 4];
    for (tier, n) in &scored {
        if let Some(i) = AutonomyTier::ALL.iter().position(|t| t.as_str() == tier) {
            tiers[i] += n;
        }
    }
    tiers[0] += counts.bots - scored.iter().map(|(_, n)| n).sum::<i64>();
    let reconciliation = crate::store::reconciliation::open(pool).await?;
    let account_latches = crate::store::account_risk::open_latches(pool).await?;
    let named: Vec<Uuid> = reconciliation
        .iter()
        .flat_map(|m| m.bot_ids.iter())
        .chain(account_latches.iter().flat_map(|l| l.bot_ids.iter()))
        .copied()
        .collect();
    Ok(DbSnapshot {
        bots: counts.bots,
        live_bots: counts.live_bots,
        verifications: store_integrations::verifications(pool).await?,
        killed: store_bots::killed_exposure(pool).await?,
        unowned: bot_leases::unowned(pool, now).await?,
        ai_bots: ai_bots(pool).await?,
        bot_names: store_bots::names(pool, &named).await?,
        reconciliation,
        account_latches,
        tiers,
        live_running: counts.live_running,
        reconciliation_runs: crate::store::reconciliation::runs(pool).await?,
        breakers_elsewhere: circuit_breakers::elsewhere(pool, &node.name, now, node.lease_ttl)
            .await?,
    })
}

/// Active bots whose strategy needs an LLM (a news gate among its filters, or a kind that
/// does). A strategy that cannot be read counts as needing
/// one (unknown is not "no").
async fn ai_bots(pool: &PgPool) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid, serde_json::Value)> =
        sqlx::query_as("SELECT id, strategy FROM bots WHERE status NOT IN ('STOPPED', 'KILLED')")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, strategy)| {
            crate::domain::news::news_gate_of(strategy).is_some()
                || serde_json::from_value::<crate::domain::strategy_config::StrategyConfig>(
                    strategy.clone(),
                )
                .map_or(true, |s| s.needs_ai())
        })
        .map(|(id, _)| id)
        .collect())
}

/// Refreshes `cache` until `stop` turns true.
pub async fn run(
    cache: Arc<StatusCache>,
    pool: PgPool,
    telemetry: TelemetryHandle,
    node: ThisNode,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        cache.refresh(&pool, telemetry.clock().now(), &node).await;
        cache.note_telemetry(&telemetry);
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
