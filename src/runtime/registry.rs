//! The runner registry: in-memory state of every bot runner (status, heartbeat, breaker, kill
//! latch) shared by the supervision sink, the runners and the API, and its mirror in Postgres
//! (`bot_instances`, `circuit_breakers`) written in batches by one background task.
//!
//! Supervision code only touches the in-memory state (short std mutex sections, no await) and
//! marks rows dirty; the writer task does every database round trip. Each bot's breaker is a
//! [`SharedBreaker`]: its actor (a child of the Bots supervisor from the bot's first start on)
//! publishes every change, which marks the bot's breaker row dirty itself.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::{
    Mutex as AsyncMutex, MutexGuard as AsyncMutexGuard, Notify, mpsc::UnboundedSender, watch,
};
use tradeplane_actors::{
    BreakerConfig, BreakerReading, BreakerSnapshot, BreakerState, CircuitBreaker, Clock, Heartbeat,
    Permit, Report, SharedBreaker, SharedSink,
};
use utoipa::ToSchema;
use uuid::Uuid;

use super::events::{bot_scope, trace_capture};
use super::telemetry::TelemetryHandle;
use crate::domain::{bot::BotStatus, breaker, timeframe::Timeframe};
use crate::store::bot_instances::{self, InstanceUpsert};
use crate::store::circuit_breakers::{self, BreakerSave};
use crate::store::system_events::{NewSystemEvent, Severity};

/// An actor breaker's state under its SPEC §2 name.
impl From<BreakerState> for breaker::BreakerState {
    fn from(s: BreakerState) -> Self {
        match s {
            BreakerState::Closed => breaker::BreakerState::Closed,
            BreakerState::Open => breaker::BreakerState::Open,
            BreakerState::HalfOpen => breaker::BreakerState::HalfOpen,
        }
    }
}

/// How a runner is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunnerOptions {
    pub timeframe: Timeframe,
    /// A LIVE bot: an opening breaker is a kill (SPEC §2), not just a refused restart.
    pub live: bool,
}

/// Per-bot state the runner itself touches (atomics only).
#[derive(Debug)]
pub struct RunnerShared {
    pub heartbeat: Heartbeat,
    /// Wall time of the last beat (what `bot_instances` shows), from the runtime's clock.
    clock: Clock,
    last_beat_ms: AtomicI64,
    muted: AtomicBool,
    stuck_strikes: AtomicU32,
    ticks: AtomicU64,
    evaluations: AtomicU64,
}

impl RunnerShared {
    fn new(clock: Clock) -> Self {
        Self {
            heartbeat: Heartbeat::new(),
            clock,
            last_beat_ms: AtomicI64::new(0),
            muted: AtomicBool::new(false),
            stuck_strikes: AtomicU32::new(0),
            ticks: AtomicU64::new(0),
            evaluations: AtomicU64::new(0),
        }
    }

    /// The runner is alive (ignored while muted by fault injection).
    pub fn beat(&self) {
        if self.muted.load(Ordering::Relaxed) {
            return;
        }
        self.heartbeat.beat();
        self.last_beat_ms
            .store(self.clock.now().timestamp_millis(), Ordering::Relaxed);
        self.stuck_strikes.store(0, Ordering::Relaxed);
    }

    pub fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
    }

    /// One evaluation completed (its trace written or queued).
    pub fn evaluated(&self) {
        self.evaluations.fetch_add(1, Ordering::Relaxed);
    }

    /// `(ticks received, evaluations completed)` since the bot's first start in this process.
    pub fn counters(&self) -> (u64, u64) {
        (
            self.ticks.load(Ordering::Relaxed),
            self.evaluations.load(Ordering::Relaxed),
        )
    }

    /// One more consecutive heartbeat timeout; returns the count.
    pub fn stuck_strikes_add(&self) -> u32 {
        self.stuck_strikes.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn reset_stuck(&self) {
        self.stuck_strikes.store(0, Ordering::Relaxed);
    }

    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }

    fn last_beat(&self) -> Option<DateTime<Utc>> {
        match self.last_beat_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }
}

pub struct Slot {
    pub bot_id: Uuid,
    pub options: Option<RunnerOptions>,
    pub shared: Arc<RunnerShared>,
    /// Never used while the slots lock is held: its reports may run policy that takes it.
    pub breaker: Arc<SharedBreaker>,
    /// The breaker permit of the current instance; its outcome is recorded on failure or on
    /// its first healthy tick.
    pub permit: Option<Permit>,
    pub status: BotStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub restart_count: u32,
    pub last_error: Option<String>,
    /// KILLED latch reason; only a re-arm clears it.
    pub kill: Option<String>,
    /// Restarts refused because the breaker is open; cleared by the next start.
    pub refused: bool,
    flushed_beat: Option<DateTime<Utc>>,
    /// The status last published on the live bus.
    published: BotStatus,
}

