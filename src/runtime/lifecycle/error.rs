//! Why a lifecycle action was refused or failed.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use super::safe_start::Failure;
use crate::{
    domain::{bot::BotStatus, risk::Stage},
    error_code::ErrorCode,
    runtime::RuntimeError,
    store::bots::Bot,
};

/// Every variant has its error code ([`LifecycleError::code`]), message, fix and details, so
/// a caller can show it as it is.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("no bot with id {0}")]
    BotNotFound(Uuid),
    /// The bot's status or stage does not allow the action (`INVALID_STATE_TRANSITION`).
    #[error("{message}")]
    InvalidTransition {
        message: String,
        fix: &'static str,
        bot_id: Uuid,
        status: BotStatus,
        stage: Stage,
    },
    /// A safe-start prerequisite is not met (the failure's own code).
    #[error("{}", .0.message)]
    Unsafe(Failure),
    /// Promotion refused: every unmet prerequisite of the target stage (`PROMOTION_GATE_FAILED`).
    #[error("promotion to {to} refused")]
    PromotionRefused {
        from: Stage,
        to: Stage,
        failed: Vec<Failure>,
    },
    /// The bot's breaker is open after repeated failures (`CIRCUIT_BREAKER_OPEN`).
    #[error("bot {bot_id}: circuit breaker open, retry after {retry_after:?}")]
    BreakerOpen { bot_id: Uuid, retry_after: Duration },
    /// Another node holds the bot's unexpired lease (`STALE_LEASE`): this node may not run it.
    #[error("bot {bot_id} is owned by node {node}")]
    OwnedElsewhere {
        bot_id: Uuid,
        node: String,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// No supervision tree runs in this process (`RUNTIME_UNAVAILABLE`).
    #[error("the runtime is not running")]
    RuntimeUnavailable,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The supervisor failed in a way no caller can act on (`INTERNAL`).
    #[error(transparent)]
    Runtime(RuntimeError),
}

impl LifecycleError {
    pub(super) fn transition(message: impl Into<String>, fix: &'static str, bot: &Bot) -> Self {
        LifecycleError::InvalidTransition {
            message: message.into(),
            fix,
            bot_id: bot.id,
            status: bot.status,
            stage: bot.stage,
        }
    }

    /// What the runtime's refusal means for `bot`.
    pub(super) fn of_runtime(err: RuntimeError, bot: &Bot) -> Self {
        match err {
            RuntimeError::NotRunning => LifecycleError::RuntimeUnavailable,
            RuntimeError::Killed(_, reason) => Self::transition(
                format!("The bot is KILLED ({reason}); a human re-arm is needed."),
                REARM_THEN_START,
                bot,
            ),
            RuntimeError::AlreadyRunning(_) => Self::transition(
                "The bot already has a runner.",
                "Stop it first, or use restart.",
                bot,
            ),
            RuntimeError::BreakerOpen(bot_id, retry_after) => LifecycleError::BreakerOpen {
                bot_id,
                retry_after,
            },
            RuntimeError::OwnedElsewhere {
                bot_id,
                node,
                expires_at,
            } => LifecycleError::OwnedElsewhere {
                bot_id,
                node,
                expires_at,
            },
            RuntimeError::Database(e) => LifecycleError::Database(e),
            other => LifecycleError::Runtime(other),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            LifecycleError::BotNotFound(_) => ErrorCode::BotNotFound,
            LifecycleError::InvalidTransition { .. } => ErrorCode::InvalidStateTransition,
            LifecycleError::Unsafe(f) => f.code,
            LifecycleError::PromotionRefused { .. } => ErrorCode::PromotionGateFailed,
            LifecycleError::BreakerOpen { .. } => ErrorCode::CircuitBreakerOpen,
            LifecycleError::OwnedElsewhere { .. } => ErrorCode::StaleLease,
            LifecycleError::RuntimeUnavailable => ErrorCode::RuntimeUnavailable,
            LifecycleError::Database(e) => crate::store::error_code(e),
            LifecycleError::Runtime(_) => ErrorCode::Internal,
        }
    }

    /// What to tell the operator (the code's own message where there is nothing more
    /// specific; never the internals of a database or supervisor failure).
    pub fn message(&self) -> String {
        match self {
            LifecycleError::BotNotFound(id) => format!("No bot with id {id} exists."),
            LifecycleError::InvalidTransition { message, .. } => message.clone(),
            LifecycleError::Unsafe(f) => f.message.clone(),
            LifecycleError::PromotionRefused { to, failed, .. } => {
                let codes: Vec<&str> = failed.iter().map(|f| f.code.as_str()).collect();
                format!("Promotion to {to} refused: {}.", codes.join(", "))
            }
            LifecycleError::BreakerOpen { .. } => {
                "The bot's circuit breaker is open after repeated failures.".to_owned()
            }
            LifecycleError::OwnedElsewhere { node, .. } => {
                format!("Node {node} holds this bot's lease; this node may not run it.")
            }
            LifecycleError::RuntimeUnavailable
            | LifecycleError::Database(_)
            | LifecycleError::Runtime(_) => self.code().message().to_owned(),
        }
    }

    pub fn suggested_fix(&self) -> String {
        match self {
            LifecycleError::InvalidTransition { fix, .. } => (*fix).to_owned(),
            LifecycleError::Unsafe(f) => f.suggested_fix.clone(),
            _ => self.code().suggested_fix().to_owned(),
        }
    }

    pub fn details(&self) -> Option<Value> {
        match self {
            LifecycleError::BotNotFound(id) => Some(json!({ "bot_id": id })),
            LifecycleError::InvalidTransition {
                bot_id,
                status,
                stage,
                ..
            } => Some(json!({ "bot_id": bot_id, "status": status, "stage": stage })),
            LifecycleError::Unsafe(f) => Some(f.details.clone()),
            LifecycleError::PromotionRefused { from, to, failed } => {
                Some(json!({ "from_stage": from, "to_stage": to, "failed": failed }))
            }
            LifecycleError::BreakerOpen {
                bot_id,
                retry_after,
            } => Some(json!({ "bot_id": bot_id, "retry_after_seconds": retry_after.as_secs() })),
            LifecycleError::OwnedElsewhere {
                bot_id,
                node,
                expires_at,
            } => Some(json!({ "bot_id": bot_id, "node": node, "lease_expires_at": expires_at })),
            LifecycleError::RuntimeUnavailable
            | LifecycleError::Database(_)
            | LifecycleError::Runtime(_) => None,
        }
    }
}

pub(super) const REARM_THEN_START: &str =
    "Resolve the kill cause, then POST /api/bots/{id}/rearm and start again.";
