//! One bot's trading loop (DESIGN.md "One evaluation"), driven by its BotRunner on every bar:
//! read bars through the feed → fill a working PAPER order at the new bar's open → evaluate the
//! strategy and every gate (`domain::evaluation`) → end in exactly one decision trace (booked
//! with its order, once per idempotency key) or one no-trade trace (folded when identical to
//! the previous one) → fire kill triggers. Every trace's variables name the vendor and
//! contract of the bars it was evaluated on (`bar_source`, `bar_contract`, and
//! `mixed_sources`/`mixed_contracts` for a window holding more than one; `domain::feed_source`).
//!
//! The bookkeeping is the pure `domain::engine` (the backtester drives the same one); this
//! runner feeds it the bars it reads and the boundary, and performs its effects: order and
//! fill bookings, traces, cancels, kills. The engine's state is rebuilt from Postgres when a
//! runner starts: the position is replayed from the bot's fills, the working order is picked
//! up again, the order-rate window is read back, and folding resumes into the latest
//! no-trade row.

mod booking;
pub mod live;
mod load;
mod origin;
mod roll;

use load::working_order;
pub use load::{LoadError, Loaded};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::RuntimeHandle;
use super::feed::{BarFeed, FeedRequest};
use super::trace_writer::TraceSender;
use crate::bus::EventBus;
use crate::clock::Clock;
use crate::domain::{
    bars::Bar,
    calendar::HolidayCalendar,
    contracts::Contract,
    engine::{Effect, Engine, Event, Tick},
    execution::SimParams,
    feed_source::{BarOrigin, WindowOrigin, window_origin},
    positions::Position,
    risk::{AutonomyTier, KillTrigger, Stage},
    strategy_filters::FilterData,
};
use crate::integrations::{bars, http::CallContext};
use crate::observability::{self, EvaluationOutcome, otlp};
use crate::store::{
    bot_leases::Fence,
    orders::{self, Order},
    system_events::{NewSystemEvent, Severity},
};
use crate::trace::TraceId;

/// What every runner shares.
pub struct Trading {
    pub pool: PgPool,
    /// The connections LIVE orders are written ahead on (`store::live_lane`).
    pub live_lane: PgPool,
    pub feed: BarFeed,
    pub calendar: Arc<HolidayCalendar>,
    pub sim: SimParams,
    pub traces: TraceSender,
    /// PAPER and SHADOW orders and fills, committed in batches (`paper_writer`).
    pub paper: super::paper_writer::PaperWriter,
    /// Mirror of the global kill switch (`settings`), set by the API, restored on start and
    /// refreshed by every ownership round (a switch flipped through another node).
    pub kill_switch: AtomicBool,
    /// `settings.kill_switch_changed_at` of the value mirrored (as `trading_switch_at`).
    pub kill_switch_at: std::sync::Mutex<Option<DateTime<Utc>>>,
    /// Mirror of the global trading switch (`settings.trading_enabled`), set by the API,
    /// restored on start and refreshed by every ownership round (a switch flipped through
    /// another node): every evaluation reads it (no database round trip per bar).
    pub trading_switch: AtomicBool,
    /// `settings.updated_at` of the value mirrored: an older read never overwrites a newer one.
    pub trading_switch_at: std::sync::Mutex<Option<DateTime<Utc>>>,
    /// Turning trading off also cancels the working LIVE orders it stops.
    pub trading_off_cancels: bool,
    /// Ticks runners skipped because a newer one was already queued (they fell behind).
    pub skipped_ticks: AtomicU64,
    /// Evaluations completed (each left exactly one trace, or queued one for the writer).
    pub evaluations: AtomicU64,
    /// Live events: a summary of every new trace (folds are not repeated).
    pub bus: EventBus,
    /// Stamps orders and traces (the bar being evaluated is the tick's boundary).
    pub clock: Clock,
    /// This node's leases: a runner acts only under its bot's fence.
    pub ownership: Arc<super::ownership::Ownership>,
    /// Whether Postgres is reachable: runners wait on it instead of failing (`db_ready`).
    pub db: super::db_ready::DbReadiness,
    /// The broker sessions LIVE orders go to (`brokers`).
    pub brokers: Arc<super::brokers::Brokers>,
    /// Broker reconciliation: a LIVE runner's account is reconciled before its first order
    /// on this node, and every LIVE evaluation reads whether a mismatch names its bot.
    pub reconciler: Arc<super::reconciliation::Reconciler>,
    /// The stored data the bots' entry filters read (economic calendar, macro series),
    /// refreshed off the hot path; every evaluation takes the current snapshot.
    pub filter_data: std::sync::RwLock<Arc<FilterData>>,
    /// What a resume or takeover batch read for the runners it is about to start (taken by
    /// each runner's first load; what is left is dropped when the batch ends).
    pub preloaded: std::sync::Mutex<HashMap<Uuid, Loaded>>,
    /// Delivers the scheduler's bar ticks to the runners (one task, not one per runner).
    pub tick_fanout: super::bots::TickFanout,
}

