//! The bot lifecycle (SPEC §2, §7): start, stop, restart, kill, re-arm, promote, and resume
//! after a process restart. Each action checks the bot's row and the runtime's runner, puts
//! safe start in front of every start, moves `bots.status`/`stage` and records the system
//! events that go with it. The API (which adds the audit entry with its caller) and the CLI
//! call this; a refusal is a [`LifecycleError`] carrying its error code.

mod desk;
mod error;
mod promotion;
mod safe_start;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

pub use desk::{BULK_MAX, BulkAction, BulkError, BulkOutcome, bulk_targets};
pub use error::LifecycleError;
pub use promotion::Promotion;
pub use safe_start::Failure;
use safe_start::StartFacts;

use super::ownership::AcquireError;
use super::safety::{self, Removal, Source};
use super::{RunnerOptions, RuntimeError, RuntimeHandle};
use crate::{
    bus::EventBus,
    clock::Clock,
    domain::{bot::BotStatus, risk::Stage},
    error_code::ErrorCode,
    integrations::Integrations,
    store::{
        bot_leases::{self, Fence},
        bots::{self, Bot},
        orders,
        settings::{self, KillSwitch},
        system_events::{self, NewSystemEvent, Severity, SystemEvent},
    },
};
use error::REARM_THEN_START;
use futures::StreamExt;

/// How many runners a resume or takeover batch starts at once.
const RUNNER_STARTS_AT_ONCE: usize = 16;

/// How many bots a resume handles per batch (one bots read, one status write per status,
/// one safe-start reading and one events insert each).
const START_BATCH: usize = 64;

/// What the lifecycle acts on. Cheap to clone.
#[derive(Clone)]
pub struct Lifecycle {
    pool: PgPool,
    runtime: RuntimeHandle,
    /// The configured providers safe start checks (the runtime's, or an explicit set for a
    /// detached runtime).
    integrations: Arc<Integrations>,
}

/// A bot killed by an operator, the reason recorded with the latch, and what removing its
/// risk did (`safety`).
#[derive(Debug, Clone)]
pub struct Killed {
    pub bot: Bot,
    pub reason: String,
    pub removal: Removal,
}

/// What [`Lifecycle::set_kill_switch`] did.
#[derive(Debug)]
pub struct KillSwitchChange {
    pub before: KillSwitch,
    pub after: KillSwitch,
    /// Bots killed by this activation (empty otherwise).
    pub killed: Vec<Uuid>,
    /// One per bot killed or holding a working order (empty on release).
    pub removals: Vec<Removal>,
}

impl KillSwitchChange {
    /// Every order the activation cancelled.
    pub fn cancelled(&self) -> Vec<Uuid> {
        self.removals
            .iter()
            .flat_map(|r| r.cancelled.iter().map(|o| o.id))
            .collect()
    }
}

/// What [`Lifecycle::resume_after_restart`] did.
#[derive(Debug, Default, Serialize)]
pub struct ResumeReport {
    pub resumed: Vec<Uuid>,
    /// Running on another node (which holds an unexpired lease): left alone.
    pub owned_elsewhere: Vec<Uuid>,
    /// Bot and the code of the gate that refused it.
    pub refused: Vec<(Uuid, ErrorCode)>,
}

/// Writes a system event and publishes it on the live stream. A failed write is logged, not
/// returned: recording an event never fails the action it describes.
pub async fn record_event(
    pool: &PgPool,
    bus: &EventBus,
    mut event: NewSystemEvent,
    now: DateTime<Utc>,
) -> Option<SystemEvent> {
    if event.node_id.is_none() {
        event.node_id = bus.node().map(str::to_owned);
    }
    match system_events::insert(pool, event, now).await {
        Ok(row) => {
            bus.publish_system_event(&row);
            Some(row)
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not record system event");
            None
        }
    }
}

impl Lifecycle {
    /// The lifecycle on `runtime`'s clock; `integrations` are the providers safe start checks.
    pub fn new(pool: PgPool, runtime: RuntimeHandle, integrations: Arc<Integrations>) -> Self {
        Lifecycle {
            pool,
            runtime,
            integrations,
        }
    }

    fn clock(&self) -> &Clock {
        self.runtime.clock()
    }

    async fn load(&self, id: Uuid) -> Result<Bot, LifecycleError> {
        bots::get(&self.pool, id)
            .await?
            .ok_or(LifecycleError::BotNotFound(id))
    }

    /// Writes `bots.status` once the runtime holds the bot's new state, in the runtime's
    /// turn: a writer pass that read the old state lands first, so its mirror cannot undo this.
    async fn write_status(&self, id: Uuid, status: BotStatus) -> Result<Option<Bot>, sqlx::Error> {
        let _turn = self.runtime.status_turn().await;
        bots::set_status(&self.pool, id, status, self.clock().now()).await
    }

