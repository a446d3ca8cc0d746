//! Commanding the Bots subtree's runners: start (under this node's lease), stop, kill, re-arm,
//! reload, and fault injection.

use std::time::Duration;

use ractor::ActorRef;
use serde_json::json;
use tradeplane_actors::{BreakerActor, Supervisor, SupervisorError};
use uuid::Uuid;

use crate::domain::bot::BotStatus;
use crate::runtime::events::bot_scope;
use crate::runtime::{
    BREAKER_CALL_TIMEOUT, Fault, RunnerMsg, RunnerOptions, RuntimeError, RuntimeHandle, bots,
    events, ownership, registry,
};
use crate::store::system_events::{NewSystemEvent, Severity};

impl RuntimeHandle {
    /// Starts a runner for `bot_id` under this node's lease on it. Refused when the bot is
    /// KILLED, already running, its breaker is OPEN, or another node holds its lease. The bot's breaker actor starts beside it (on the bot's first start).
    pub async fn start_runner(
        &self,
        bot_id: Uuid,
        options: RunnerOptions,
    ) -> Result<(), RuntimeError> {
        let bots = self.bots()?;
        let registry = &self.inner.registry;
        let startable = |slot: &registry::Slot| {
            if let Some(reason) = &slot.kill {
                return Err(RuntimeError::Killed(bot_id, reason.clone()));
            }
            if slot.status.is_live() {
                return Err(RuntimeError::AlreadyRunning(bot_id));
            }
            Ok(())
        };
        let (breaker, needs_permit) = registry.with_slot(bot_id, |slot| {
            startable(slot).map(|()| (slot.breaker.clone(), slot.permit.is_none()))
        })?;
        // A bot runs only on the node holding its lease (kept if this node holds it already).
        if let Some(ownership) = &self.inner.ownership {
            ownership.acquire(bot_id).await.map_err(|e| match e {
                ownership::AcquireError::HeldElsewhere {
                    bot_id,
                    node,
                    expires_at,
                } => RuntimeError::OwnedElsewhere {
                    bot_id,
                    node,
                    expires_at,
                },
                ownership::AcquireError::Db(e) => RuntimeError::Database(e),
            })?;
        }
        let breaker_child =
            BreakerActor::child_spec(events::breaker_child(&bot_scope(bot_id)), breaker.clone());
        match Supervisor::start_child(&bots, breaker_child).await {
            Ok(()) | Err(SupervisorError::AlreadyExists(_)) => {}
            Err(err) => return Err(err.into()),
        }
        let admitted = if needs_permit {
            Some(breaker.admit_in_order(BREAKER_CALL_TIMEOUT).await)
        } else {
            None
        };
        let max_bots = self.inner.max_bots;
        let shared = registry.with_slots(|slots| {
            // Counted only under a limit: a walk of every slot per start is quadratic in a fleet.
            let full = max_bots
                .filter(|&max| slots.values().filter(|s| s.status.is_live()).count() >= max);
            let slot = slots
                .get_mut(&bot_id)
                .ok_or(RuntimeError::NotFound(bot_id))?;
            // Again: a kill or another start may have come in meanwhile.
            startable(slot)?;
            if let Some(max) = full {
                let err = SupervisorError::MaxChildren(max);
                slot.status = BotStatus::Error;
                slot.permit = None;
                slot.last_error = Some(err.to_string());
                return Err(err.into());
            }
            match admitted {
                Some(Ok(p)) => {
                    slot.permit.get_or_insert(p);
                }
                Some(Err(open)) => return Err(RuntimeError::BreakerOpen(bot_id, open.retry_after)),
                None => {}
            }
            slot.refused = false;
            slot.status = BotStatus::Starting;
            slot.options = Some(options);
            slot.shared.reset_stuck();
            Ok(slot.shared.clone())
        });
        registry.mark_breaker(bot_id);
        registry.mark_bot(bot_id);
        let shared = shared?;
        let trading = self.inner.trading.clone().ok_or(RuntimeError::NotRunning)?;
        let spec = bots::runner_spec(
            bots::RunnerDeps {
                registry: registry.clone(),
                handle: self.clone(),
                trading,
            },
            bot_id,
            options.timeframe,
            shared,
            self.inner.ticks.clone(),
            &self.inner.runner,
        );
        if let Err(err) = Supervisor::start_child(&bots, spec).await {
            registry.with_slot(bot_id, |slot| {
                slot.status = BotStatus::Error;
                slot.permit = None;
                slot.last_error = Some(err.to_string());
            });
            registry.mark_bot(bot_id);
            return Err(err.into());
        }
        Ok(())
    }

    /// Reads what the runners of `bots` load at their start, for all of them at once (a
    /// resume or takeover batch, under leases this node holds), and hands it to them; undo with
    /// [`RuntimeHandle::forget_preloaded`] once they started. Without a runtime: nothing.
    pub(crate) async fn preload_runners(
        &self,
        bots: &[crate::store::bots::Bot],
    ) -> Result<(), sqlx::Error> {
        let Some(trading) = &self.inner.trading else {
            return Ok(());
        };
        let loaded = super::evaluator::Loaded::read_many(trading, bots, self.clock().now()).await?;
        trading.preload(loaded);
        Ok(())
    }

