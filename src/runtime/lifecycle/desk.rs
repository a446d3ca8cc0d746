//! The desk's controls on one bot or many (issue 20 part 3): cancel working orders, close the
//! position, start/stop a selection of bots, archive and un-archive. The API adds its caller's
//! checks (role, 2FA step-up) and the audit entry; the rules are here.
//!
//! - **cancel orders** and **close position** go through the one risk-removal path
//!   (`safety::remove_risk`, sources `OPERATOR_CANCEL` / `OPERATOR_CLOSE`): the bot's working
//!   orders are cancelled (LIVE at the broker first) and, for a close, the position is closed
//!   with a market order — PAPER and SHADOW filled like a kill's flatten (the newest stored bar's
//!   close ± slippage), LIVE closed at the broker exactly as the kill's flatten is
//!   (`live_flatten`; `BROKER_PENDING` without a broker session). The bot
//!   keeps its status: a runner of the bot on this node is stopped around the action (its
//!   evaluation finishes first) and started again after under the same lease, so it restores
//!   the changed ledger; its strategy may open a new position at its next signal (to stop it
//!   too: kill and flatten). A bot another node runs is not touched (`not_done` names the node).
//! - **bulk** start/stop runs the same `start` / `stop` as one bot, per bot, and reports each.
//! - **archive**: STOPPED bots that hold nothing (no position, no open order) only; the bot and
//!   its history stay, it leaves the default bot list, and it cannot start until un-archived.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Lifecycle, LifecycleError};
use crate::{
    domain::{bot::BotStatus, risk::Stage},
    error_code::ErrorCode,
    runtime::{
        RunnerOptions,
        reconciliation_actions::restart_runner,
        safety::{self, Removal, Source},
    },
    store::{
        bots::{self, Bot},
        system_events::{NewSystemEvent, Severity},
    },
};

/// Most bots one bulk request may name.
pub const BULK_MAX: usize = 200;

/// A bulk action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    Start,
    Stop,
}

/// Why one bot of a bulk request was refused: as a single request would have answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkError {
    #[schema(value_type = String)]
    pub code: ErrorCode,
    pub message: String,
    pub suggested_fix: String,
}

/// One bot's outcome in a bulk request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkOutcome {
    pub bot_id: Uuid,
    pub ok: bool,
    /// The bot after the action (also after a refusal, when it exists).
    pub bot: Option<Bot>,
    pub error: Option<BulkError>,
}

/// The ids of a bulk request, checked: 1 to [`BULK_MAX`], each once (first occurrence kept).
pub fn bulk_targets(ids: &[Uuid]) -> Result<Vec<Uuid>, String> {
    if ids.is_empty() {
        return Err("must name at least one bot".into());
    }
    if ids.len() > BULK_MAX {
        return Err(format!(
            "may name at most {BULK_MAX} bots, not {}",
            ids.len()
        ));
    }
    let mut out: Vec<Uuid> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(id) {
            out.push(*id);
        }
    }
    Ok(out)
}

impl Lifecycle {
    /// Whether closing this bot's position needs a recent 2FA step-up: a LIVE position is
    /// closed by a real market order.
    pub async fn close_needs_step_up(&self, id: Uuid) -> Result<bool, LifecycleError> {
        Ok(self.load(id).await?.stage == Stage::Live)
    }

    /// Cancels the bot's working orders (module docs). Its position stays.
    pub async fn cancel_orders(&self, id: Uuid, by: &str) -> Result<Removal, LifecycleError> {
        self.desk_removal(id, Source::OperatorCancel, by).await
    }

    /// Cancels the bot's working orders and closes its position (module docs).
    pub async fn close_position(&self, id: Uuid, by: &str) -> Result<Removal, LifecycleError> {
        self.desk_removal(id, Source::OperatorClose, by).await
    }

    async fn desk_removal(
        &self,
        id: Uuid,
        source: Source,
        by: &str,
    ) -> Result<Removal, LifecycleError> {
        let bot = self.load(id).await?;
        // A runner here is stopped first (its evaluation finishes; its lease stays here) and
        // started again after, restoring the ledger the action changed.
        let restart = self
            .runtime
            .runner(bot.id)
            .filter(|r| r.kill_reason.is_none() && r.status.is_live())
            .map(|r| RunnerOptions {
                timeframe: r.timeframe.unwrap_or(bot.timeframe),
                live: r.live,
            });
        if restart.is_some() {
            self.stop_runner(&bot).await?;
        }
        let reason = match source {
            Source::OperatorClose => format!("position closed by {by}"),
            _ => format!("working orders cancelled by {by}"),
        };
        let removal = safety::remove_risk(
            &self.runtime,
            &self.pool,
            safety::Request {
                bot_id: id,
                source,
                reason,
                by: by.to_owned(),
                flatten: source == Source::OperatorClose,
            },
        )
        .await;
        if let Some(options) = restart {
            restart_runner(&self.runtime, id, options).await;
        }
        Ok(removal?)
    }