    /// [`Lifecycle::write_status`] under this node's lease on the bot, when it holds one (a
    /// process without ownership writes unfenced): the database refuses it (`STALE_LEASE`,
    /// `bot_leases::is_stale`) once another node took the bot.
    async fn write_status_fenced(
        &self,
        fence: Option<&Fence>,
        id: Uuid,
        status: BotStatus,
    ) -> Result<Option<Bot>, sqlx::Error> {
        let Some(fence) = fence else {
            return self.write_status(id, status).await;
        };
        let _turn = self.runtime.status_turn().await;
        bots::set_status_fenced(&self.pool, fence, status, self.clock().now()).await
    }

    async fn set_status(&self, id: Uuid, status: BotStatus) -> Result<Bot, LifecycleError> {
        self.write_status(id, status)
            .await?
            .ok_or(LifecycleError::BotNotFound(id))
    }

    async fn event(&self, event: NewSystemEvent) {
        record_event(&self.pool, self.runtime.bus(), event, self.clock().now()).await;
    }

    fn refuse_killed(bot: &Bot) -> Result<(), LifecycleError> {
        if bot.status == BotStatus::Killed {
            return Err(LifecycleError::transition(
                "The bot is KILLED; a human re-arm is needed before it can start.",
                REARM_THEN_START,
                bot,
            ));
        }
        Ok(())
    }

    /// The first unmet safe-start prerequisite of the bot's stage, as a refusal.
    async fn require_safe_start(&self, bot: &Bot) -> Result<(), LifecycleError> {
        let mut failures = self
            .safe_start_failures(bot.stage, bot.is_trading_enabled)
            .await?;
        failures.extend(self.filter_failures(bot, bot.stage));
        match failures.into_iter().next() {
            Some(first) => Err(LifecycleError::Unsafe(first)),
            None => Ok(()),
        }
    }

    /// This node's lease on the bot (kept if held; refused while another node holds it).
    /// Without a runtime there is nothing to own (starting is refused right after).
    async fn acquire(&self, bot: &Bot) -> Result<(), LifecycleError> {
        let Some(ownership) = self.runtime.ownership() else {
            return Ok(());
        };
        match ownership.acquire(bot.id).await {
            Ok(_) => Ok(()),
            Err(AcquireError::HeldElsewhere {
                bot_id,
                node,
                expires_at,
            }) => Err(LifecycleError::OwnedElsewhere {
                bot_id,
                node,
                expires_at,
            }),
            Err(AcquireError::Db(e)) => Err(e.into()),
        }
    }

    async fn release(&self, id: Uuid) {
        if let Some(ownership) = self.runtime.ownership() {
            ownership.release(id).await;
        }
    }

    /// Safe start, then the runner (under this node's lease), then RUNNING. Shared by start,
    /// restart and resume. A runner that does not start lets the lease go.
    async fn safe_start(&self, bot: &Bot) -> Result<Bot, LifecycleError> {
        Self::refuse_killed(bot)?;
        self.require_safe_start(bot).await?;
        if let Err(e) = self
            .runtime
            .start_runner(
                bot.id,
                RunnerOptions {
                    timeframe: bot.timeframe,
                    live: bot.stage == Stage::Live,
                },
            )
            .await
        {
            if !matches!(
                e,
                RuntimeError::AlreadyRunning(_) | RuntimeError::OwnedElsewhere { .. }
            ) {
                self.release(bot.id).await;
            }
            return Err(LifecycleError::of_runtime(e, bot));
        }
        self.set_status(bot.id, BotStatus::Running).await
    }

    async fn stop_runner(&self, bot: &Bot) -> Result<(), LifecycleError> {
        match self.runtime.stop_runner(bot.id).await {
            // No runner (never started here, or gone): the bot is stopped either way.
            Ok(()) | Err(RuntimeError::NotFound(_) | RuntimeError::NotRunning) => Ok(()),
            Err(e) => Err(LifecycleError::of_runtime(e, bot)),
        }
    }

    /// Starts the bot's runner after safe start (SPEC §7).
    pub async fn start(&self, id: Uuid) -> Result<Bot, LifecycleError> {
        let bot = self.load(id).await?;
        if bot.status.is_live() {
            return Err(LifecycleError::transition(
                format!("The bot is already {}.", bot.status),
                "Stop it first, or use restart.",
                &bot,
            ));
        }
        Self::refuse_archived(&bot)?;
        self.safe_start(&bot).await
    }

