//! The Providers supervisor: per configured provider, a [`BreakerActor`] and a
//! [`ProviderActor`] (siblings, one_for_one: neither's restart touches the other).
//!
//! Each provider has its [`ProviderClient`](crate::integrations::providers::ProviderClient)
//! and its breaker (scope `provider:<id>`, same defaults as the runners: 3 failures in 30 min,
//! 60 s cool-down). Every request (`verify`, `fetch_bars`) asks the breaker first: while it is
//! OPEN zero calls pass and the caller gets [`ProviderCallError::BreakerOpen`] without the
//! vendor being touched. The admission reads the breaker's published state (no round trip)
//! and asks its actor only for a HALF_OPEN probe; outcomes are cast, and the caller's reply
//! rides with the outcome, so a caller who got its answer sees the breaker's new state.
//!
//! Which results count against the breaker (the provider's fault): `unreachable` (incl.
//! timeouts), `provider_error` (5xx, malformed replies), `rate_limited`, and
//! `invalid_credentials` (a revoked key fails every call; opening stops us hammering the vendor
//! into lockouts or login penalties). A caller's bad input (HTTP 4xx other than 401/403/402/429,
//! an unsupported request) and a plan limit (`insufficient_plan`: the vendor answered) do not.
//!
//! A refused call writes one usage event (status ERROR, error_code `CIRCUIT_BREAKER_OPEN`,
//! metadata `refused: true`), as the call path already does for the calls its own rate limiter
//! refuses (`LOCAL_RATE_LIMITED`): every attempt to use a provider is on its record, and the
//! event says no vendor request was made.
//!
//! The breaker's published state and the health snapshot live in [`ProviderShared`] (outside
//! the actors), so they survive restarts and are readable without awaiting. Breaker changes are
//! saved to `circuit_breakers` by a writer task and restored on start (an unreadable snapshot
//! restores OPEN: fail closed). Transitions become `CIRCUIT_BREAKER_*` system events with
//! `provider_id`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ractor::{Actor, ActorCell, SpawnErr};
use sqlx::PgPool;
use tradeplane_actors::{
    Backoff, BreakerActor, ChildSpec, Restart, SharedSink, Strategy, SupervisorSpec,
};

use super::events::breaker_child;
pub use crate::integrations::bars::BarsRequest;

mod actor;
mod error;
mod messages;
mod set;
mod shared;
mod verdict;

pub use actor::{ProviderActor, ProviderArgs};
pub use error::ProviderCallError;
pub use messages::{
    BarsResult, GenerateRequest, GenerateResult, MacroData, MacroRequest, MacroResult, NewsRequest,
    NewsResult, ProviderMsg, VerifyResult,
};
pub use set::ProviderSet;
pub use shared::{ProviderHealth, ProviderShared};

/// The breaker scope (and child id) of a provider: `provider:<id>`.
pub fn provider_scope(id: &str) -> String {
    format!("provider:{id}")
}

/// Error code of a call refused by an OPEN breaker (usage events and the API).
pub const CIRCUIT_BREAKER_OPEN: &str = "CIRCUIT_BREAKER_OPEN";

#[derive(Debug, Clone)]
pub struct ProvidersConfig {
    /// Time box of one actor request (a verify, or a whole bars fetch with its pages).
    pub call_timeout: Duration,
    /// More than `intensity` actor restarts within `period` is a meltdown of the subtree.
    pub intensity: u32,
    pub period: Duration,
    pub backoff: Backoff,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(60),
            intensity: 20,
            period: Duration::from_secs(60),
            backoff: Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10)),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The Providers supervisor's spec: per configured provider, its breaker actor then its
/// provider actor (both permanent; the provider actor stops first).
pub fn supervisor_spec(
    set: &Arc<ProviderSet>,
    pool: &PgPool,
    config: &ProvidersConfig,
) -> SupervisorSpec {
    let mut spec =
        SupervisorSpec::new(Strategy::OneForOne).intensity(config.intensity, config.period);
    for shared in set.providers.values() {
        let scope = provider_scope(shared.id());
        spec = spec.child(BreakerActor::child_spec(
            breaker_child(&scope),
            shared.breaker.clone(),
        ));
        let (shared, pool, call_timeout) = (shared.clone(), pool.clone(), config.call_timeout);
        let name = set.actor_name(shared.id());
        let started = std::sync::atomic::AtomicBool::new(false);
        let child = ChildSpec::new(scope, move |sup: ActorCell| {
            if started.swap(true, std::sync::atomic::Ordering::Relaxed) {
                lock(&shared.health).restarts += 1;
            }
            let args = ProviderArgs {
                shared: shared.clone(),
                pool: pool.clone(),
                call_timeout,
            };
            let name = name.clone();
            async move {
                Actor::spawn_linked(Some(name), ProviderActor, args, sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            }
        })
        .restart(Restart::Permanent)
        .backoff(config.backoff);
        spec = spec.child(child);
    }
    spec
}

/// Spawns the Providers supervisor under `parent`.
pub async fn spawn_providers(
    name: String,
    spec: SupervisorSpec,
    sink: SharedSink,
    parent: ActorCell,
) -> Result<ActorCell, SpawnErr> {
    tradeplane_actors::Supervisor::spawn(Some(name), spec, sink, Some(parent))
        .await
        .map(|(r, _)| r.get_cell())
}
