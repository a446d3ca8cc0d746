//! Calls into the Providers subtree through each provider's actor (its breaker applies), and
//! the provider breakers' drills and resets.

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use serde_json::json;

use crate::domain::bars::Bar;
use crate::domain::breaker::BreakerState;
use crate::integrations::providers::VerifyReport;
use crate::runtime::providers::{self, ProviderMsg};
use crate::runtime::{
    BREAKER_CALL_TIMEOUT, BarsRequest, BreakerView, ProviderCallError, ProviderHealth,
    RuntimeHandle,
};
use crate::store::system_events::{NewSystemEvent, Severity};
use crate::trace::TraceId;

impl RuntimeHandle {
    /// A configured provider of the running tree.
    fn provider(&self, id: &str) -> Result<&Arc<providers::ProviderShared>, ProviderCallError> {
        if !self.inner.providers.running() {
            return Err(ProviderCallError::NotRunning);
        }
        self.inner.providers.get(id).ok_or_else(|| {
            if self.inner.integrations.client(id).is_some() {
                ProviderCallError::NotRunning
            } else {
                ProviderCallError::NotConfigured(id.to_owned())
            }
        })
    }

    /// The running actor of a configured provider.
    fn provider_actor(&self, id: &str) -> Result<ActorRef<ProviderMsg>, ProviderCallError> {
        let shared = self.provider(id)?;
        ractor::registry::where_is(self.inner.providers.actor_name(shared.id()))
            .map(Into::into)
            .ok_or(ProviderCallError::NotRunning)
    }

    pub(in crate::runtime) async fn provider_call<T: Send + 'static>(
        &self,
        id: &str,
        msg: impl FnOnce(ractor::RpcReplyPort<Result<T, ProviderCallError>>) -> ProviderMsg,
    ) -> Result<T, ProviderCallError> {
        let actor = self.provider_actor(id)?;
        // The actor's own time box ends the call first; this one only covers a lost actor.
        let limit = self.inner.provider_call_timeout + Duration::from_secs(1);
        match actor.call(msg, Some(limit)).await {
            Ok(ractor::rpc::CallResult::Success(r)) => r,
            Ok(ractor::rpc::CallResult::Timeout) => Err(ProviderCallError::Timeout(id.to_owned())),
            Ok(ractor::rpc::CallResult::SenderError) | Err(_) => {
                Err(ProviderCallError::ActorGone(id.to_owned()))
            }
        }
    }

    /// Runs `id`'s verify through its ProviderActor (its breaker applies). Returns the report
    /// and how long the verify took.
    pub async fn verify_provider(
        &self,
        id: &str,
    ) -> Result<(VerifyReport, Duration), ProviderCallError> {
        let trace = TraceId::current();
        self.provider_call(id, move |reply| ProviderMsg::Verify(trace, reply))
            .await
    }

    /// Fetches bars through `id`'s ProviderActor (its breaker applies) into `market_bars`.
    pub async fn fetch_bars(
        &self,
        id: &str,
        request: BarsRequest,
    ) -> Result<Vec<Bar>, ProviderCallError> {
        let trace = TraceId::current();
        self.provider_call(id, move |reply| {
            ProviderMsg::FetchBars(trace, Box::new(request), reply)
        })
        .await
    }

    /// Reads macro data through `id`'s ProviderActor (its breaker and usage events apply):
    /// `fmp` serves the economic calendar, `fred` series observations.
    pub async fn fetch_macro(
        &self,
        id: &str,
        request: super::providers::MacroRequest,
    ) -> Result<super::providers::MacroData, ProviderCallError> {
        let trace = TraceId::current();
        self.provider_call(id, move |reply| {
            ProviderMsg::FetchMacro(trace, Box::new(request), reply)
        })
        .await
    }

    /// Fault injection (tests, drills): `id`'s actor fails; the Providers supervisor restarts it.
    pub fn fail_provider(&self, id: &str, reason: &str) -> Result<(), ProviderCallError> {
        self.provider_actor(id)?
            .cast(ProviderMsg::Fail(reason.to_owned()))
            .map_err(|_| ProviderCallError::ActorGone(id.to_owned()))
    }

    /// A configured provider's published breaker state (CLOSED when it has none here).
    pub fn provider_breaker_state(&self, id: &str) -> crate::domain::breaker::BreakerState {
        self.inner
            .providers
            .get(id)
            .map(|p| p.breaker.reading().state().into())
            .unwrap_or_default()
    }

    /// Every configured provider's breaker and last results, from memory.
    pub fn providers_health(&self) -> Vec<ProviderHealth> {
        self.inner.providers.health()
    }

    /// Operator reset of `id`'s breaker to CLOSED (clears its failure window), through its
    /// breaker actor; recorded as a `CIRCUIT_BREAKER_RESET` system event naming `by`. The live
    /// call window starts afresh too, so the provider's health is UNKNOWN until a call proves
    /// it again (never CONNECTED on the word of a reset). Answers the breaker's new view.
    pub async fn reset_provider_breaker(
        &self,
        id: &str,
        by: &str,
    ) -> Result<BreakerView, ProviderCallError> {
        let shared = self.provider(id)?;
        let scope = providers::provider_scope(shared.id());
        let reset = shared
            .breaker
            .reset(BREAKER_CALL_TIMEOUT)
            .await
            .map_err(|_| ProviderCallError::Timeout(id.to_owned()))?;
        shared.forget_calls();
        let from = BreakerState::from(reset.from);
        self.inner.telemetry.system_event(
            NewSystemEvent::new(
                Severity::Info,
                "CIRCUIT_BREAKER_RESET",
                format!("circuit breaker {scope} reset by {by} (was {from})"),
            )
            .provider(shared.id())
            .metadata(json!({ "by": by, "from": from })),
        );
        Ok(BreakerView::of(scope, &reset.reading))
    }
}
