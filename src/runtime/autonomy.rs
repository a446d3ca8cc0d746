//! The autonomy scorer: an actor under Root that scores every bot periodically, a bot at once
//! when its health changes (its breaker moved), and every bot at once when a provider's breaker
//! changes state (the runners' market-data breaker locks every bot while it is OPEN). Evidence comes from Postgres
//! (`store::autonomy_scores::evidence`) and from live runtime state (runner up, ticks vs
//! evaluations, breaker, heartbeat, scheduler, providers); `domain::autonomy::score` turns it
//! into sub-scores, a tier and a breakdown. The tier is enforced: runners read it from the
//! [`TierBook`] on every evaluation.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::json;
use sqlx::{PgPool, types::Json};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::RuntimeHandle;
use crate::domain::{
    autonomy::{Evidence, Score, score},
    breaker::BreakerState,
    risk::AutonomyTier,
    timeframe::Timeframe,
};
use crate::store::{
    autonomy_scores::{self, AutonomyScoreRow},
    system_events::{NewSystemEvent, Severity},
};

/// Every bot's current tier, shared with the runners.
#[derive(Default)]
pub struct TierBook {
    tiers: RwLock<HashMap<Uuid, AutonomyTier>>,
}

impl TierBook {
    pub fn get(&self, bot: Uuid) -> Option<AutonomyTier> {
        self.tiers.read().ok()?.get(&bot).copied()
    }

    /// Sets a tier; returns the previous one.
    pub fn set(&self, bot: Uuid, tier: AutonomyTier) -> Option<AutonomyTier> {
        match self.tiers.write() {
            Ok(mut t) => t.insert(bot, tier),
            Err(p) => p.into_inner().insert(bot, tier),
        }
    }

    pub fn counts(&self) -> HashMap<AutonomyTier, usize> {
        let mut out = HashMap::new();
        if let Ok(t) = self.tiers.read() {
            for tier in t.values() {
                *out.entry(*tier).or_insert(0) += 1;
            }
        }
        out
    }
}

/// The system-wide part of the FULL_AUTONOMY gates (SPEC §7), and the breaker of the
/// market-data provider every runner reads from.
#[derive(Debug, Clone)]
pub struct SystemEvidence {
    pub supervisor_loop_ok: bool,
    pub data_feed_ok: bool,
    pub broker_ok: bool,
    pub heartbeat_timeout_secs: i64,
    /// The breaker of the runners' bar provider (`CLOSED` when none).
    pub feed_breaker_state: BreakerState,
}

#[derive(Debug, Clone)]
pub struct ScorerConfig {
    /// Every bot is re-scored this often.
    pub every: Duration,
    /// Health events are gathered this long before one re-score.
    pub debounce: Duration,
    /// False only in tests that pin a bot's tier by hand (the scorer would overwrite it).
    pub enabled: bool,
}

impl Default for ScorerConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(30),
            debounce: Duration::from_millis(50),
            enabled: true,
        }
    }
}

pub enum ScorerMsg {
    /// Score these bots now (`None`: every bot).
    Recompute(Option<Vec<Uuid>>),
}

pub struct ScorerArgs {
    pub pool: PgPool,
    pub handle: RuntimeHandle,
    pub config: ScorerConfig,
    /// Bots whose health changed (the registry sends `Some(bot)` on breaker changes; the
    /// providers send `None`, "every bot", when a provider breaker changes state).
    pub health: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Option<Uuid>>>>,
}

pub struct Scorer;

pub struct ScorerState {
    enabled: bool,
    pool: PgPool,
    handle: RuntimeHandle,
    timer: ractor::concurrency::JoinHandle<()>,
    forward: tokio::task::JoinHandle<()>,
}

