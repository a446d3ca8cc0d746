//! The Providers supervisor: per configured provider, a [`BreakerActor`] and a
//! [`ProviderActor`] (siblings, one_for_one: neither's restart touches the other).
//!
//! Each provider has its [`ProviderClient`] and its breaker (scope `provider:<id>`, same
//! defaults as the runners: 3 failures in 30 min, 60 s cool-down). Every request (`verify`,
//! `fetch_bars`) asks the breaker first: while it is OPEN zero calls pass and the caller gets
//! [`ProviderCallError::BreakerOpen`] without the vendor being touched. The admission reads the
//! breaker's published state (no round trip) and asks its actor only for a HALF_OPEN probe;
//! outcomes are cast, and the caller's reply rides with the outcome, so a caller who got its
//! answer sees the breaker's new state.
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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::{Notify, mpsc::UnboundedSender, watch};
use tradeplane_actors::{
    Backoff, BreakerActor, BreakerConfig, BreakerSnapshot, BreakerState, ChildSpec, CircuitBreaker,
    Clock, Permit, Report, Restart, SharedBreaker, SharedSink, Strategy, SupervisorSpec,
};
use utoipa::ToSchema;

use super::BREAKER_CALL_TIMEOUT;
use super::events::{breaker_child, trace_capture};
use super::registry::BreakerView;
use crate::domain::provider::{CallWindow, LiveHealth, Outcome};
use crate::domain::{ai::Prompt, bars::Bar, breaker, news::NewsItem};
pub use crate::integrations::bars::BarsRequest;
use crate::integrations::{
    Integrations,
    bars::{self, BarsError},
    http::CallContext,
    outcome::{Failure, codes},
    providers::{
        self, ProviderClient, VerifyReport, finnhub_news,
        llm::{self, Completion, GenerateOptions},
        macro_data,
    },
    registry::Category,
};
use crate::store::{
    circuit_breakers::{self, BreakerSave},
    usage_events::{UsageEvent, UsageStatus},
};
use crate::trace::TraceId;
use crate::{
    domain::{economic_calendar::EconomicEvent, strategy_filters::MacroSeries},
    store::macro_data::Observation,
};

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