    /// Starts or stops each bot in turn, as one request for it would (`start` runs safe
    /// start; an archived bot is refused). Never fails as a whole on one bot's refusal.
    pub async fn bulk(
        &self,
        action: BulkAction,
        ids: &[Uuid],
    ) -> Result<Vec<BulkOutcome>, LifecycleError> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let done = match action {
                BulkAction::Start => self.start(id).await,
                BulkAction::Stop => self.stop(id).await,
            };
            out.push(match done {
                Ok(bot) => BulkOutcome {
                    bot_id: id,
                    ok: true,
                    bot: Some(bot),
                    error: None,
                },
                // The database gone fails the whole request (the rest would fail the same way).
                Err(LifecycleError::Database(e)) => return Err(e.into()),
                Err(err) => BulkOutcome {
                    bot_id: id,
                    ok: false,
                    bot: bots::get(&self.pool, id).await?,
                    error: Some(BulkError {
                        code: err.code(),
                        message: err.message(),
                        suggested_fix: err.suggested_fix(),
                    }),
                },
            });
        }
        Ok(out)
    }

    /// Archives a STOPPED bot that holds nothing (module docs); an archived bot is returned as
    /// it is. INFO `BOT_ARCHIVED`.
    pub async fn archive(&self, id: Uuid, by: &str) -> Result<Bot, LifecycleError> {
        let bot = self.load(id).await?;
        if bot.archived_at.is_some() {
            return Ok(bot);
        }
        if bot.status != BotStatus::Stopped {
            return Err(LifecycleError::transition(
                format!(
                    "Only a STOPPED bot can be archived; this one is {}.",
                    bot.status
                ),
                "Stop the bot first (a KILLED bot: remove its exposure, then re-arm it).",
                &bot,
            ));
        }
        let held = bots::holding(&self.pool, id).await?;
        if held.exposed() {
            return Err(LifecycleError::transition(
                format!(
                    "The bot still holds {} contract(s) and {} open order(s); archiving would hide that exposure.",
                    held.contracts, held.open_orders
                ),
                "Close its position and cancel its orders first (POST /api/bots/{id}/close-position).",
                &bot,
            ));
        }
        let archived = bots::archive(&self.pool, id, by, self.clock().now())
            .await?
            .ok_or_else(|| {
                LifecycleError::transition(
                    "The bot was started meanwhile; only a STOPPED bot can be archived.",
                    "Stop the bot first.",
                    &bot,
                )
            })?;
        self.event(
            NewSystemEvent::new(
                Severity::Info,
                "BOT_ARCHIVED",
                format!("bot {} ({id}) archived by {by}", bot.name),
            )
            .bot(id)
            .metadata(json!({ "by": by })),
        )
        .await;
        Ok(archived)
    }

    /// Un-archives a bot (back in the default list, startable); a bot not archived is
    /// returned as it is. INFO `BOT_UNARCHIVED`.
    pub async fn unarchive(&self, id: Uuid, by: &str) -> Result<Bot, LifecycleError> {
        let bot = self.load(id).await?;
        if bot.archived_at.is_none() {
            return Ok(bot);
        }
        let bot = bots::unarchive(&self.pool, id, self.clock().now())
            .await?
            .ok_or(LifecycleError::BotNotFound(id))?;
        self.event(
            NewSystemEvent::new(
                Severity::Info,
                "BOT_UNARCHIVED",
                format!("bot {} ({id}) un-archived by {by}", bot.name),
            )
            .bot(id)
            .metadata(json!({ "by": by })),
        )
        .await;
        Ok(bot)
    }

    /// An archived bot may not start (nor restart) until un-archived.
    pub(super) fn refuse_archived(bot: &Bot) -> Result<(), LifecycleError> {
        if bot.archived_at.is_some() {
            return Err(LifecycleError::transition(
                "The bot is archived.",
                "Un-archive it first (POST /api/bots/{id}/unarchive).",
                bot,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_targets_are_one_to_two_hundred_distinct_ids() {
        assert!(bulk_targets(&[]).is_err());
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert_eq!(bulk_targets(&[a, b, a]).unwrap(), vec![a, b]);
        let many: Vec<Uuid> = (0..=BULK_MAX).map(|_| Uuid::now_v7()).collect();
        let err = bulk_targets(&many).unwrap_err();
        assert!(err.contains("at most 200"), "{err}");
        assert_eq!(bulk_targets(&many[..BULK_MAX]).unwrap().len(), BULK_MAX);
    }
}