    /// Drops what [`RuntimeHandle::preload_runners`] read and no runner took.
    pub(crate) fn forget_preloaded(&self, bots: &[Uuid]) {
        if let Some(trading) = &self.inner.trading {
            trading.forget_preloaded(bots);
        }
    }

    /// Stops a runner (graceful, then killed after its shutdown timeout) and forgets it.
    pub async fn stop_runner(&self, bot_id: Uuid) -> Result<(), RuntimeError> {
        let bots = self.bots()?;
        match Supervisor::terminate_child(&bots, bot_scope(bot_id)).await {
            Ok(()) => Ok(()),
            Err(SupervisorError::NotFound(_)) => Err(RuntimeError::NotFound(bot_id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Stops the bot's runner without waiting (its lease is gone or let go); the bot's status
    /// is left to its new owner.
    pub(crate) fn release_runner(&self, bot_id: Uuid) {
        bots::terminate_runner(&self.inner.bots_name, bot_id);
    }

    /// Kill trigger (risk breach, supervision): stops the runner if any and latches KILLED
    /// until [`RuntimeHandle::rearm`]; the bot's risk is then removed in the background through
    /// the one path (`safety`: working orders cancelled under a new lease epoch). Never waits.
    pub fn kill(&self, bot_id: Uuid, reason: &str) {
        let registry = &self.inner.registry;
        registry.with_slot(bot_id, |slot| registry.latch_kill(slot, reason));
        registry.mark_bot(bot_id);
        bots::terminate_runner(&self.inner.bots_name, bot_id);
    }

    /// The kill of a caller that removes the bot's risk itself, at once (an operator's kill,
    /// the kill switch: `safety::remove_risk`): latches KILLED and stops the runner. Never
    /// waits.
    pub(crate) fn latch_kill(&self, bot_id: Uuid, reason: &str) {
        let registry = &self.inner.registry;
        registry.with_slot(bot_id, |slot| registry.latch_kill_only(slot, reason));
        registry.mark_bot(bot_id);
        bots::terminate_runner(&self.inner.bots_name, bot_id);
    }

    /// Human re-arm of a KILLED bot: clears the latch, resets its breaker and faults; the bot
    /// stays STOPPED until started again.
    pub async fn rearm(&self, bot_id: Uuid, by: &str) -> Result<(), RuntimeError> {
        let registry = &self.inner.registry;
        let was = registry.with_slots(|slots| {
            let slot = slots.get_mut(&bot_id)?;
            let reason = slot.kill.take()?;
            slot.refused = false;
            slot.status = BotStatus::Stopped;
            slot.permit = None;
            slot.shared.set_muted(false);
            slot.shared.reset_stuck();
            Some((reason, slot.breaker.clone()))
        });
        let Some((reason, breaker)) = was else {
            return Err(RuntimeError::NotKilled(bot_id));
        };
        registry.mark_bot(bot_id);
        breaker.reset(BREAKER_CALL_TIMEOUT).await?;
        registry.mark_breaker(bot_id);
        registry.event(
            NewSystemEvent::new(
                Severity::Info,
                "BOT_REARMED",
                format!("bot {bot_id} re-armed by {by}"),
            )
            .bot(bot_id)
            .metadata(json!({ "by": by, "kill_reason": reason })),
        );
        Ok(())
    }

    /// Fault injection (tests, drills).
    pub async fn inject_fault(&self, bot_id: Uuid, fault: Fault) -> Result<(), RuntimeError> {
        if let Fault::Mute(muted) = fault {
            let shared = self
                .inner
                .registry
                .with_slots(|slots| slots.get(&bot_id).map(|s| s.shared.clone()))
                .ok_or(RuntimeError::NotFound(bot_id))?;
            shared.set_muted(muted);
            return Ok(());
        }
        let bots = self.bots()?;
        let child = Supervisor::child(&bots, bot_scope(bot_id), Duration::from_secs(2))
            .await?
            .and_then(|c| c.cell)
            .ok_or(RuntimeError::NotFound(bot_id))?;
        let runner: ActorRef<RunnerMsg> = child.into();
        let msg = match fault {
            Fault::Fail(reason) => RunnerMsg::Fail(reason),
            Fault::Hang(d) => RunnerMsg::Hang(d),
            Fault::Mute(_) => return Ok(()),
        };
        runner.cast(msg).map_err(|_| RuntimeError::NotFound(bot_id))
    }

    /// Tells the bot's runner (if any) to re-read its settings: stage, limits, strategy.
    pub async fn bot_changed(&self, bot_id: Uuid) {
        let Ok(bots) = self.bots() else { return };
        if let Ok(Some(child)) =
            Supervisor::child(&bots, bot_scope(bot_id), Duration::from_secs(2)).await
            && let Some(cell) = child.cell
        {
            let runner: ActorRef<RunnerMsg> = cell.into();
            let _ = runner.cast(RunnerMsg::Reload);
        }
    }
}