impl Slot {
    /// Killed or refused: supervision events must not bring the status back to RUNNING.
    pub fn held(&self) -> bool {
        self.kill.is_some() || self.refused
    }
}

/// What the API shows of one runner.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunnerSnapshot {
    pub bot_id: Uuid,
    pub status: BotStatus,
    pub timeframe: Option<Timeframe>,
    pub live: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub restart_count: u32,
    pub last_error: Option<String>,
    pub kill_reason: Option<String>,
    pub breaker_state: breaker::BreakerState,
    pub ticks: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BreakerView {
    pub scope: String,
    pub state: breaker::BreakerState,
    pub failures_in_window: usize,
    /// When it opened (set while `OPEN`, null otherwise).
    pub opened_at: Option<DateTime<Utc>>,
}

impl BreakerView {
    pub fn of(scope: String, reading: &BreakerReading) -> Self {
        let state: breaker::BreakerState = reading.state().into();
        BreakerView {
            scope,
            state,
            failures_in_window: reading.failures_in_window(),
            opened_at: reading
                .snapshot
                .opened_at_ms
                .filter(|_| state == breaker::BreakerState::Open)
                .and_then(|ms| DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)),
        }
    }
}

/// Bot breaker rows to write, and who to tell of a change; shared with the breakers, which
/// report their own changes.
#[derive(Clone, Default)]
struct BreakerMarks {
    dirty: Arc<Mutex<HashSet<Uuid>>>,
    /// Wakes the writer (for instances and heartbeats too).
    notify: Arc<Notify>,
    /// The autonomy scorer, which re-scores the bot.
    health_watch: Arc<OnceLock<UnboundedSender<Option<Uuid>>>>,
}

impl BreakerMarks {
    fn mark(&self, bot_id: Uuid) {
        lock(&self.dirty).insert(bot_id);
        self.notify.notify_one();
        if let Some(tx) = self.health_watch.get() {
            let _ = tx.send(Some(bot_id));
        }
    }
}

pub struct Registry {
    pub node: String,
    slots: Mutex<HashMap<Uuid, Slot>>,
    dirty_bots: Mutex<HashSet<Uuid>>,
    breaker_marks: BreakerMarks,
    heartbeat_flush: AtomicBool,
    /// Held by the writer for a whole pass (it reads slot statuses, then mirrors them onto
    /// `bots.status` after awaiting Postgres) and by every other writer of `bots.status`
    /// ([`Registry::status_turn`]): a pass that read a slot before an operator changed it has
    /// landed before the operator's write, never after it.
    status_writes: AsyncMutex<()>,
    breaker_config: BreakerConfig,
    clock: Clock,
    breaker_sink: SharedSink,
    pub telemetry: TelemetryHandle,
    /// Kills the runtime decides on its own, for the removal of their risk (`safety`).
    kills: OnceLock<UnboundedSender<(Uuid, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    pub fn new(
        node: String,
        breaker_config: BreakerConfig,
        clock: Clock,
        breaker_sink: SharedSink,
        telemetry: TelemetryHandle,
    ) -> Self {
        Self {
            node,
            slots: Mutex::new(HashMap::new()),
            dirty_bots: Mutex::new(HashSet::new()),
            breaker_marks: BreakerMarks::default(),
            heartbeat_flush: AtomicBool::new(false),
            status_writes: AsyncMutex::new(()),
            breaker_config,
            clock,
            breaker_sink,
            telemetry,
            kills: OnceLock::new(),
        }
    }

    /// Every kill latched by [`Registry::latch_kill`] from now on is sent to `tx` (bot,
    /// reason), whose receiver removes the bot's risk.
    pub fn watch_kills(&self, tx: UnboundedSender<(Uuid, String)>) {
        let _ = self.kills.set(tx);
    }

    /// The runtime's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The turn to write `bots.status` outside the writer, taken after changing the slot: it
    /// waits out a writer pass that may hold the slot's old status, so the mirror cannot put
    /// that status back over the new one. Hold it only for the write.
    pub async fn status_turn(&self) -> AsyncMutexGuard<'_, ()> {
        self.status_writes.lock().await
    }

    /// Reports every breaker change of a bot to `tx` (as `Some(bot)`) from now on.
    pub fn watch_health(&self, tx: UnboundedSender<Option<Uuid>>) {
        let _ = self.breaker_marks.health_watch.set(tx);
    }

