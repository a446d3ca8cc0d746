//! Kills and their latch: kill (with or without flatten), the global kill switch, the
//! acknowledgement of a killed bot's exposure and the re-arm that clears the latch.

use serde_json::json;
use uuid::Uuid;

use super::{Lifecycle, LifecycleError};
use crate::runtime::RuntimeError;
use crate::runtime::safety::{self, Removal, Source};
use crate::{
    domain::{bot::BotStatus, risk::Stage},
    store::{
        bots::{self, Bot},
        orders,
        settings::{self, KillSwitch},
        system_events::{NewSystemEvent, Severity},
    },
};

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

impl Lifecycle {
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
        self.runtime.apply_kill_switch(&after);
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
            change.removals = safety::remove_each(targets, Source::KillSwitch, |bot_id| {
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
            })
            .await;
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
            "exposure_left_bot_ids": change.removals.iter().filter(|r| r.exposure_left()).map(|r| r.bot_id).collect::<Vec<_>>(),
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
        // The KILLED bot's exposure is a SEV-1 blocker until flat or acknowledged; a re-arm
        // would end the blocker and leave the exposure behind a STOPPED bot with no runner.
        if bot.status == BotStatus::Killed {
            let held = bots::holding(&self.pool, id).await?;
            if !held.acknowledged && held.exposed() {
                return Err(LifecycleError::transition(
                    format!(
                        "The KILLED bot still holds {} contract(s) and {} open order(s); re-arming would hide that exposure.",
                        held.contracts, held.open_orders
                    ),
                    "Kill it again with flatten (POST /api/bots/{id}/kill with flatten: true), or acknowledge the exposure (POST /api/bots/{id}/acknowledge-exposure) to keep it on purpose, then re-arm.",
                    &bot,
                ));
            }
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
}