    /// Stops the bot's runner. A KILLED bot stays KILLED (re-arm it instead).
    pub async fn stop(&self, id: Uuid) -> Result<Bot, LifecycleError> {
        let bot = self.load(id).await?;
        if bot.status == BotStatus::Killed {
            return Err(LifecycleError::transition(
                "The bot is KILLED; it is already stopped and latched.",
                "POST /api/bots/{id}/rearm to clear the latch.",
                &bot,
            ));
        }
        self.stop_runner(&bot).await?;
        let stopped = self.set_status(id, BotStatus::Stopped).await?;
        self.release(id).await;
        Ok(stopped)
    }

    /// Stops the runner (if any) and starts it again through safe start. Safe start is checked
    /// before stopping: a restart that could not start again leaves the healthy runner alone.
    pub async fn restart(&self, id: Uuid) -> Result<Bot, LifecycleError> {
        let bot = self.load(id).await?;
        Self::refuse_killed(&bot)?;
        Self::refuse_archived(&bot)?;
        self.require_safe_start(&bot).await?;
        self.stop_runner(&bot).await?;
        let stopped = self.set_status(id, BotStatus::Stopped).await?;
        self.safe_start(&stopped).await
    }

    /// Kills the bot without closing its position ([`Lifecycle::kill_with`]).
    pub async fn kill(
        &self,
        id: Uuid,
        reason: Option<&str>,
        by: &str,
    ) -> Result<Killed, LifecycleError> {
        self.kill_with(id, reason, by, false).await
    }

    /// Whether this kill needs a recent 2FA step-up: kill and flatten of a LIVE bot (a real
    /// market order).
    pub async fn kill_needs_step_up(
        &self,
        id: Uuid,
        flatten: bool,
    ) -> Result<bool, LifecycleError> {
        let bot = self.load(id).await?;
        Ok(flatten && bot.stage == Stage::Live)
    }