    /// Failures inside the bot's breaker window.
    pub fn breaker_failures(&self, bot_id: Uuid) -> u64 {
        lock(&self.slots).get(&bot_id).map_or(0, |s| {
            u64::try_from(s.breaker.failures_in_window()).unwrap_or(u64::MAX)
        })
    }

    /// The bot's breaker, if the registry knows the bot.
    pub fn breaker(&self, bot_id: Uuid) -> Option<Arc<SharedBreaker>> {
        lock(&self.slots).get(&bot_id).map(|s| s.breaker.clone())
    }

    pub fn runner_counters(&self, bot_id: Uuid) -> Option<(u64, u64)> {
        lock(&self.slots).get(&bot_id).map(|s| s.shared.counters())
    }

    /// A CLOSED breaker for the bot.
    fn fresh_breaker(&self, bot_id: Uuid) -> CircuitBreaker {
        CircuitBreaker::new(
            bot_scope(bot_id),
            self.breaker_config,
            self.clock.clone(),
            self.breaker_sink.clone(),
        )
    }

    fn new_slot(&self, bot_id: Uuid, breaker: CircuitBreaker) -> Slot {
        let marks = self.breaker_marks.clone();
        Slot {
            bot_id,
            options: None,
            shared: Arc::new(RunnerShared::new(self.clock.clone())),
            breaker: SharedBreaker::new(
                breaker,
                Box::new(move |_| marks.mark(bot_id)),
                Some(trace_capture()),
            ),
            permit: None,
            status: BotStatus::Stopped,
            started_at: None,
            restart_count: 0,
            last_error: None,
            kill: None,
            refused: false,
            flushed_beat: None,
            published: BotStatus::Stopped,
        }
    }

    /// Runs `f` on the slots (creating none). Never await inside.
    pub fn with_slots<R>(&self, f: impl FnOnce(&mut HashMap<Uuid, Slot>) -> R) -> R {
        f(&mut lock(&self.slots))
    }

    /// Runs `f` on one bot's slot, creating it (STOPPED, fresh breaker) if absent.
    pub fn with_slot<R>(&self, bot_id: Uuid, f: impl FnOnce(&mut Slot) -> R) -> R {
        let mut slots = lock(&self.slots);
        let slot = slots
            .entry(bot_id)
            .or_insert_with(|| self.new_slot(bot_id, self.fresh_breaker(bot_id)));
        f(slot)
    }

    /// RUNNING ⇄ SUSPENDED (running but gated, SPEC §2) after an evaluation; other states stay.
    pub fn set_gated(&self, bot_id: Uuid, gated: bool) {
        let changed = self.with_slot(bot_id, |s| match (s.status, gated) {
            (BotStatus::Running, true) => {
                s.status = BotStatus::Suspended;
                true
            }
            (BotStatus::Suspended, false) => {
                s.status = BotStatus::Running;
                true
            }
            _ => false,
        });
        if changed {
            self.mark_bot(bot_id);
        }
    }

    /// Whether the bot's runner breaker is OPEN (a gate input).
    pub fn breaker_open(&self, bot_id: Uuid) -> bool {
        lock(&self.slots)
            .get(&bot_id)
            .is_some_and(|s| s.breaker.state() == BreakerState::Open)
    }

    /// Restores persisted state: breaker snapshots (`bot:*` scopes) and KILLED latches.
    pub async fn restore(&self, pool: &PgPool) -> Result<usize, sqlx::Error> {
        let breakers = circuit_breakers::of_node(pool, &self.node).await?;
        let killed = bot_instances::killed(pool).await?;
        let mut slots = lock(&self.slots);
        let mut n = 0;
        for row in breakers {
            let Some(bot) = super::events::bot_of(&row.scope) else {
                continue;
            };
            match serde_json::from_value::<BreakerSnapshot>(row.snapshot) {
                Ok(snap) => {
                    let breaker = CircuitBreaker::restore(
                        bot_scope(bot),
                        self.breaker_config,
                        self.clock.clone(),
                        self.breaker_sink.clone(),
                        &snap,
                    );
                    slots.insert(bot, self.new_slot(bot, breaker));
                    n += 1;
                }
                Err(err) => {
                    // Unknown is unknown: an unreadable breaker is treated as OPEN.
                    tracing::error!(scope = %row.scope, error = %err, "unreadable breaker snapshot; tripping it");
                    let mut breaker = self.fresh_breaker(bot);
                    breaker.trip("persisted snapshot unreadable");
                    slots.insert(bot, self.new_slot(bot, breaker));
                }
            }
        }
        for row in killed {
            let slot = slots
                .entry(row.bot_id)
                .or_insert_with(|| self.new_slot(row.bot_id, self.fresh_breaker(row.bot_id)));
            slot.status = BotStatus::Killed;
            slot.published = BotStatus::Killed;
            slot.kill = Some(
                row.last_error
                    .clone()
                    .unwrap_or_else(|| "killed before restart".into()),
            );
            slot.last_error = row.last_error;
            slot.restart_count = u32::try_from(row.restart_count).unwrap_or(0);
            slot.started_at = row.started_at;
            n += 1;
        }
        Ok(n)
    }