#[derive(Debug, thiserror::Error)]
pub enum ProviderCallError {
    #[error("the runtime is not running")]
    NotRunning,
    #[error("{0} is not configured")]
    NotConfigured(String),
    #[error("{provider}: circuit breaker open, retry after {retry_after:?}")]
    BreakerOpen {
        provider: String,
        retry_after: Duration,
    },
    #[error("{0}: no answer within the call time box")]
    Timeout(String),
    #[error("{0}: the provider actor stopped before answering")]
    ActorGone(String),
    #[error(transparent)]
    Bars(#[from] BarsError),
    #[error("{provider}: {} ({})", .failure.code, .failure.message)]
    Vendor { provider: String, failure: Failure },
    #[error("{0} is not an LLM provider")]
    NotAnLlm(String),
    #[error("{0} does not serve this macro-data request")]
    NotMacro(String),
}

impl ProviderCallError {
    /// The stable code a usage event or an attempt list shows for this error.
    pub fn code(&self) -> &str {
        match self {
            ProviderCallError::NotRunning | ProviderCallError::ActorGone(_) => {
                "RUNTIME_UNAVAILABLE"
            }
            ProviderCallError::NotConfigured(_) => "NOT_CONFIGURED",
            ProviderCallError::BreakerOpen { .. } => CIRCUIT_BREAKER_OPEN,
            ProviderCallError::Timeout(_) => codes::TIMEOUT,
            ProviderCallError::Bars(BarsError::Provider(f)) => f.code,
            ProviderCallError::Bars(_) => "BARS_FAILED",
            ProviderCallError::Vendor { failure, .. } => failure.code,
            ProviderCallError::NotAnLlm(_) => "NOT_AN_LLM",
            ProviderCallError::NotMacro(_) => "NOT_A_MACRO_PROVIDER",
        }
    }
}

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

struct Health {
    last_ok_at: Option<DateTime<Utc>>,
    last_error_at: Option<DateTime<Utc>>,
    last_error_code: Option<String>,
    last_error_message: Option<String>,
    refused: u64,
    restarts: u32,
    window: CallWindow,
}

/// One provider's client, breaker and health: shared by its actors (every instance) and readers.
pub struct ProviderShared {
    pub client: Arc<ProviderClient>,
    pub breaker: Arc<SharedBreaker>,
    health: Mutex<Health>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How a finished call counts on the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    /// The provider's fault: counts.
    Failed,
    /// Not the provider's fault (the caller's input, a plan limit, our database): the vendor
    /// answered, so the permit is returned as a success.
    Neutral,
}

fn verdict_of(outcome: Outcome, code: Option<&str>) -> Verdict {
    match outcome {
        Outcome::Ok => Verdict::Ok,
        Outcome::ProviderError if code == Some(codes::PROVIDER_HTTP_4XX) => Verdict::Neutral,
        Outcome::Unreachable
        | Outcome::ProviderError
        | Outcome::RateLimited
        | Outcome::InvalidCredentials => Verdict::Failed,
        Outcome::InsufficientPlan | Outcome::Unverifiable => Verdict::Neutral,
    }
}

/// The call's permit and reply port, or `None` once the caller has been answered with the
/// breaker's refusal.
async fn admitted_or_refuse<T>(
    trace: TraceId,
    admitted: impl std::future::Future<Output = Result<Permit, ProviderCallError>>,
    reply: RpcReplyPort<Result<T, ProviderCallError>>,
) -> Option<(Permit, RpcReplyPort<Result<T, ProviderCallError>>)> {
    match trace.scope(admitted).await {
        Ok(permit) => Some((permit, reply)),
        Err(e) => {
            let _ = reply.send(Err(e));
            None
        }
    }
}

/// Runs one plain vendor read (no cache, no database) under the call timeout and settles its
/// permit: a vendor failure counts by its outcome, a timeout as a failure.
fn spawn_vendor_read<T: Send + 'static>(
    state: &ProviderArgs,
    trace: TraceId,
    permit: Permit,
    call: impl std::future::Future<Output = Result<T, Failure>> + Send + 'static,
    timeout_message: &'static str,
    reply: RpcReplyPort<Result<T, ProviderCallError>>,
) {
    let (shared, limit) = (state.shared.clone(), state.call_timeout);
    tokio::spawn(trace.scope(async move {
        let (result, verdict, code) = match tokio::time::timeout(limit, call).await {
            Ok(Ok(data)) => (Ok(data), Verdict::Ok, None),
            Ok(Err(f)) => {
                let verdict = verdict_of(f.outcome, Some(f.code));
                let code = (f.code, f.message.clone());
                let provider = shared.id().to_owned();
                (
                    Err(ProviderCallError::Vendor {
                        provider,
                        failure: f,
                    }),
                    verdict,
                    Some(code),
                )
            }
            Err(_) => (
                Err(ProviderCallError::Timeout(shared.id().to_owned())),
                Verdict::Failed,
                Some((codes::TIMEOUT, timeout_message.to_owned())),
            ),
        };
        let error = code.as_ref().map(|(c, m)| (*c, m.as_str()));
        shared.settle(permit, verdict, error, move || {
            let _ = reply.send(result);
        });
    }));
}