    /// Kills the bot: stops its runner, latches KILLED until an admin re-arms it (SEV-1
    /// `BOT_KILLED`), then removes its risk through the one path (`safety::remove_risk`):
    /// every working order cancelled under a new lease epoch and, with `flatten`, the position
    /// closed. `reason` (trimmed, at most 500 characters) defaults to "killed by `by`". Killing
    /// a KILLED bot again is how its leftover exposure is removed (a kill trigger cancels but
    /// never flattens).
    pub async fn kill_with(
        &self,
        id: Uuid,
        reason: Option<&str>,
        by: &str,
        flatten: bool,
    ) -> Result<Killed, LifecycleError> {
        self.load(id).await?;
        let reason = reason
            .map(|r| r.trim().chars().take(500).collect::<String>())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| format!("killed by {by}"));
        self.runtime.latch_kill(id, &reason);
        self.set_status(id, BotStatus::Killed).await?;
        bots::clear_exposure_ack(&self.pool, &[id]).await?;
        self.event(
            NewSystemEvent::new(
                Severity::Sev1,
                "BOT_KILLED",
                format!("bot {id} killed by {by}: {reason}"),
            )
            .bot(id)
            .metadata(
                json!({ "by": by, "reason": reason, "source": "operator", "flatten": flatten }),
            ),
        )
        .await;
        let removal = safety::remove_risk(
            &self.runtime,
            &self.pool,
            safety::Request {
                bot_id: id,
                source: Source::Operator,
                reason: reason.clone(),
                by: by.to_owned(),
                flatten,
            },
        )
        .await?;
        let bot = self.load(id).await?;
        Ok(Killed {
            bot,
            reason,
            removal,
        })
    }

    /// The global kill switch. Activation (a reason is required) kills every bot with a runner
    /// in the database's view or this runtime's, and removes the risk of each of them and of
    /// every other bot holding a working order (`safety::remove_risk`, in parallel); SEV-1
    /// `KILL_SWITCH_ACTIVATED`. It latches until released explicitly (INFO
    /// `KILL_SWITCH_RELEASED`); release kills nothing and re-arms nothing.
    pub async fn set_kill_switch(
        &self,
        active: bool,
        reason: Option<&str>,
        by: &str,
    ) -> Result<KillSwitchChange, LifecycleError> {
        let before = settings::kill_switch(&self.pool).await?;
        let now = self.clock().now();
        let after = settings::set_kill_switch(
            &self.pool,
            active,
            if active { reason } else { None },
            by,
            now,
        )
        .await?;
        self.runtime.set_kill_switch(after.active);
        let mut change = KillSwitchChange {
            before,
            after,
            killed: Vec::new(),
            removals: Vec::new(),
        };
        if active {
            let mut ids = bots::active_ids(&self.pool).await?;
            for r in self.runtime.runners() {
                if r.status.is_live() && !ids.contains(&r.bot_id) {
                    ids.push(r.bot_id);
                }
            }
            let why = format!("kill switch: {}", reason.unwrap_or_default());
            for id in &ids {
                self.runtime.latch_kill(*id, &why);
            }
            {
                let _turn = self.runtime.status_turn().await;
                bots::mark_killed(&self.pool, &ids, now).await?;
            }
            bots::clear_exposure_ack(&self.pool, &ids).await?;
            let mut targets = ids.clone();
            for id in orders::bots_with_working(&self.pool, false).await? {
                if !targets.contains(&id) {
                    targets.push(id);
                }
            }
            // The LIVE cancels first, per broker account (bulk where the vendor offers it).
            let at_broker = safety::cancel_in_bulk(&self.runtime, &self.pool, &targets).await?;
            let runs = targets.into_iter().map(|bot_id| {
                safety::remove_risk_after_bulk(
                    &self.runtime,
                    &self.pool,
                    safety::Request {
                        bot_id,
                        source: Source::KillSwitch,
                        reason: why.clone(),
                        by: by.to_owned(),
                        flatten: false,
                    },
                    &at_broker,
                )
            });
            change.removals = futures::future::try_join_all(runs).await?;
            change.killed = ids;
        }
        let event = if active {
            NewSystemEvent::new(
                Severity::Sev1,
                "KILL_SWITCH_ACTIVATED",
                format!(
                    "Kill switch activated by {by}: {} ({} bots killed, {} working orders cancelled)",
                    reason.unwrap_or_default(),
                    change.killed.len(),
                    change.cancelled().len()
                ),
            )
        } else {
            NewSystemEvent::new(
                Severity::Info,
                "KILL_SWITCH_RELEASED",
                format!("Kill switch released by {by}"),
            )
        }
        .metadata(json!({
            "by": by, "reason": change.after.reason, "killed_bot_ids": change.killed,
            "cancelled_order_ids": change.cancelled(),
        }));
        self.event(event).await;
        Ok(change)
    }

    /// An admin acknowledges a KILLED bot's exposure (position or working orders left on
    /// purpose): the system status shows it as SEV-2 instead of SEV-1 until the bot is flat,
    /// killed again or re-armed. Records SEV-2 `EXPOSURE_ACKNOWLEDGED`.
    pub async fn acknowledge_exposure(&self, id: Uuid, by: &str) -> Result<Bot, LifecycleError> {
        let bot = self.load(id).await?;
        if bot.status != BotStatus::Killed {
            return Err(LifecycleError::transition(
                format!(
                    "Only a KILLED bot's exposure can be acknowledged; this one is {}.",
                    bot.status
                ),
                "Nothing to acknowledge: a running bot manages its own position.",
                &bot,
            ));
        }
        let bot = bots::acknowledge_exposure(&self.pool, id, by, self.clock().now())
            .await?
            .ok_or(LifecycleError::BotNotFound(id))?;
        self.event(
            NewSystemEvent::new(
                Severity::Sev2,
                "EXPOSURE_ACKNOWLEDGED",
                format!("bot {id}: exposure of the KILLED bot acknowledged by {by}"),
            )
            .bot(id)
            .metadata(json!({ "by": by })),
        )
        .await;
        Ok(bot)
    }

    /// Clears a KILLED latch (in the bots row, the runtime, or both); the bot is left STOPPED.
    pub async fn rearm(&self, id: Uuid, by: &str) -> Result<Bot, LifecycleError> {
        let bot = self.load(id).await?;
        let runtime_latched = self
            .runtime
            .runner(id)
            .is_some_and(|r| r.kill_reason.is_some());
        if bot.status != BotStatus::Killed && !runtime_latched {
            return Err(LifecycleError::transition(
                format!(
                    "Only a KILLED bot can be re-armed; this one is {}.",
                    bot.status
                ),
                "Nothing to re-arm.",
                &bot,
            ));
        }
        // A kill stops its runner without waiting: be sure it is gone, or an immediate start
        // would find the old runner still terminating and be refused.
        self.stop_runner(&bot).await?;
        match self.runtime.rearm(id, by).await {
            // The latch may live only in the bots row (e.g. the runtime never ran this bot).
            Ok(()) | Err(RuntimeError::NotKilled(_)) => {}
            Err(e) => return Err(LifecycleError::of_runtime(e, &bot)),
        }
        bots::clear_exposure_ack(&self.pool, &[id]).await?;
        self.set_status(id, BotStatus::Stopped).await
    }

    /// After a process restart: every bot whose row says a runner was up comes back only
    /// through safe start (so LIVE never resumes without passing every gate again). A refused
    /// bot is left STOPPED with a SEV-2 `BOT_RESUME_REFUSED` event naming the gate; a KILLED
    /// one stays KILLED.
    ///
    /// With several nodes on one database, a bot another node holds an unexpired lease on is
    /// that node's (listed in `owned_elsewhere`, untouched). Once done, this node starts taking
    /// over released and expired leases.
    pub async fn resume_after_restart(&self) -> Result<ResumeReport, sqlx::Error> {
        let mut report = ResumeReport::default();
        let ids = bots::active_ids(&self.pool).await?;
        for chunk in ids.chunks(START_BATCH) {
            self.resume_batch(chunk, &mut report).await?;
        }
        if let Some(ownership) = self.runtime.ownership() {
            ownership.start_claiming();
        }
        Ok(report)
    }

    /// [`Lifecycle::resume_after_restart`] for some of the bots: leases taken one by one, then
    /// one bots read, one STOPPED write, one safe-start reading, the runners, one RUNNING
    /// write and one events insert for the batch.
    async fn resume_batch(
        &self,
        ids: &[Uuid],
        report: &mut ResumeReport,
    ) -> Result<(), sqlx::Error> {
        let ownership = self.runtime.ownership();
        let mut mine = Vec::new();
        let rows = bots::get_many(&self.pool, ids).await?;
        // The batch's leases in one statement; a locked row (a paused node's write) fails it,
        // then one by one below.
        let taken = match ownership {
            Some(o) => {
                let ids: Vec<Uuid> = rows.iter().map(|b| b.id).collect();
                match o.acquire_many(&ids).await {
                    Ok(taken) => Some(taken),
                    Err(e) if bot_leases::is_timeout(&e) => None,
                    Err(e) => return Err(e),
                }
            }
            None => None,
        };
        for bot in rows {
            if let Some(taken) = &taken {
                if taken.contains(&bot.id) {
                    mine.push(bot);
                } else {
                    report.owned_elsewhere.push(bot.id);
                }
                continue;
            }
            match self.acquire(&bot).await {
                Ok(()) => mine.push(bot),
                Err(LifecycleError::OwnedElsewhere { .. }) => report.owned_elsewhere.push(bot.id),
                // Its lease row is locked (a paused node's write): left to the rescue that
                // claims it once the lock and the lease are gone; the start goes on.
                Err(LifecycleError::Database(e)) if bot_leases::is_timeout(&e) => {
                    report.owned_elsewhere.push(bot.id);
                }
                Err(LifecycleError::Database(e)) => return Err(e),
                Err(_) => mine.push(bot),
            }
        }
        // STOPPED under the leases just taken: a node paused here past them writes nothing,
        // and a bot another node took meanwhile is left to it.
        let fences: HashMap<Uuid, Fence> = mine
            .iter()
            .filter_map(|b| {
                ownership
                    .and_then(|o| o.held_fence(b.id))
                    .map(|f| (b.id, f))
            })
            .collect();
        let stopped = self
            .write_statuses(&mine, &fences, BotStatus::Stopped)
            .await?;
        let mut bots = Vec::new();
        for mut bot in mine {
            if stopped.contains(&bot.id) {
                bot.status = BotStatus::Stopped;
                bots.push(bot);
            } else {
                if let (Some(o), Some(f)) = (ownership, fences.get(&bot.id)) {
                    o.lost(bot.id, f.epoch);
                }
                report.owned_elsewhere.push(bot.id);
            }
        }
        let facts = self.start_facts(bots.iter().map(|b| b.stage)).await?;
        let (started, failed) = self.start_batch(&bots, &facts).await;
        let mut failed: Vec<(&Bot, LifecycleError)> = failed
            .into_iter()
            .map(|(bot, _, err)| {
                let err = err.unwrap_or_else(|| {
                    LifecycleError::of_runtime(RuntimeError::AlreadyRunning(bot.id), bot)
                });
                (bot, err)
            })
            .collect();
        let mut events = Vec::new();
        match self.write_running(&started, &fences).await {
            Ok(running) => {
                for bot in started {
                    if !running.contains(&bot.id) {
                        report.owned_elsewhere.push(bot.id);
                        continue;
                    }
                    report.resumed.push(bot.id);
                    let (id, stage) = (bot.id, bot.stage);
                    events.push(
                        NewSystemEvent::new(
                            Severity::Info,
                            "BOT_RESUMED",
                            format!("bot {id} ({stage}) resumed after restart"),
                        )
                        .metadata(json!({ "stage": stage }))
                        .bot(id),
                    );
                }
            }
            Err(e) => {
                let code = LifecycleError::Database(e).code();
                for bot in started {
                    report.refused.push((bot.id, code));
                    self.release(bot.id).await;
                }
            }
        }
        for (bot, err) in failed.drain(..) {
            let (id, stage, code) = (bot.id, bot.stage, err.code());
            report.refused.push((id, code));
            self.release(id).await;
            events.push(
                NewSystemEvent::new(
                    Severity::Sev2,
                    "BOT_RESUME_REFUSED",
                    format!(
                        "bot {id} ({stage}) was running before the restart but did not pass safe start: {code}"
                    ),
                )
                .metadata(json!({
                    "stage": stage, "code": code, "message": err.message(),
                    "suggested_fix": err.suggested_fix(),
                }))
                .bot(id),
            );
        }
        self.events(events).await;
        Ok(())
    }

    /// Takes over one bot whose lease this node just claimed ([`Lifecycle::take_over_batch`]).
    pub async fn take_over(&self, id: Uuid, from: Option<&str>) {
        self.take_over_batch(&[(id, from.map(str::to_owned))]).await;
    }

    /// Takes over bots whose leases this node just claimed (their node died, stopped or let
    /// them go), each with the node it came from: through safe start like a resume; INFO
    /// `BOT_TAKEN_OVER` naming the previous node.
    ///
    /// Batch-cheap, every bot still judged on its own facts: one read of the bots, one
    /// reading of what safe start checks (kill switch, verifications, trading switch) for the
    /// whole batch, each bot's own gates (latch, news filters, breaker) and runner start, then
    /// one status write for the bots that started (each fenced by the lease claimed for it)
    /// and one insert of the batch's events. A LIVE bot's runner still reconciles before its
    /// first order (the runner's own first evaluation does).
    ///
    /// A refusal (a safe-start gate, a KILLED latch, an open breaker) writes STOPPED under the
    /// lease this node claimed, in one fenced transaction, then lets the lease go (SEV-2
    /// `BOT_RESUME_REFUSED`): a node that lost the bot meanwhile (paused or cut off past the
    /// lease while another node took it over) writes nothing. A failure that says nothing
    /// about the bot (the database, the lease gone, a runner still here, the runtime shutting
    /// down) never stops it: the runner (if any) is stopped and the lease let go, so a node
    /// (maybe this one, next round) takes it over again.
    pub async fn take_over_batch(&self, claimed: &[(Uuid, Option<String>)]) {
        let ownership = self.runtime.ownership();
        let node = ownership.map(|o| o.name().to_owned());
        // The lease claimed for each takeover: every status it writes is fenced by it.
        let mut from: HashMap<Uuid, Option<&str>> = HashMap::new();
        let mut fences: HashMap<Uuid, Fence> = HashMap::new();
        for (id, previous) in claimed {
            if let Some(o) = ownership {
                let Some(fence) = o.held_fence(*id) else {
                    tracing::info!(bot = %id, "takeover: the lease is no longer held here; nothing to do");
                    continue;
                };
                fences.insert(*id, fence);
            }
            from.insert(*id, previous.as_deref());
        }
        if from.is_empty() {
            return;
        }
        let ids: Vec<Uuid> = from.keys().copied().collect();
        let bots = match bots::get_many(&self.pool, &ids).await {
            Ok(bots) => bots,
            Err(err) => {
                tracing::warn!(error = %err, bots = ids.len(), "takeover: cannot read the bots; letting their leases go");
                return self.release_all(&ids).await;
            }
        };
        if bots.len() < ids.len() {
            let found: HashSet<Uuid> = bots.iter().map(|b| b.id).collect();
            let gone: Vec<Uuid> = ids.into_iter().filter(|id| !found.contains(id)).collect();
            self.release_all(&gone).await;
        }
        let facts = match self.start_facts(bots.iter().map(|b| b.stage)).await {
            Ok(facts) => facts,
            Err(err) => {
                tracing::warn!(error = %err, bots = bots.len(), "takeover: cannot read the safe-start facts; letting the leases go for a retry");
                let ids: Vec<Uuid> = bots.iter().map(|b| b.id).collect();
                return self.release_all(&ids).await;
            }
        };
        let (started, failed) = self.start_batch(&bots, &facts).await;
        let mut refused = Vec::new();
        let mut retry = Vec::new();
        for (bot, busy, outcome) in failed {
            match outcome {
                Some(err) if !Self::retryable(&err) => refused.push((bot, err)),
                err => {
                    let code = err.as_ref().map(LifecycleError::code);
                    tracing::info!(bot = %bot.id, code = ?code, "takeover not done; letting the lease go for a retry");
                    if !busy {
                        self.runtime.release_runner(bot.id);
                    }
                    retry.push(bot.id);
                }
            }
        }
        self.release_all(&retry).await;
        let mut events = Vec::new();
        let running = match self.write_running(&started, &fences).await {
            Ok(running) => running,
            Err(err) => {
                tracing::warn!(error = %err, bots = started.len(), "takeover: could not write RUNNING; stopping the runners and letting the leases go");
                let ids: Vec<Uuid> = started.iter().map(|b| b.id).collect();
                for id in &ids {
                    self.runtime.release_runner(*id);
                }
                self.release_all(&ids).await;
                HashSet::new()
            }
        };
        for bot in started {
            let id = bot.id;
            if !running.contains(&id) {
                continue;
            }
            let stage = bot.stage;
            let previous = from.get(&id).copied().flatten();
            events.push(
                NewSystemEvent::new(
                    Severity::Info,
                    "BOT_TAKEN_OVER",
                    format!(
                        "bot {id} ({stage}) taken over by node {} from {}",
                        node.as_deref().unwrap_or("?"),
                        previous.unwrap_or("a released lease")
                    ),
                )
                .metadata(json!({ "stage": stage, "node": node, "from_node": previous }))
                .bot(id),
            );
        }
        for (bot, err) in refused {
            let (id, stage, code) = (bot.id, bot.stage, err.code());
            let fence = fences.get(&id);
            match self
                .write_status_fenced(fence, id, BotStatus::Stopped)
                .await
            {
                Ok(_) => {}
                Err(e) if bot_leases::is_stale(&e) => {
                    tracing::warn!(bot = %id, code = %code, "takeover refused, but another node holds the bot now: not stopped");
                    if let (Some(o), Some(f)) = (ownership, fence) {
                        o.lost(id, f.epoch);
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, bot = %id, code = %code, "takeover refused; could not write STOPPED, letting the lease go");
                    self.release(id).await;
                    continue;
                }
            }
            self.release(id).await;
            let previous = from.get(&id).copied().flatten();
            events.push(
                NewSystemEvent::new(
                    Severity::Sev2,
                    "BOT_RESUME_REFUSED",
                    format!(
                        "bot {id} ({stage}) could not be taken over by node {}: {code}",
                        node.as_deref().unwrap_or("?")
                    ),
                )
                .metadata(json!({
                    "stage": stage, "code": code, "message": err.message(),
                    "suggested_fix": err.suggested_fix(), "node": node, "from_node": previous,
                }))
                .bot(id),
            );
        }
        self.events(events).await;
    }

    /// Each bot's own gates on facts read for its batch, then, for the bots that pass, what
    /// their runners load read for all of them at once and the runners started a few at a
    /// time: the bots whose runner started, and the others with whether a runner of theirs
    /// was still here (`busy`, not started again) and why not (`None`: busy).
    #[allow(clippy::type_complexity)]
    async fn start_batch<'b>(
        &self,
        bots: &'b [Bot],
        facts: &StartFacts,
    ) -> (Vec<&'b Bot>, Vec<(&'b Bot, bool, Option<LifecycleError>)>) {
        let mut failed = Vec::new();
        let mut ready = Vec::new();
        for bot in bots {
            // A runner of this bot still here (stopping after an earlier loss).
            if self
                .runtime
                .runner(bot.id)
                .is_some_and(|r| r.status.is_live())
            {
                failed.push((bot, true, None));
            } else if let Err(err) = self.gates(bot, facts) {
                failed.push((bot, false, Some(err)));
            } else {
                ready.push(bot);
            }
        }
        if ready.is_empty() {
            return (Vec::new(), failed);
        }
        let ids: Vec<Uuid> = ready.iter().map(|b| b.id).collect();
        let rows: Vec<Bot> = ready.iter().map(|b| (*b).clone()).collect();
        if let Err(err) = self.runtime.preload_runners(&rows).await {
            // Each runner reads its own then.
            tracing::warn!(error = %err, bots = ids.len(), "could not read the batch's runner state at once");
        }
        // Futures collected first: a closure in the stream would not be general enough for
        // the spawned takeover task.
        let starts: Vec<_> = ready.iter().map(|bot| self.start_one(bot)).collect();
        let outcomes: Vec<(&Bot, Result<(), LifecycleError>)> = futures::stream::iter(starts)
            .buffer_unordered(RUNNER_STARTS_AT_ONCE)
            .collect()
            .await;
        self.runtime.forget_preloaded(&ids);
        let mut started = Vec::new();
        for (bot, outcome) in outcomes {
            match outcome {
                Ok(()) => started.push(bot),
                Err(err) => failed.push((bot, false, Some(err))),
            }
        }
        (started, failed)
    }

    async fn start_one<'b>(&self, bot: &'b Bot) -> (&'b Bot, Result<(), LifecycleError>) {
        let started = self
            .runtime
            .start_runner(
                bot.id,
                RunnerOptions {
                    timeframe: bot.timeframe,
                    live: bot.stage == Stage::Live,
                },
            )
            .await
            .map_err(|e| LifecycleError::of_runtime(e, bot));
        (bot, started)
    }

    /// Safe start of one bot of a batch on the facts read for it: its latch, its stage's
    /// prerequisites with its own trading switch, its filters' needs.
    fn gates(&self, bot: &Bot, facts: &StartFacts) -> Result<(), LifecycleError> {
        Self::refuse_killed(bot)?;
        let mut failures = self.failures_with(facts, bot.stage, bot.is_trading_enabled);
        failures.extend(self.filter_failures(bot, bot.stage));
        match failures.into_iter().next() {
            Some(first) => Err(LifecycleError::Unsafe(first)),
            None => Ok(()),
        }
    }

    /// `status` for `bots` in one statement in the runtime's status turn, each under this
    /// node's lease in `fences` (without ownership: unfenced): a bot another node holds now is
    /// not written. Answers the bots written.
    async fn write_statuses(
        &self,
        bots: &[Bot],
        fences: &HashMap<Uuid, Fence>,
        status: BotStatus,
    ) -> Result<HashSet<Uuid>, sqlx::Error> {
        if bots.is_empty() {
            return Ok(HashSet::new());
        }
        let now = self.clock().now();
        let _turn = self.runtime.status_turn().await;
        let written = match self.runtime.ownership() {
            Some(o) => {
                let held: Vec<(Uuid, i64)> = bots
                    .iter()
                    .filter_map(|b| fences.get(&b.id).map(|f| (b.id, f.epoch)))
                    .collect();
                bots::set_status_fenced_many(&self.pool, o.name(), &held, status, now).await?
            }
            None => {
                let ids: Vec<Uuid> = bots.iter().map(|b| b.id).collect();
                bots::set_status_many(&self.pool, &ids, status, now).await?
            }
        };
        Ok(written.into_iter().collect())
    }

    /// RUNNING for the bots whose runners a batch started ([`Lifecycle::write_statuses`]): a
    /// bot another node took meanwhile is not written, and its runner here stops (the lease
    /// is forgotten). Answers the bots written.
    async fn write_running(
        &self,
        bots: &[&Bot],
        fences: &HashMap<Uuid, Fence>,
    ) -> Result<HashSet<Uuid>, sqlx::Error> {
        let owned: Vec<Bot> = bots.iter().map(|b| (*b).clone()).collect();
        let written = self
            .write_statuses(&owned, fences, BotStatus::Running)
            .await?;
        for bot in bots {
            if written.contains(&bot.id) {
                continue;
            }
            tracing::warn!(bot = %bot.id, "another node holds the bot now; stopping its runner here");
            self.runtime.release_runner(bot.id);
            if let (Some(o), Some(f)) = (self.runtime.ownership(), fences.get(&bot.id)) {
                o.lost(bot.id, f.epoch);
            }
        }
        Ok(written)
    }

    async fn release_all(&self, ids: &[Uuid]) {
        for id in ids {
            self.release(*id).await;
        }
    }

    /// Writes a batch's events in one insert and publishes them on the live stream; a failed
    /// write is logged (recording events never fails the action they describe).
    async fn events(&self, events: Vec<NewSystemEvent>) {
        if events.is_empty() {
            return;
        }
        let now = self.clock().now();
        let bus = self.runtime.bus();
        let stamped: Vec<_> = events
            .into_iter()
            .map(|mut e| {
                if e.node_id.is_none() {
                    e.node_id = bus.node().map(str::to_owned);
                }
                e.stamp(now)
            })
            .collect();
        match system_events::insert_many(&self.pool, &stamped).await {
            Ok(_) => {
                for e in &stamped {
                    bus.publish_system_event(&e.to_row());
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, events = stamped.len(), "could not record system events")
            }
        }
    }

    /// Whether a takeover failed for a reason that says nothing about the bot: the database
    /// (or the lease) went away, or this process is shutting down.
    fn retryable(err: &LifecycleError) -> bool {
        matches!(
            err,
            LifecycleError::Database(_)
                | LifecycleError::OwnedElsewhere { .. }
                | LifecycleError::RuntimeUnavailable
        )
    }
}