    /// Every status change ends here (after the slot is updated): queues the row for the
    /// writer and publishes the change live. Takes the slots lock: never call it while holding
    /// it (inside `with_slot`/`with_slots`).
    pub fn mark_bot(&self, bot_id: Uuid) {
        self.publish_status(bot_id);
        lock(&self.dirty_bots).insert(bot_id);
        self.wake_writer();
    }

    /// Publishes the bot's status if it differs from the last one published.
    fn publish_status(&self, bot_id: Uuid) {
        let mut slots = lock(&self.slots);
        let Some(slot) = slots.get_mut(&bot_id) else {
            return;
        };
        if slot.published == slot.status {
            return;
        }
        let from = std::mem::replace(&mut slot.published, slot.status);
        self.telemetry.bus().publish_bot_status(
            bot_id,
            from,
            slot.status,
            slot.last_error.as_deref(),
        );
    }

    /// Queues the bot's breaker row (its breaker does so itself on every change).
    pub fn mark_breaker(&self, bot_id: Uuid) {
        self.breaker_marks.mark(bot_id);
    }

    /// Asks the writer to write the heartbeats that changed since the last flush.
    pub fn request_heartbeat_flush(&self) {
        self.heartbeat_flush.store(true, Ordering::Release);
        self.wake_writer();
    }

    fn wake_writer(&self) {
        self.breaker_marks.notify.notify_one();
    }

    pub fn event(&self, event: NewSystemEvent) {
        self.telemetry.system_event(event);
    }

    pub fn snapshot(slot: &Slot) -> RunnerSnapshot {
        RunnerSnapshot {
            bot_id: slot.bot_id,
            status: slot.status,
            timeframe: slot.options.map(|o| o.timeframe),
            live: slot.options.is_some_and(|o| o.live),
            started_at: slot.started_at,
            last_heartbeat_at: slot.shared.last_beat(),
            restart_count: slot.restart_count,
            last_error: slot.last_error.clone(),
            kill_reason: slot.kill.clone(),
            breaker_state: slot.breaker.state().into(),
            ticks: slot.shared.ticks.load(Ordering::Relaxed),
        }
    }

    pub fn runners(&self) -> Vec<RunnerSnapshot> {
        let slots = lock(&self.slots);
        let mut v: Vec<RunnerSnapshot> = slots.values().map(Self::snapshot).collect();
        v.sort_by_key(|r| r.bot_id);
        v
    }

    pub fn runner(&self, bot_id: Uuid) -> Option<RunnerSnapshot> {
        lock(&self.slots).get(&bot_id).map(Self::snapshot)
    }

    pub fn breakers(&self) -> Vec<BreakerView> {
        let slots = lock(&self.slots);
        let mut v: Vec<BreakerView> = slots
            .values()
            .map(|s| BreakerView::of(bot_scope(s.bot_id), &s.breaker.reading()))
            .collect();
        v.sort_by(|a, b| a.scope.cmp(&b.scope));
        v
    }

    /// The current instance ran a healthy tick: its breaker permit succeeded (closes a
    /// HALF_OPEN breaker).
    pub fn runner_healthy(&self, bot_id: Uuid) {
        let settled = self.with_slots(|slots| {
            let slot = slots.get_mut(&bot_id)?;
            Some((slot.breaker.clone(), slot.permit.take()?))
        });
        if let Some((breaker, permit)) = settled {
            breaker.report(Report::Success(permit));
        }
    }

    /// Latches KILLED (the caller stops the runner) and hands the bot to the removal of its
    /// risk (`safety`: its working orders cancelled under a new lease epoch).
    pub fn latch_kill(&self, slot: &mut Slot, reason: &str) {
        if self.latch_kill_only(slot, reason)
            && let Some(tx) = self.kills.get()
        {
            let _ = tx.send((slot.bot_id, reason.to_owned()));
        }
    }

