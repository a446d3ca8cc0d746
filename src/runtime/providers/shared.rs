//! One provider's shared slot ([`ProviderShared`]: client, breaker, health) outside its actors:
//! call admission and settlement, and the health snapshot the API reads without awaiting.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use tradeplane_actors::{Permit, Report, SharedBreaker};
use utoipa::ToSchema;

use super::verdict::{Verdict, verdict_of};
use super::{CIRCUIT_BREAKER_OPEN, ProviderCallError, lock, provider_scope};
use crate::domain::breaker;
use crate::domain::provider::{CallWindow, LiveHealth};
use crate::integrations::{http::CallContext, outcome::Failure, providers::ProviderClient};
use crate::runtime::BREAKER_CALL_TIMEOUT;
use crate::runtime::registry::BreakerView;
use crate::store::usage_events::{UsageEvent, UsageStatus};

/// What the API shows of one provider actor (read without awaiting).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderHealth {
    pub provider_id: String,
    pub breaker_state: breaker::BreakerState,
    pub failures_in_window: usize,
    pub last_ok_at: Option<DateTime<Utc>>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_error_code: Option<String>,
    /// Calls refused by the open breaker since start.
    pub refused: u64,
    pub restarts: u32,
    /// Calls that counted in the last 15 minutes (successes and the provider's failures).
    pub recent_calls: usize,
    /// Of those, the successes.
    pub recent_ok: usize,
    /// Their success rate, 0–1; `null` without calls in the window.
    pub success_rate: Option<f64>,
    /// The message of the latest error (`last_error_code`), secrets redacted.
    pub last_error_message: Option<String>,
    /// The live verdict from the breaker and the recent calls ([`LiveHealth::classify`]).
    pub health: LiveHealth,
}

impl ProviderHealth {
    /// Not usable now: its breaker is not CLOSED, or most of its recent calls failed.
    pub fn failing(&self) -> bool {
        self.health == LiveHealth::Failing
    }
}

pub(super) struct Health {
    pub(super) last_ok_at: Option<DateTime<Utc>>,
    pub(super) last_error_at: Option<DateTime<Utc>>,
    pub(super) last_error_code: Option<String>,
    pub(super) last_error_message: Option<String>,
    pub(super) refused: u64,
    pub(super) restarts: u32,
    pub(super) window: CallWindow,
}

/// One provider's client, breaker and health: shared by its actors (every instance) and readers.
pub struct ProviderShared {
    pub client: Arc<ProviderClient>,
    pub breaker: Arc<SharedBreaker>,
    pub(super) health: Mutex<Health>,
}

impl ProviderShared {
    pub fn id(&self) -> &'static str {
        self.client.id()
    }

    /// A permit for one call, or the refusal (recorded as a usage event, no vendor request).
    pub(super) async fn admit(
        &self,
        action: &str,
        status: UsageStatus,
        ctx: CallContext,
    ) -> Result<Permit, ProviderCallError> {
        let refused = match self.breaker.admit(BREAKER_CALL_TIMEOUT).await {
            Ok(p) => return Ok(p),
            Err(open) => open,
        };
        lock(&self.health).refused += 1;
        let mut event =
            UsageEvent::new(self.id(), action, status, 0, self.client.http.clock().now());
        event.bot_id = ctx.bot_id;
        event.run_id = ctx.run_id;
        event.error_code = Some(CIRCUIT_BREAKER_OPEN.to_owned());
        event.metadata = json!({
            "refused": true,
            "breaker_state": breaker::BreakerState::from(refused.state),
            "retry_after_ms": u64::try_from(refused.retry_after.as_millis()).unwrap_or(u64::MAX),
        });
        self.client.http.record_event(event);
        Err(ProviderCallError::BreakerOpen {
            provider: self.id().to_owned(),
            retry_after: refused.retry_after,
        })
    }

    /// Returns the permit with the call's verdict. `reply` answers the caller once the breaker
    /// has recorded it, so the caller sees the breaker's new state.
    pub(super) fn settle(
        &self,
        permit: Permit,
        verdict: Verdict,
        error: Option<(&str, &str)>,
        reply: impl FnOnce() + Send + 'static,
    ) {
        {
            let now = self.client.http.clock().now();
            let mut h = lock(&self.health);
            match verdict {
                Verdict::Ok => {
                    h.last_ok_at = Some(now);
                    h.window.record(now, true);
                }
                Verdict::Failed | Verdict::Neutral => {
                    if verdict == Verdict::Failed {
                        h.window.record(now, false);
                    }
                    if let Some((code, message)) = error {
                        h.last_error_at = Some(now);
                        h.last_error_code = Some(code.to_owned());
                        h.last_error_message = Some(message.to_owned());
                    }
                }
            }
        }
        let report = match verdict {
            Verdict::Ok | Verdict::Neutral => Report::Success(permit),
            Verdict::Failed => Report::Failure(permit),
        };
        self.breaker.report_then(report, move |_| reply());
    }

    /// A permit for one vendor call made outside the provider actor (a broker session's
    /// heartbeat and login, `runtime::brokers`): the same breaker and the same refusal record
    /// as the actor's calls.
    pub async fn admit_call(&self, action: &str) -> Result<Permit, ProviderCallError> {
        self.admit(action, UsageStatus::Error, CallContext::default())
            .await
    }

    /// Settles an [`ProviderShared::admit_call`] permit with the call's result (counted on the
    /// breaker and the live call window as the actor's calls are).
    pub fn settle_call(&self, permit: Permit, result: Result<(), &Failure>) {
        let (verdict, error) = match result {
            Ok(()) => (Verdict::Ok, None),
            Err(f) => (
                verdict_of(f.outcome, Some(f.code)),
                Some((f.code, f.message.as_str())),
            ),
        };
        self.settle(permit, verdict, error, || {});
    }

    pub fn health(&self) -> ProviderHealth {
        let reading = self.breaker.reading();
        let h = lock(&self.health);
        let rate = h.window.rate(self.client.http.clock().now());
        ProviderHealth {
            provider_id: self.id().to_owned(),
            breaker_state: reading.state().into(),
            failures_in_window: reading.failures_in_window(),
            last_ok_at: h.last_ok_at,
            last_error_at: h.last_error_at,
            last_error_code: h.last_error_code.clone(),
            refused: h.refused,
            restarts: h.restarts,
            recent_calls: rate.calls,
            recent_ok: rate.ok,
            success_rate: rate.success_rate(),
            last_error_message: h.last_error_message.clone(),
            health: LiveHealth::classify(true, Some(reading.state().into()), rate),
        }
    }

    /// Starts the live call window afresh (an operator's breaker reset): what failed before the
    /// fix no longer speaks for the provider; the next calls do.
    pub fn forget_calls(&self) {
        lock(&self.health).window = CallWindow::default();
    }

    pub(super) fn breaker_view(&self) -> BreakerView {
        BreakerView::of(provider_scope(self.id()), &self.breaker.reading())
    }
}