impl ProviderShared {
    pub fn id(&self) -> &'static str {
        self.client.id()
    }

    /// A permit for one call, or the refusal (recorded as a usage event, no vendor request).
    async fn admit(
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
    fn settle(
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

    fn breaker_view(&self) -> BreakerView {
        BreakerView::of(provider_scope(self.id()), &self.breaker.reading())
    }
}

/// Provider breaker rows to write, and who to tell of a state change; shared with the
/// breakers, which report their own changes.
#[derive(Clone, Default)]
struct BreakerMarks {
    dirty: Arc<Mutex<HashSet<&'static str>>>,
    notify: Arc<Notify>,
    /// The breaker state last reported to the health watch, per provider.
    reported: Arc<Mutex<HashMap<&'static str, BreakerState>>>,
    /// Told `None` ("re-score every bot") when a provider breaker changes state.
    health_watch: Arc<OnceLock<UnboundedSender<Option<uuid::Uuid>>>>,
}

impl BreakerMarks {
    fn mark(&self, id: &'static str, state: BreakerState) {
        lock(&self.dirty).insert(id);
        self.notify.notify_one();
        let moved = lock(&self.reported)
            .insert(id, state)
            .unwrap_or(BreakerState::Closed)
            != state;
        if moved && let Some(tx) = self.health_watch.get() {
            let _ = tx.send(None);
        }
    }
}

/// Every configured provider's shared state, and the breaker writer's bookkeeping.
pub struct ProviderSet {
    providers: BTreeMap<&'static str, Arc<ProviderShared>>,
    marks: BreakerMarks,
    /// Registered name prefix of the actors (`<prefix>.<id>`).
    names: String,
}

impl ProviderSet {
    /// Builds one shared slot per configured provider, restoring persisted breakers.
    pub async fn restore(
        integrations: &Integrations,
        pool: &PgPool,
        breaker: BreakerConfig,
        clock: Clock,
        sink: SharedSink,
        names: String,
    ) -> Result<Self, sqlx::Error> {
        let rows: BTreeMap<String, serde_json::Value> = circuit_breakers::all(pool)
            .await?
            .into_iter()
            .filter(|r| r.scope.starts_with("provider:"))
            .map(|r| (r.scope, r.snapshot))
            .collect();
        let marks = BreakerMarks::default();
        let mut providers = BTreeMap::new();
        for config in integrations.configs() {
            let id = config.spec.id;
            let Some(client) = integrations.client(id) else {
                continue;
            };
            let scope = provider_scope(id);
            let restored = match rows.get(&scope) {
                None => CircuitBreaker::new(scope, breaker, clock.clone(), sink.clone()),
                Some(v) => match serde_json::from_value::<BreakerSnapshot>(v.clone()) {
                    Ok(snap) => {
                        CircuitBreaker::restore(scope, breaker, clock.clone(), sink.clone(), &snap)
                    }
                    Err(err) => {
                        // Unknown is unknown: an unreadable breaker is treated as OPEN.
                        tracing::error!(%scope, error = %err, "unreadable breaker snapshot; tripping it");
                        let mut b =
                            CircuitBreaker::new(scope, breaker, clock.clone(), sink.clone());
                        b.trip("persisted snapshot unreadable");
                        b
                    }
                },
            };
            let marks = marks.clone();
            providers.insert(
                id,
                Arc::new(ProviderShared {
                    client,
                    breaker: SharedBreaker::new(
                        restored,
                        Box::new(move |reading| marks.mark(id, reading.state())),
                        Some(trace_capture()),
                    ),
                    health: Mutex::new(Health {
                        last_ok_at: None,
                        last_error_at: None,
                        last_error_code: None,
                        last_error_message: None,
                        refused: 0,
                        restarts: 0,
                        window: CallWindow::default(),
                    }),
                }),
            );
        }
        Ok(ProviderSet {
            providers,
            marks,
            names,
        })
    }

    /// A set with no providers (a detached runtime).
    pub fn empty() -> Self {
        ProviderSet {
            providers: BTreeMap::new(),
            marks: BreakerMarks::default(),
            names: String::new(),
        }
    }

    /// False for the set of a detached runtime (no actors behind it).
    pub fn running(&self) -> bool {
        !self.names.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<ProviderShared>> {
        self.providers.get(id)
    }

    pub fn actor_name(&self, id: &str) -> String {
        format!("{}.{id}", self.names)
    }

    pub fn health(&self) -> Vec<ProviderHealth> {
        self.providers.values().map(|p| p.health()).collect()
    }

    pub fn breakers(&self) -> Vec<BreakerView> {
        self.providers.values().map(|p| p.breaker_view()).collect()
    }

    /// Reports every change of a provider breaker's state to `tx` (as `None`: the runners'
    /// feed breaker is part of every bot's autonomy evidence) from now on.
    pub fn watch_health(&self, tx: UnboundedSender<Option<uuid::Uuid>>) {
        let _ = self.marks.health_watch.set(tx);
    }

    async fn flush(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let ids: Vec<&'static str> = lock(&self.marks.dirty).drain().collect();
        let saves: Vec<BreakerSave> = ids
            .iter()
            .filter_map(|id| self.providers.get(id))
            .filter_map(|p| {
                let snap = p.breaker.reading().snapshot;
                Some(BreakerSave {
                    scope: provider_scope(p.id()),
                    state: snap.state.into(),
                    snapshot: serde_json::to_value(&snap).ok()?,
                })
            })
            .collect();
        if let Err(err) = circuit_breakers::save_many(pool, &saves).await {
            lock(&self.marks.dirty).extend(ids);
            return Err(err);
        }
        Ok(())
    }

    /// Saves changed breakers (coalesced, retried on errors, a last time on stop).
    pub async fn run_writer(self: Arc<Self>, pool: PgPool, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = self.marks.notify.notified() => {},
                _ = stop.changed() => break,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            if let Err(err) = self.flush(&pool).await {
                tracing::warn!(error = %err, "provider breaker write failed; retrying");
                let again = Arc::clone(&self);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    again.marks.notify.notify_one();
                });
            }
        }
        if let Err(err) = self.flush(&pool).await {
            tracing::error!(error = %err, "final provider breaker write failed");
        }
    }
}

