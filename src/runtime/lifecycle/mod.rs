//! The bot lifecycle (SPEC §2, §7): start, stop, restart, kill, re-arm, promote, and resume
//! after a process restart. Each action checks the bot's row and the runtime's runner, puts
//! safe start in front of every start, moves `bots.status`/`stage` and records the system
//! events that go with it. The API (which adds the audit entry with its caller) and the CLI
//! call this; a refusal is a [`LifecycleError`] carrying its error code.

mod error;
mod promotion;
mod safe_start;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

pub use error::LifecycleError;
pub use promotion::Promotion;
pub use safe_start::Failure;

use super::ownership::AcquireError;
use super::{RunnerOptions, RuntimeError, RuntimeHandle};
use crate::{
    bus::EventBus,
    clock::Clock,
    domain::{bot::BotStatus, risk::Stage},
    error_code::ErrorCode,
    integrations::Integrations,
    store::{
        bots::{self, Bot},
        system_events::{self, NewSystemEvent, Severity, SystemEvent},
    },
};
use error::REARM_THEN_START;

/// What the lifecycle acts on. Cheap to clone.
#[derive(Clone)]
pub struct Lifecycle {
    pool: PgPool,
    runtime: RuntimeHandle,
    /// The configured providers safe start checks (the runtime's, or an explicit set for a
    /// detached runtime).
    integrations: Arc<Integrations>,
}

/// A bot killed by an operator, and the reason recorded with the latch.
#[derive(Debug, Clone)]
pub struct Killed {
    pub bot: Bot,
    pub reason: String,
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
        match self
            .safe_start_failures(bot.stage, bot.is_trading_enabled)
            .await?
            .into_iter()
            .next()
        {
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
    /// restart, resume and takeover. A runner that does not start lets the lease go.
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
        self.require_safe_start(&bot).await?;
        self.stop_runner(&bot).await?;
        let stopped = self.set_status(id, BotStatus::Stopped).await?;
        self.safe_start(&stopped).await
    }

    /// Kills the bot: stops its runner and latches KILLED until an admin re-arms it. `reason`
    /// (trimmed, at most 500 characters) defaults to "killed by `by`". Records SEV-1
    /// `BOT_KILLED`.
    pub async fn kill(
        &self,
        id: Uuid,
        reason: Option<&str>,
        by: &str,
    ) -> Result<Killed, LifecycleError> {
        self.load(id).await?;
        let reason = reason
            .map(|r| r.trim().chars().take(500).collect::<String>())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| format!("killed by {by}"));
        self.runtime.kill(id, &reason);
        let bot = self.set_status(id, BotStatus::Killed).await?;
        self.release(id).await;
        self.event(
            NewSystemEvent::new(
                Severity::Sev1,
                "BOT_KILLED",
                format!("bot {id} killed by {by}: {reason}"),
            )
            .bot(id)
            .metadata(json!({ "by": by, "reason": reason, "source": "operator" })),
        )
        .await;
        Ok(Killed { bot, reason })
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
        for id in bots::active_ids(&self.pool).await? {
            let Some(bot) = bots::get(&self.pool, id).await? else {
                continue;
            };
            match self.acquire(&bot).await {
                Ok(()) => {}
                Err(LifecycleError::OwnedElsewhere { .. }) => {
                    report.owned_elsewhere.push(id);
                    continue;
                }
                Err(LifecycleError::Database(e)) => return Err(e),
                Err(_) => {}
            }
            let Some(bot) = self.write_status(id, BotStatus::Stopped).await? else {
                continue;
            };
            let stage = bot.stage;
            let event = match self.safe_start(&bot).await {
                Ok(_) => {
                    report.resumed.push(id);
                    NewSystemEvent::new(
                        Severity::Info,
                        "BOT_RESUMED",
                        format!("bot {id} ({stage}) resumed after restart"),
                    )
                    .metadata(json!({ "stage": stage }))
                }
                Err(err) => {
                    let code = err.code();
                    report.refused.push((id, code));
                    self.release(id).await;
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
                }
            };
            self.event(event.bot(id)).await;
        }
        if let Some(ownership) = self.runtime.ownership() {
            ownership.start_claiming();
        }
        Ok(report)
    }

    /// Takes over a bot whose lease this node just claimed (its node died, stopped or let it
    /// go): through safe start like a resume. Refused → STOPPED, lease let go, SEV-2
    /// `BOT_RESUME_REFUSED`; else INFO `BOT_TAKEN_OVER` naming the previous node.
    pub async fn take_over(&self, id: Uuid, from: Option<&str>) {
        let node = self.runtime.ownership().map(|o| o.name().to_owned());
        let bot = match bots::get(&self.pool, id).await {
            Ok(Some(bot)) => bot,
            Ok(None) => return self.release(id).await,
            Err(err) => {
                tracing::warn!(error = %err, bot = %id, "takeover: cannot read the bot; letting its lease go");
                return self.release(id).await;
            }
        };
        let stage = bot.stage;
        let event = match self.safe_start(&bot).await {
            Ok(_) => NewSystemEvent::new(
                Severity::Info,
                "BOT_TAKEN_OVER",
                format!(
                    "bot {id} ({stage}) taken over by node {} from {}",
                    node.as_deref().unwrap_or("?"),
                    from.unwrap_or("a released lease")
                ),
            )
            .metadata(json!({ "stage": stage, "node": node, "from_node": from })),
            // This process is shutting down (its tree is gone): the bot is not refused, only
            // not runnable here; let the lease go for another node, the status stays.
            Err(err) if err.code() == ErrorCode::RuntimeUnavailable => {
                tracing::info!(bot = %id, "takeover while shutting down: letting the lease go");
                return self.release(id).await;
            }
            Err(err) => {
                let code = err.code();
                if let Err(e) = self.write_status(id, BotStatus::Stopped).await {
                    tracing::warn!(error = %e, bot = %id, "takeover refused; could not write STOPPED");
                }
                self.release(id).await;
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
                    "suggested_fix": err.suggested_fix(), "node": node, "from_node": from,
                }))
            }
        };
        self.event(event.bot(id)).await;
    }
}