impl Actor for Scorer {
    type Msg = ScorerMsg;
    type State = ScorerState;
    type Arguments = ScorerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ScorerMsg>,
        args: ScorerArgs,
    ) -> Result<ScorerState, ActorProcessingErr> {
        let timer = ractor::time::send_interval(args.config.every, myself.get_cell(), || {
            ScorerMsg::Recompute(None)
        });
        let me = myself.clone();
        let (health, debounce) = (args.health, args.config.debounce);
        // Health events → one re-score of the bots concerned per debounce window.
        let forward = tokio::spawn(async move {
            let mut rx = health.lock().await;
            while let Some(first) = rx.recv().await {
                tokio::time::sleep(debounce).await;
                let mut every = first.is_none();
                let mut bots: Vec<Uuid> = first.into_iter().collect();
                while let Ok(b) = rx.try_recv() {
                    match b {
                        None => every = true,
                        Some(b) if !bots.contains(&b) => bots.push(b),
                        Some(_) => {}
                    }
                }
                let msg = ScorerMsg::Recompute((!every).then_some(bots));
                if me.send_message(msg).is_err() {
                    break;
                }
            }
        });
        let _ = myself.send_message(ScorerMsg::Recompute(None));
        Ok(ScorerState {
            enabled: args.config.enabled,
            pool: args.pool,
            handle: args.handle,
            timer,
            forward,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<ScorerMsg>,
        msg: ScorerMsg,
        state: &mut ScorerState,
    ) -> Result<(), ActorProcessingErr> {
        let ScorerMsg::Recompute(bots) = msg;
        if !state.enabled {
            return Ok(());
        }
        // A failed pass (Postgres down) is retried by the next tick; the scorer stays up.
        if let Err(err) = rescore(&state.pool, &state.handle, bots, Asker::Scorer).await {
            tracing::warn!(error = %err, "autonomy scoring failed");
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ScorerMsg>,
        state: &mut ScorerState,
    ) -> Result<(), ActorProcessingErr> {
        state.timer.abort();
        state.forward.abort();
        Ok(())
    }
}

/// Who asks for a score: the scorer's rounds, or an operator for one bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    Scorer,
    Operator,
}

/// Scores `bots` (or every bot) that this node may score, stores the rows, updates the tier
/// book and reports tier changes. A score reads its runner's live state, so a node scores the
/// bots it owns, and the bots nobody owns when it leads the cluster (or an operator asks); a
/// bot running on another node is scored there. A detached runtime scores every bot.
pub async fn rescore(
    pool: &PgPool,
    rt: &RuntimeHandle,
    bots: Option<Vec<Uuid>>,
    asker: Asker,
) -> Result<Vec<(AutonomyScoreRow, Score)>, sqlx::Error> {
    let now = rt.clock().now();
    let (node, unowned) = rt.ownership().map_or((None, true), |o| {
        (
            Some(o.name().to_owned()),
            asker == Asker::Operator || o.is_leader(),
        )
    });
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT b.id, b.timeframe FROM bots b LEFT JOIN bot_leases l ON l.bot_id = b.id \
         WHERE ($1::uuid[] IS NULL OR b.id = ANY($1)) \
           AND ($2::text IS NULL OR l.node = $2 \
                OR ($3 AND (l.node IS NULL OR l.expires_at < $4)))",
    )
    .bind(bots.as_deref())
    .bind(node)
    .bind(unowned)
    .bind(now)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let (stored, broker_errors) = autonomy_scores::evidence(pool, &ids, now).await?;
    let system = rt.autonomy_system_evidence();
    let mut out = Vec::with_capacity(rows.len());
    for (bot, timeframe) in rows {
        let db = stored.get(&bot).cloned().unwrap_or_default();
        let runner = rt.runner(bot);
        let live = rt.runner_counters(bot);
        let e = Evidence {
            now,
            bar_seconds: timeframe
                .parse::<Timeframe>()
                .map_or(60, Timeframe::seconds),
            bar_reads_24h: db.bar_reads_24h,
            bar_read_errors_24h: db.bar_read_errors_24h,
            last_bar_read_ok_at: db.last_bar_read_ok_at,
            usage_ok_24h: db.usage_ok_24h,
            runner_ticks: live.map_or(0, |c| c.0),
            runner_evaluations: live.map_or(0, |c| c.1),
            traces_24h: db.traces_24h,
            last_decision_at: db.last_decision_at,
            closed_trades_30d: db.closed_trades_30d,
            winning_trades_30d: db.winning_trades_30d,
            realized: db.realized.clone(),
            kills_7d: db.kills_7d,
            risk_blocks_24h: db.risk_blocks_24h,
            orders_7d: db.orders_7d,
            filled_7d: db.filled_7d,
            recorded_7d: db.recorded_7d,
            cancelled_7d: db.cancelled_7d,
            broker_errors_24h: broker_errors,
            fills_total: db.fills_total,
            runner_up: runner.as_ref().is_some_and(|r| r.status.is_live()),
            ever_ran: db.ever_ran || runner.is_some(),
            restarts: db
                .restarts
                .max(runner.as_ref().map_or(0, |r| u64::from(r.restart_count))),
            breaker_state: runner
                .as_ref()
                .map_or(BreakerState::Closed, |r| r.breaker_state),
            breaker_failures: rt.bot_breaker_failures(bot),
            heartbeat_age_secs: runner
                .as_ref()
                .and_then(|r| r.last_heartbeat_at)
                .or(db.last_heartbeat_at)
                .map(|t| (now - t).num_seconds()),
            heartbeat_timeout_secs: system.heartbeat_timeout_secs,
            killed: runner.as_ref().is_some_and(|r| r.kill_reason.is_some()),
            feed_breaker_state: system.feed_breaker_state,
            supervisor_loop_ok: system.supervisor_loop_ok,
            data_feed_ok: system.data_feed_ok,
            broker_ok: system.broker_ok,
        };
        let s = score(&e);
        let row = AutonomyScoreRow {
            bot_id: bot,
            autonomy_score: i32::from(s.autonomy_score),
            data_reliability_score: i32::from(s.data_reliability.score),
            decision_quality_score: i32::from(s.decision_quality.score),
            risk_discipline_score: i32::from(s.risk_discipline.score),
            execution_health_score: i32::from(s.execution_health.score),
            supervisor_trust_score: i32::from(s.supervisor_trust.score),
            autonomy_tier: s.tier,
            breakdown: Json(s.breakdown()),
            last_updated_at: now,
        };
        out.push((row, s));
    }
    let rows: Vec<&AutonomyScoreRow> = out.iter().map(|(row, _)| row).collect();
    autonomy_scores::upsert_many(pool, &rows).await?;
    // The tier book follows what is stored.
    for (row, s) in &out {
        let bot = row.bot_id;
        let before = rt.tiers().set(bot, s.tier);
        if before.is_some_and(|b| b != s.tier) {
            let lowered = before.is_some_and(|b| b > s.tier);
            rt.telemetry().system_event(
                NewSystemEvent::new(
                    if lowered {
                        Severity::Sev2
                    } else {
                        Severity::Info
                    },
                    "AUTONOMY_TIER_CHANGED",
                    format!(
                        "bot {bot}: autonomy tier {} → {} (score {})",
                        before.map_or("none", AutonomyTier::as_str),
                        s.tier.as_str(),
                        s.autonomy_score
                    ),
                )
                .bot(bot)
                .metadata(json!({
                    "from": before.map(AutonomyTier::as_str), "to": s.tier.as_str(),
                    "score": s.autonomy_score,
                    "failed_gates": s.gates.iter().filter(|g| !g.passed).map(|g| &g.gate).collect::<Vec<_>>(),
                })),
            );
        }
    }
    Ok(out)
}