pub type VerifyResult = Result<(VerifyReport, Duration), ProviderCallError>;
pub type BarsResult = Result<Vec<Bar>, ProviderCallError>;
pub type GenerateResult = Result<Completion, ProviderCallError>;
pub type NewsResult = Result<Vec<NewsItem>, ProviderCallError>;

/// One market-news page asked of Finnhub's actor (the news gate's poll).
#[derive(Debug, Clone)]
pub struct NewsRequest {
    pub category: String,
    pub min_id: i64,
    pub ctx: CallContext,
}

/// One completion asked of an LLM provider's actor.
pub struct GenerateRequest {
    pub prompt: Prompt,
    pub options: GenerateOptions,
}

/// A macro-data read (`fmp`: the economic calendar; `fred`: a series' newest observations).
#[derive(Debug, Clone)]
pub enum MacroRequest {
    Calendar {
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    },
    Fred {
        series: MacroSeries,
        limit: u32,
    },
}

#[derive(Debug, Clone)]
pub enum MacroData {
    Calendar(Vec<EconomicEvent>),
    Fred(Vec<Observation>),
}

pub type MacroResult = Result<MacroData, ProviderCallError>;

pub enum ProviderMsg {
    Verify(TraceId, RpcReplyPort<VerifyResult>),
    FetchBars(TraceId, Box<BarsRequest>, RpcReplyPort<BarsResult>),
    Generate(TraceId, Box<GenerateRequest>, RpcReplyPort<GenerateResult>),
    /// FMP's economic calendar (`fmp`) or FRED observations (`fred`).
    FetchMacro(TraceId, Box<MacroRequest>, RpcReplyPort<MacroResult>),
    /// Finnhub market news (`finnhub` only).
    FetchNews(TraceId, Box<NewsRequest>, RpcReplyPort<NewsResult>),
    /// Fault injection (tests, drills): the actor fails and is restarted by its supervisor.
    Fail(String),
}

pub struct ProviderArgs {
    pub shared: Arc<ProviderShared>,
    pub pool: PgPool,
    pub call_timeout: Duration,
}

pub struct ProviderActor;