    /// Latches KILLED only: for a caller that removes the bot's risk itself (an operator's
    /// kill, the kill switch). False when it was latched already.
    pub fn latch_kill_only(&self, slot: &mut Slot, reason: &str) -> bool {
        if slot.kill.is_some() {
            return false;
        }
        slot.kill = Some(reason.to_owned());
        slot.status = BotStatus::Killed;
        slot.last_error = Some(reason.to_owned());
        self.event(
            NewSystemEvent::new(
                Severity::Sev1,
                "BOT_KILLED",
                format!(
                    "bot {} killed: {reason}; a human re-arm is needed",
                    slot.bot_id
                ),
            )
            .bot(slot.bot_id)
            .metadata(json!({ "reason": reason })),
        );
        true
    }

    // ---- persistence ----

    fn instance_row(&self, slot: &Slot) -> InstanceUpsert {
        InstanceUpsert {
            bot_id: slot.bot_id,
            node: self.node.clone(),
            status: slot.status,
            started_at: slot.started_at,
            last_heartbeat_at: slot.shared.last_beat(),
            restart_count: i32::try_from(slot.restart_count).unwrap_or(i32::MAX),
            last_error: slot.last_error.clone(),
        }
    }

    /// One pass of the writer: dirty instances, dirty breakers, and (when asked) heartbeats.
    /// What fails stays dirty for the next pass.
    pub async fn flush(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let _turn = self.status_writes.lock().await;
        let bots: Vec<Uuid> = lock(&self.dirty_bots).drain().collect();
        let rows: Vec<InstanceUpsert> = {
            let slots = lock(&self.slots);
            bots.iter()
                .filter_map(|b| slots.get(b).map(|s| self.instance_row(s)))
                .collect()
        };
        if let Err(err) = bot_instances::upsert_many(pool, &rows).await {
            lock(&self.dirty_bots).extend(bots);
            return Err(err);
        }
        let statuses: Vec<(Uuid, BotStatus)> = rows.iter().map(|r| (r.bot_id, r.status)).collect();
        if let Err(err) =
            crate::store::bots::mirror_runtime_status(pool, &self.node, &statuses).await
        {
            lock(&self.dirty_bots).extend(bots);
            return Err(err);
        }
        let breakers: Vec<Uuid> = lock(&self.breaker_marks.dirty).drain().collect();
        let saves: Vec<BreakerSave> = {
            let slots = lock(&self.slots);
            breakers
                .iter()
                .filter_map(|b| slots.get(b))
                .filter_map(|s| {
                    let snap = s.breaker.reading().snapshot;
                    Some(BreakerSave {
                        scope: bot_scope(s.bot_id),
                        state: snap.state.into(),
                        snapshot: serde_json::to_value(&snap).ok()?,
                    })
                })
                .collect()
        };
        if let Err(err) = circuit_breakers::save_many(pool, &self.node, &saves).await {
            lock(&self.breaker_marks.dirty).extend(breakers);
            return Err(err);
        }
        if self.heartbeat_flush.swap(false, Ordering::AcqRel) {
            let beats: Vec<(Uuid, DateTime<Utc>)> = {
                let slots = lock(&self.slots);
                slots
                    .values()
                    .filter_map(|s| {
                        let beat = s.shared.last_beat()?;
                        (s.flushed_beat != Some(beat)).then_some((s.bot_id, beat))
                    })
                    .collect()
            };
            if let Err(err) = bot_instances::record_heartbeats(pool, &beats).await {
                self.heartbeat_flush.store(true, Ordering::Release);
                return Err(err);
            }
            let mut slots = lock(&self.slots);
            for (bot, at) in beats {
                if let Some(s) = slots.get_mut(&bot) {
                    s.flushed_beat = Some(at);
                }
            }
        }
        Ok(())
    }

    /// The writer task: wakes on dirty marks and flush requests, retries on errors, writes a
    /// last time on stop.
    pub async fn run_writer(self: Arc<Self>, pool: PgPool, mut stop: watch::Receiver<bool>) {
        let mut failing = false;
        loop {
            tokio::select! {
                () = self.breaker_marks.notify.notified() => {},
                _ = stop.changed() => break,
            }
            // Coalesce a burst of marks into one pass.
            tokio::time::sleep(Duration::from_millis(10)).await;
            match self.flush(&pool).await {
                Ok(()) => failing = false,
                Err(err) => {
                    if !failing {
                        tracing::warn!(error = %err, "runner registry write failed; retrying");
                    }
                    failing = true;
                    let again = Arc::clone(&self);
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        again.wake_writer();
                    });
                }
            }
        }
        self.heartbeat_flush.store(true, Ordering::Release);
        if let Err(err) = self.flush(&pool).await {
            tracing::error!(error = %err, "final runner registry write failed");
        }
    }
}
