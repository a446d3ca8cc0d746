//! The bot lifecycle (SPEC §2, §7): start, stop, restart, kill, re-arm, promote, and resume
//! after a process restart. Each action checks the bot's row and the runtime's runner, puts
//! safe start in front of every start, moves `bots.status`/`stage` and records the system
//! events that go with it. The API (which adds the audit entry with its caller) and the CLI
//! call this; a refusal is a [`LifecycleError`] carrying its error code.

mod batch;
mod desk;
mod error;
mod kill;
mod promotion;
mod resume;
mod safe_start;
mod takeover;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

pub use desk::{BULK_MAX, BulkAction, BulkError, BulkOutcome, bulk_targets};
pub use error::LifecycleError;
pub use kill::{KillSwitchChange, Killed};
pub use promotion::Promotion;
pub use resume::ResumeReport;
pub use safe_start::Failure;

use super::ownership::AcquireError;
use super::{RunnerOptions, RuntimeError, RuntimeHandle};
use crate::{
    bus::EventBus,
    clock::Clock,
    domain::{bot::BotStatus, risk::Stage},
    integrations::Integrations,
    store::{
        bot_leases::Fence,
        bots::{self, Bot},
        system_events::{self, NewSystemEvent, SystemEvent},
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
}