impl Actor for ProviderActor {
    type Msg = ProviderMsg;
    type State = ProviderArgs;
    type Arguments = ProviderArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ProviderArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Admission happens here, in order; the call itself runs in its own task so one slow
        // vendor request does not hold up the next one (the call path's limiter paces them).
        match msg {
            ProviderMsg::Verify(trace, reply) => {
                let permit = match trace
                    .clone()
                    .scope(state.shared.admit(
                        "verify",
                        UsageStatus::Verify,
                        CallContext::default(),
                    ))
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return Ok(());
                    }
                };
                let (shared, limit) = (state.shared.clone(), state.call_timeout);
                tokio::spawn(trace.scope(async move {
                    let started = Instant::now();
                    match tokio::time::timeout(limit, providers::verify(&shared.client)).await {
                        Ok(report) => {
                            let verdict = verdict_of(report.outcome, report.error_code.as_deref());
                            let error = report
                                .error_code
                                .clone()
                                .map(|c| (c, report.message.clone()));
                            let took = started.elapsed();
                            let error = error.as_ref().map(|(c, m)| (c.as_str(), m.as_str()));
                            shared.settle(permit, verdict, error, move || {
                                let _ = reply.send(Ok((report, took)));
                            });
                        }
                        Err(_) => {
                            let id = shared.id().to_owned();
                            shared.settle(
                                permit,
                                Verdict::Failed,
                                Some((codes::TIMEOUT, "the verify did not finish in time")),
                                move || {
                                    let _ = reply.send(Err(ProviderCallError::Timeout(id)));
                                },
                            );
                        }
                    }
                }));
            }
            ProviderMsg::FetchBars(trace, req, reply) => {
                if !bars::supports(state.shared.id()) {
                    let _ =
                        reply.send(Err(BarsError::Unsupported(state.shared.id().into()).into()));
                    return Ok(());
                }
                let permit = match trace
                    .clone()
                    .scope(
                        state
                            .shared
                            .admit("bars.fetch", UsageStatus::Error, req.ctx),
                    )
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return Ok(());
                    }
                };
                let (shared, pool, limit) =
                    (state.shared.clone(), state.pool.clone(), state.call_timeout);
                tokio::spawn(trace.scope(async move {
                    let fetch = bars::fetch_bars(&shared.client, &pool, &req);
                    let result = match tokio::time::timeout(limit, fetch).await {
                        Ok(r) => r.map_err(ProviderCallError::from),
                        Err(_) => Err(ProviderCallError::Timeout(shared.id().to_owned())),
                    };
                    let (verdict, error) = match &result {
                        Ok(_) => (Verdict::Ok, None),
                        Err(ProviderCallError::Bars(BarsError::Provider(f))) => (
                            verdict_of(f.outcome, Some(f.code)),
                            Some((f.code, f.message.clone())),
                        ),
                        Err(ProviderCallError::Timeout(_)) => (
                            Verdict::Failed,
                            Some((
                                codes::TIMEOUT,
                                "the bars fetch did not finish in time".into(),
                            )),
                        ),
                        // The vendor answered; our own database failed.
                        Err(_) => (Verdict::Neutral, None),
                    };
                    let error = error.as_ref().map(|(c, m)| (*c, m.as_str()));
                    shared.settle(permit, verdict, error, move || {
                        let _ = reply.send(result);
                    });
                }));
            }
            ProviderMsg::Generate(trace, req, reply) => {
                if state.shared.client.config.spec.category != Category::Llm {
                    let _ = reply.send(Err(ProviderCallError::NotAnLlm(state.shared.id().into())));
                    return Ok(());
                }
                let permit = match trace
                    .clone()
                    .scope(
                        state
                            .shared
                            .admit("generate", UsageStatus::Error, req.options.ctx),
                    )
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return Ok(());
                    }
                };
                let (shared, limit) = (state.shared.clone(), state.call_timeout);
                tokio::spawn(trace.scope(async move {
                    let call = llm::generate(&shared.client, &req.prompt, &req.options);
                    let (result, verdict, code) = match tokio::time::timeout(limit, call).await {
                        Ok(Ok(done)) => (Ok(done), Verdict::Ok, None),
                        // A refusal is about the prompt, not the provider's health.
                        Ok(Err(f)) if f.code == codes::CONTENT_REFUSED => {
                            let code = (f.code, f.message.clone());
                            let provider = shared.id().to_owned();
                            (
                                Err(ProviderCallError::Vendor {
                                    provider,
                                    failure: f,
                                }),
                                Verdict::Neutral,
                                Some(code),
                            )
                        }
                        Ok(Err(f)) => {
                            let (verdict, code) = (
                                verdict_of(f.outcome, Some(f.code)),
                                (f.code, f.message.clone()),
                            );
                            let provider = shared.id().to_owned();
                            (
                                Err(ProviderCallError::Vendor {
                                    provider,
                                    failure: f,
                                }),
                                verdict,
                                Some(code),
                            )
                        }
                        Err(_) => (
                            Err(ProviderCallError::Timeout(shared.id().to_owned())),
                            Verdict::Failed,
                            Some((codes::TIMEOUT, "the LLM did not answer in time".to_owned())),
                        ),
                    };
                    let error = code.as_ref().map(|(c, m)| (*c, m.as_str()));
                    shared.settle(permit, verdict, error, move || {
                        let _ = reply.send(result);
                    });
                }));
            }
            ProviderMsg::FetchMacro(trace, req, reply) => {
                let id = state.shared.id();
                let action = match (&*req, id) {
                    (MacroRequest::Calendar { .. }, "fmp") => "macro.economic_calendar",
                    (MacroRequest::Fred { .. }, "fred") => "macro.fred_observations",
                    _ => {
                        let _ = reply.send(Err(ProviderCallError::NotMacro(id.into())));
                        return Ok(());
                    }
                };
                let admitted =
                    state
                        .shared
                        .admit(action, UsageStatus::Error, CallContext::default());
                let Some((permit, reply)) =
                    admitted_or_refuse(trace.clone(), admitted, reply).await
                else {
                    return Ok(());
                };
                let shared = state.shared.clone();
                let call = async move {
                    let (client, ctx) = (&shared.client, CallContext::default());
                    match *req {
                        MacroRequest::Calendar { from, to } => {
                            macro_data::fetch_fmp_calendar(client, from, to, ctx)
                                .await
                                .map(MacroData::Calendar)
                        }
                        MacroRequest::Fred { series, limit } => {
                            macro_data::fetch_fred_observations(client, series, limit, ctx)
                                .await
                                .map(MacroData::Fred)
                        }
                    }
                };
                spawn_vendor_read(
                    state,
                    trace,
                    permit,
                    call,
                    "the macro-data read did not finish in time",
                    reply,
                );
            }
            ProviderMsg::FetchNews(trace, req, reply) => {
                if state.shared.id() != "finnhub" {
                    let _ = reply.send(Err(ProviderCallError::NotConfigured(format!(
                        "market news on {}",
                        state.shared.id()
                    ))));
                    return Ok(());
                }
                let admitted =
                    state
                        .shared
                        .admit(finnhub_news::ACTION, UsageStatus::Error, req.ctx);
                let Some((permit, reply)) =
                    admitted_or_refuse(trace.clone(), admitted, reply).await
                else {
                    return Ok(());
                };
                let shared = state.shared.clone();
                let call = async move {
                    finnhub_news::market_news(&shared.client, &req.category, req.min_id, req.ctx)
                        .await
                };
                spawn_vendor_read(
                    state,
                    trace,
                    permit,
                    call,
                    "the news fetch did not finish in time",
                    reply,
                );
            }
            ProviderMsg::Fail(reason) => return Err(Box::new(super::InjectedFailure(reason))),
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::outcome::Failure;

    #[test]
    fn what_counts_on_the_breaker() {
        assert_eq!(verdict_of(Outcome::Ok, None), Verdict::Ok);
        for o in [
            Outcome::Unreachable,
            Outcome::ProviderError,
            Outcome::RateLimited,
            Outcome::InvalidCredentials,
        ] {
            assert_eq!(verdict_of(o, Some("X")), Verdict::Failed, "{o:?}");
        }
        assert_eq!(
            verdict_of(Outcome::ProviderError, Some(codes::PROVIDER_HTTP_4XX)),
            Verdict::Neutral
        );
        assert_eq!(
            verdict_of(Outcome::InsufficientPlan, None),
            Verdict::Neutral
        );
        assert_eq!(verdict_of(Outcome::Unverifiable, None), Verdict::Neutral);
    }

    #[test]
    fn failure_vocabulary_is_shared() {
        let f = Failure::new(Outcome::Unreachable, codes::TIMEOUT, "x");
        assert_eq!(verdict_of(f.outcome, Some(f.code)), Verdict::Failed);
    }
}