impl Trading {
    fn preloaded(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Loaded>> {
        self.preloaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands `loaded` to the runners starting next (see [`Trading::preloaded`]).
    pub fn preload(&self, loaded: Vec<Loaded>) {
        self.preloaded()
            .extend(loaded.into_iter().map(|l| (l.bot.id, l)));
    }

    /// Drops what the runners of `bots` did not take.
    pub fn forget_preloaded(&self, bots: &[Uuid]) {
        let mut map = self.preloaded();
        for bot in bots {
            map.remove(bot);
        }
    }

    fn take_preloaded(&self, bot: Uuid) -> Option<Loaded> {
        self.preloaded().remove(&bot)
    }

    /// The filter data evaluations read now (an `Arc` clone).
    pub fn filter_data(&self) -> Arc<FilterData> {
        self.filter_data
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces what evaluations read from their next tick on.
    pub fn set_filter_data(&self, data: FilterData) {
        *self
            .filter_data
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(data);
    }
}

/// Counters of the trading loop, for status and the load figures.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
pub struct TradingStats {
    pub evaluations: u64,
    pub skipped_ticks: u64,
    pub no_trade_rows_inserted: u64,
    pub no_trade_folds: u64,
    pub trace_batches_failed: u64,
    /// No-trade ops the database refused as stale (their node had lost the bot).
    pub no_trade_refused: u64,
    /// PAPER and SHADOW orders and fills handed to the group commit, its transactions, and
    /// the writes it left to be written alone (`paper_writer`).
    pub paper_writes: u64,
    pub paper_batches: u64,
    pub paper_alone: u64,
}

impl Trading {
    pub fn stats(&self) -> TradingStats {
        let (s, p) = (&self.traces.stats, &self.paper.stats);
        TradingStats {
            evaluations: self.evaluations.load(Ordering::Relaxed),
            skipped_ticks: self.skipped_ticks.load(Ordering::Relaxed),
            no_trade_rows_inserted: s.inserted.load(Ordering::Relaxed),
            no_trade_folds: s.folded.load(Ordering::Relaxed),
            trace_batches_failed: s.failed_batches.load(Ordering::Relaxed),
            no_trade_refused: s.refused.load(Ordering::Relaxed),
            paper_writes: p.writes.load(Ordering::Relaxed),
            paper_batches: p.batches.load(Ordering::Relaxed),
            paper_alone: p.alone.load(Ordering::Relaxed),
        }
    }
}

/// The tier of a bot the autonomy scorer has not scored yet (it scores every bot when the
/// runtime starts and a new one within its period): the lowest tier that may trade at all,
/// PAPER only (SHADOW and LIVE need LIMITED_AUTONOMY).
pub const UNSCORED_TIER: AutonomyTier = AutonomyTier::Supervised;

/// What one evaluation ended in (for the runner's status and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Decided,
    Suppressed { gate_blocked: bool },
    Killed,
}

pub struct BotEvaluator {
    bot_id: Uuid,
    run_id: Uuid,
    engine: Engine,
    /// The stored row of the engine's working order (to book its fill).
    working: Option<Order>,
    /// Latest no-trade row, while the engine folds into it.
    fold_id: Option<Uuid>,
    /// The tier of the evaluation in progress (recorded in its risk snapshot).
    tier: AutonomyTier,
    /// Where each bar handed to the engine came from (vendor, contract), by `ts_open`.
    origins: BTreeMap<DateTime<Utc>, BarOrigin>,
    /// The origin variables of the latest no-trade row: a new origin starts a new row.
    fold_origin: Option<Value>,
    /// The origin variables of the window being evaluated (added to its trace's variables).
    origin: Option<Value>,
    /// `origin` before it became JSON.
    window_origin: Option<WindowOrigin>,
    /// The contract of the newest bar the previous evaluation read (for the roll marker).
    contract: Option<Contract>,
    /// The contract of a position left past its roll that an event has already named.
    past_roll_named: Option<Contract>,
    /// The contract whose stored last bar was looked up for a restored position (once).
    stored_price_read: Option<Contract>,
    /// LIVE: its broker account was reconciled on this node (before its first order).
    reconciled: bool,
    /// LIVE: that first reconciliation, run beside the runner (paced broker reads can take
    /// seconds; awaited inside the evaluation they silenced the heartbeat until the runner
    /// was killed as stuck).
    first_reconciliation: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl BotEvaluator {
    pub fn position(&self) -> &Position {
        self.engine.position()
    }

    /// A LIVE order of the bot is open at its broker: its fills are waited for.
    pub fn awaits_live_fill(&self) -> bool {
        self.working
            .as_ref()
            .is_some_and(|w| w.stage == Stage::Live)
    }

    /// The broker's stream reported an order or fill change: the open LIVE orders are synced
    /// now (fills booked, the engine's position and working order updated), as an evaluation
    /// would first; nothing else of an evaluation runs. Every write carries `fence`.
    pub async fn on_broker_update(
        &mut self,
        trading: &Trading,
        fence: &Fence,
    ) -> Result<(), sqlx::Error> {
        if self.awaits_live_fill() {
            self.sync_live(trading, fence).await?;
        }
        Ok(())
    }

    /// One evaluation for the bar that closed at `boundary`. Every write it makes carries
    /// `fence` (this node's lease on the bot).
    pub async fn on_bar(
        &mut self,
        trading: &Trading,
        rt: &RuntimeHandle,
        boundary: DateTime<Utc>,
        fence: &Fence,
    ) -> Result<Outcome, sqlx::Error> {
        let trace = TraceId::generate();
        let span = otlp::enabled().then(|| (trace.clone(), trading.clock.now()));
        let result = trace
            .clone()
            .scope(Box::pin(self.evaluate(trading, rt, boundary, trace, fence)))
            .await;
        let label = result.as_ref().ok().map(|outcome| match outcome {
            Outcome::Decided => EvaluationOutcome::Decided,
            Outcome::Suppressed { gate_blocked: true } => EvaluationOutcome::Blocked,
            Outcome::Suppressed {
                gate_blocked: false,
            } => EvaluationOutcome::NoTrade,
            Outcome::Killed => EvaluationOutcome::Killed,
        });
        if let Some((trace, start)) = span {
            otlp::record(otlp::Span {
                trace_id: trace.as_str().to_owned(),
                name: "bot.evaluation".to_owned(),
                kind: otlp::SpanKind::Internal,
                start,
                end: trading.clock.now().max(start),
                error: label.is_none(),
                attributes: vec![
                    (
                        "tradeplane.bot_id",
                        otlp::Attr::Str(self.bot_id.to_string()),
                    ),
                    (
                        "tradeplane.bar_boundary",
                        otlp::Attr::Str(boundary.to_rfc3339()),
                    ),
                    (
                        "tradeplane.outcome",
                        otlp::Attr::Str(
                            label.map_or("error", EvaluationOutcome::as_str).to_owned(),
                        ),
                    ),
                ],
            });
        }
        let outcome = result?;
        trading.evaluations.fetch_add(1, Ordering::Relaxed);
        if let Some(label) = label {
            observability::evaluation(label);
        }
        Ok(outcome)
    }

    async fn evaluate(
        &mut self,
        trading: &Trading,
        rt: &RuntimeHandle,
        now: DateTime<Utc>,
        trace: TraceId,
        fence: &Fence,
    ) -> Result<Outcome, sqlx::Error> {
        let s = self.engine.settings();
        let ctx = CallContext {
            bot_id: Some(self.bot_id),
            run_id: Some(self.run_id),
        };
        if let Some(route) = bars::feed_route(&rt.integrations()) {
            let request = FeedRequest {
                route,
                instrument: s.spec.symbol,
                timeframe: s.timeframe,
                until: now,
                need: self.engine.bars_needed(),
                ctx,
            };
            match trading.feed.read(rt, &trading.calendar, &request).await {
                Ok(read) => {
                    self.price_restored_position(trading, read.contract, &trace, fence)
                        .await?;
                    let origin = BarOrigin {
                        provider: read.provider,
                        contract: read.contract,
                    };
                    for bar in read.bars {
                        self.origins.insert(bar.ts_open, origin);
                        // A bar of another contract (the roll) starts the engine's window anew.
                        self.feed_bar(trading, bar, read.contract, &trace, fence)
                            .await?;
                    }
                }
                // Keep the last bars: the freshness gate says how old they are.
                Err(err) => tracing::debug!(bot = %self.bot_id, error = %err, "bar read failed"),
            }
            // The engine keeps at most 4 windows of bars; so do the origins.
            let keep = self.engine.bars_needed() * 4;
            while self.origins.len() > keep {
                self.origins.pop_first();
            }
        }
        let live = self.engine.settings().stage == Stage::Live;
        if live {
            self.sync_live(trading, fence).await?;
        }
        let reconciliation_clean = !live || self.reconciliation_clean(trading).await;
        let account_view = if live {
            // At the evaluation's boundary, as every other gate: its marks are the bars the
            // evaluation reads.
            match super::account_risk::gate_view(
                &trading.pool,
                &trading.brokers,
                &trading.calendar,
                now,
            )
            .await
            {
                Some((view, event)) => {
                    if let Some(event) = event {
                        rt.telemetry().system_event(event.bot(self.bot_id));
                    }
                    Some(view)
                }
                None => None,
            }
        } else {
            None
        };
        self.engine.set_account_risk(account_view);
        let tick = Tick {
            now,
            tier: rt.tiers().get(self.bot_id).unwrap_or(UNSCORED_TIER),
            trading_switch_on: trading.trading_switch.load(Ordering::Acquire),
            kill_switch_active: trading.kill_switch.load(Ordering::Acquire),
            breaker_open: rt.bot_breaker_open(self.bot_id),
            reconciliation_clean,
            broker_ready: trading.brokers.live_ready(),
        };
        self.tier = tick.tier;
        self.engine.set_filter_data(trading.filter_data());
        self.engine.set_news(rt.news_snapshot());
        let effects = self.engine.handle(Event::Clock(tick));
        let mut origin = window_origin(
            self.engine
                .window()
                .iter()
                .filter_map(|b| self.origins.get(&b.ts_open)),
        );
        if let Some(o) = &mut origin {
            o.mark_roll(self.contract);
            self.contract = Some(o.bar_contract);
        }
        // As JSON only when it changed (a new vendor or contract, a roll marker).
        if origin != self.window_origin {
            self.origin = origin.as_ref().map(|o| json!(o));
            self.window_origin = origin;
        }
        let (outcome, kills) = self.perform(trading, effects, &trace, fence).await?;
        if !matches!(outcome, Some(Outcome::Decided)) {
            self.name_position_past_roll(rt);
        }
        if let Some(kills) = kills {
            let reason = kills
                .iter()
                .map(|k| k.reason_human.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            rt.telemetry().system_event(
                NewSystemEvent::new(
                    Severity::Sev1,
                    "RISK_KILL_TRIGGER",
                    format!("bot {}: {reason}", self.bot_id),
                )
                .bot(self.bot_id)
                .metadata(json!({ "kill_triggers": kills })),
            );
            rt.kill(self.bot_id, &reason);
            return Ok(Outcome::Killed);
        }
        Ok(outcome.unwrap_or(Outcome::Suppressed {
            gate_blocked: false,
        }))
    }

    /// Hands one bar of `contract` to the engine and performs what it yields. Most bars of a
    /// window were seen at the previous boundaries and yield nothing: no `perform` then.
    async fn feed_bar(
        &mut self,
        trading: &Trading,
        bar: Bar,
        contract: Contract,
        trace: &TraceId,
        fence: &Fence,
    ) -> Result<(), sqlx::Error> {
        let effects = self.engine.handle(Event::Bar { bar, contract });
        if !effects.is_empty() {
            self.perform(trading, effects, trace, fence).await?;
        }
        Ok(())
    }

    /// Performs the engine's effects (and those of the events they report back), in order.
    /// Returns what the evaluation ended in and the kill triggers, if any.
    async fn perform(
        &mut self,
        trading: &Trading,
        effects: Vec<Effect>,
        trace: &TraceId,
        fence: &Fence,
    ) -> Result<(Option<Outcome>, Option<Vec<KillTrigger>>), sqlx::Error> {
        let mut queue: VecDeque<Effect> = effects.into();
        let (mut outcome, mut kills) = (None, None);
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Fill { order_id, fill } => {
                    self.book_fill(trading, order_id, fill, fence).await?;
                }
                Effect::Cancel { order_id, reason } => {
                    orders::cancel(&trading.pool, fence, order_id, &reason, trading.clock.now())
                        .await?;
                    self.working = None;
                }
                Effect::Decision(d) => {
                    let (o, update) = self.place(trading, d, trace, fence).await?;
                    outcome = Some(o);
                    queue.extend(self.engine.handle(Event::OrderUpdate(update)));
                }
                Effect::NoTrade { no_trade, folded } => {
                    let gate_blocked = no_trade.suppression_type == "GATE_BLOCKED";
                    observability::no_trade(&no_trade.reason_code);
                    self.suppress(trading, &no_trade, folded, trace, fence)
                        .await;
                    outcome.get_or_insert(Outcome::Suppressed { gate_blocked });
                }
                // The runner keeps the full detail (it writes traces); counted all the same.
                Effect::NoTradeCode {
                    suppression_type,
                    reason_code,
                } => {
                    observability::no_trade(&reason_code);
                    let gate_blocked = suppression_type == "GATE_BLOCKED";
                    outcome.get_or_insert(Outcome::Suppressed { gate_blocked });
                }
                Effect::Kill(k) => kills = Some(k),
            }
        }
        Ok((outcome, kills))
    }
}
