//! Broker sessions (issue 17 part 1): one per configured broker account (Tradovate,
//! Ironbeam), kept logged in by the runtime's broker loop.
//!
//! - **Login** once; a refused login (bad credentials) is never retried until the process is
//!   reconfigured, and a Tradovate penalty (`p-ticket`/`p-time`, or `p-captcha`: about an hour)
//!   blocks every login until it has passed: there is no login loop.
//! - **Renewal** before expiry: Tradovate `renewaccesstoken` 10 minutes before
//!   `expirationTime`; Ironbeam documents no lifetime, so a 401 drops the token and the next
//!   call logs in again (once).
//! - **Pacing**: every call goes through the vendor's limiter at its trading budget
//!   (`BrokerVendor::trading_rate_limit`: Ironbeam 8 per sliding second, Tradovate 80 per
//!   minute); reads (polls, heartbeats) first pass a lane of three quarters of it
//!   (`BrokerVendor::read_lane_limit`), so orders and cancels never wait behind many bots'
//!   polls; a vendor 429 is answered by waiting, never by a burst of retries.
//! - **Environment**: `<ID>_ENV=demo|live` is checked against what the vendor reports
//!   (Ironbeam `isLive` both ways; Tradovate `hasLive` when live is asked); a sandbox endpoint
//!   never serves `live`.
//! - **Health**: `ready` (logged in, account known, the last heartbeat answered) and
//!   [`BrokerSession::can_trade`] (ready, the provider's breaker not OPEN, no hold after a
//!   lost session) is what a LIVE evaluation's `broker_ready` reads; the last failure is kept
//!   for the status.
//! - **Heartbeat** ([`BrokerSession::heartbeat`], run by the session's supervised actor,
//!   `runtime::broker_sessions`): one cheap vendor read (Tradovate `GET /account/list`,
//!   Ironbeam `GET /info/trader`) under the pacing, after logging in or renewing if due. Logins
//!   and heartbeats ask the provider's circuit breaker first (the same `provider:<id>` breaker
//!   as every other call of that integration) and report their outcome to it, so Connections
//!   shows the session's health and an OPEN breaker stops login attempts.
//! - **Lost and found**: a failed heartbeat marks the session lost (`lost_since`, not ready);
//!   the next answered one reports how long it was lost, and the actor applies
//!   cancel-on-disconnect ([`Hold`]).
//! - **User stream** ([`stream`]; Tradovate and Ironbeam): order and fill updates pushed on the
//!   vendor's WebSocket while it is synced, the REST order and fill polls as its fallback.

mod calls;
mod stream;
pub use stream::{StreamHealth, StreamStatus, run_stream};

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::clock::Clock;
use crate::domain::provider::Outcome;
use crate::integrations::{
    brokers::{Account, BrokerClient, BrokerVendor, Login, tradovate},
    outcome::{Failure, codes},
    registry::EnvMap,
    usage::UsageSink,
};
use crate::runtime::providers::{ProviderSet, ProviderShared};
use tradeplane_actors::BreakerState;

/// What a session's status shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionHealth {
    pub broker: BrokerVendor,
    pub ready: bool,
    pub account: Option<String>,
    pub live: bool,
    pub logins: u64,
    pub renewals: u64,
    pub blocked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Ready, the provider's breaker not OPEN and no hold: LIVE orders may go.
    pub can_trade: bool,
    /// Heartbeats answered since start.
    pub heartbeats: u64,
    pub heartbeat_failures: u64,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// The first failed heartbeat of the current loss of the session (`None`: connected).
    pub lost_since: Option<DateTime<Utc>>,
    /// Cancel-on-disconnect's hold on the account's LIVE bots, while it lasts.
    pub hold: Option<Hold>,
    /// Restarts of the session's actor.
    pub restarts: u32,
    /// The vendor's user stream (Tradovate, Ironbeam); `None` for a vendor without one (none
    /// today).
    pub stream: Option<StreamHealth>,
}

/// Cancel-on-disconnect: the session was lost for at least the configured time, so on
/// reconnect the account's working orders were cancelled at the broker and its LIVE bots are
/// held (the `broker_ready` gate closed: SUSPENDED) until a reconciliation of the account
/// after the cancel comes back clean.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Hold {
    pub since: DateTime<Utc>,
    /// How long the session had been lost (from its first failed heartbeat).
    pub lost_seconds: i64,
    /// The broker order ids cancelled.
    pub cancelled: Vec<String>,
    /// The cancel has not reached the broker yet (retried at every heartbeat).
    pub cancel_pending: bool,
    /// The LIVE bots routed to the account.
    pub bots: Vec<Uuid>,
}

#[derive(Default)]
struct State {
    login: Option<Login>,
    account: Option<Account>,
    renew_at: Option<DateTime<Utc>>,
    /// No login before this (a penalty, a 429).
    blocked_until: Option<DateTime<Utc>>,
    /// Credentials or environment refused: never log in again in this process.
    refused: Option<String>,
    logins: u64,
    renewals: u64,
    last_error: Option<String>,
    heartbeats: u64,
    heartbeat_failures: u64,
    last_heartbeat_at: Option<DateTime<Utc>>,
    lost_since: Option<DateTime<Utc>>,
    hold: Option<Hold>,
    /// A loss this long holds the account when the session is found again
    /// (`SessionConfig::cancel_after`; set when its actor starts).
    cancel_after: Option<std::time::Duration>,
    restarts: u32,
}

/// What a heartbeat found.
#[derive(Debug)]
pub enum Beat {
    /// The vendor answered; `reconnected_after`: the session had been lost this long.
    Up {
        reconnected_after: Option<chrono::Duration>,
    },
    Down(Failure),
}

pub struct BrokerSession {
    client: BrokerClient,
    clock: Clock,
    /// Serialises login and renewal (one at a time, never a storm).
    auth: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    ready: AtomicBool,
    /// The integration's provider slot (its breaker and live call window), when configured.
    provider: std::sync::OnceLock<Arc<ProviderShared>>,
    /// The session's actor (fault injection).
    actor: Mutex<Option<ractor::ActorRef<super::broker_sessions::SessionMsg>>>,
    /// The current token, for the user stream (it re-authorizes on a new one).
    token: tokio::sync::watch::Sender<Option<crate::config::Secret>>,
    stream: Mutex<stream::StreamState>,
    /// Counts order and fill events the user stream applied: a LIVE runner waiting for a fill
    /// wakes on it ([`BrokerSession::stream_updates`]) instead of at its next bar.
    updates: tokio::sync::watch::Sender<u64>,
}

impl BrokerSession {
    pub fn new(client: BrokerClient, clock: Clock) -> Self {
        BrokerSession {
            client,
            clock,
            auth: tokio::sync::Mutex::new(()),
            state: Mutex::new(State::default()),
            ready: AtomicBool::new(false),
            provider: std::sync::OnceLock::new(),
            actor: Mutex::new(None),
            token: tokio::sync::watch::Sender::new(None),
            stream: Mutex::new(stream::StreamState::default()),
            updates: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Tells the user stream the session's token (a new one is authorized on its socket).
    fn publish_token(&self, token: Option<&crate::config::Secret>) {
        self.token.send_if_modified(|cur| {
            let same = cur.as_ref().map(|c| c.expose()) == token.map(|t| t.expose());
            if !same {
                *cur = token.cloned();
            }
            !same
        });
    }

    /// Logins and heartbeats count on this provider's breaker from now on.
    pub fn attach_provider(&self, provider: Arc<ProviderShared>) {
        let _ = self.provider.set(provider);
    }

    fn breaker_open(&self) -> bool {
        self.provider
            .get()
            .is_some_and(|p| p.breaker.state() == BreakerState::Open)
    }

    /// Ready, the provider's breaker not OPEN, no cancel-on-disconnect hold, and not lost
    /// since the last answered heartbeat (a login after a loss trades only once a heartbeat
    /// has judged the loss): what the LIVE invariant's `broker_ready` gate reads.
    pub fn can_trade(&self) -> bool {
        let s = self.state();
        self.is_ready() && !self.breaker_open() && s.hold.is_none() && s.lost_since.is_none()
    }

    pub(super) fn set_cancel_after(&self, after: std::time::Duration) {
        self.state().cancel_after = Some(after);
    }

    pub fn hold(&self) -> Option<Hold> {
        self.state().hold.clone()
    }

    pub(super) fn set_hold(&self, hold: Option<Hold>) {
        self.state().hold = hold;
    }

    pub(super) fn set_actor(&self, actor: ractor::ActorRef<super::broker_sessions::SessionMsg>) {
        *self.actor.lock().unwrap_or_else(|p| p.into_inner()) = Some(actor);
    }

    pub(super) fn count_restart(&self) {
        self.state().restarts += 1;
    }

    /// Fault injection (tests, drills): the session's actor fails and its supervisor restarts
    /// it. False when no actor runs.
    pub fn inject_failure(&self, reason: &str) -> bool {
        let actor = self.actor.lock().unwrap_or_else(|p| p.into_inner()).clone();
        actor.is_some_and(|a| {
            a.send_message(super::broker_sessions::SessionMsg::Fail(reason.to_owned()))
                .is_ok()
        })
    }

    /// One heartbeat: the provider's breaker admits it (an OPEN breaker refuses it without a
    /// vendor request), then a login or renewal if due, then one cheap read of the account;
    /// the outcome is reported to the breaker and marks the session lost or found.
    pub async fn heartbeat(&self) -> Beat {
        let provider = self.provider.get().cloned();
        let permit = match &provider {
            Some(p) => match p.admit_call("broker.heartbeat").await {
                Ok(permit) => Some(permit),
                Err(e) => {
                    let f = Failure::new(
                        Outcome::Unreachable,
                        crate::runtime::providers::CIRCUIT_BREAKER_OPEN,
                        e.to_string(),
                    );
                    self.lost(&f);
                    return Beat::Down(f);
                }
            },
            None => None,
        };
        let result = self.probe().await;
        if let (Some(p), Some(permit)) = (&provider, permit) {
            p.settle_call(permit, result.as_ref().map(|_| ()));
        }
        match result {
            Ok(()) => Beat::Up {
                reconnected_after: self.found(),
            },
            Err(f) => {
                self.lost(&f);
                Beat::Down(f)
            }
        }
    }

    async fn probe(&self) -> Result<(), Failure> {
        self.keep_up().await?;
        let login = self.state().login.clone();
        let Some(login) = login else {
            return Err(Failure::new(
                Outcome::Unreachable,
                "BROKER_SESSION_DOWN",
                "no broker session",
            ));
        };
        match self.client.account(&login).await {
            Ok(_) => Ok(()),
            Err(f) => {
                self.dead_token(&f);
                Err(f)
            }
        }
    }

    fn lost(&self, f: &Failure) {
        let now = self.clock.now();
        let mut s = self.state();
        s.heartbeat_failures += 1;
        s.lost_since.get_or_insert(now);
        s.last_error = Some(format!("{}: {}", f.code, f.message));
        self.ready.store(false, Ordering::Release);
    }

    /// An answered heartbeat: ready again (logged in with an account); how long it was lost.
    /// A loss past `cancel_after` holds the account before the session is ready, so no LIVE
    /// order leaves between the reconnect and the cancel of the working orders (the actor
    /// then cancels them and replaces this hold with the full one).
    fn found(&self) -> Option<chrono::Duration> {
        let now = self.clock.now();
        let mut s = self.state();
        s.heartbeats += 1;
        s.last_heartbeat_at = Some(now);
        s.last_error = None;
        let lost = s.lost_since.take().map(|t| now - t);
        if let (Some(lost), Some(limit)) = (lost, s.cancel_after)
            && lost.to_std().unwrap_or_default() >= limit
            && s.hold.is_none()
        {
            s.hold = Some(Hold {
                since: now,
                lost_seconds: lost.num_seconds(),
                cancelled: Vec::new(),
                cancel_pending: true,
                bots: Vec::new(),
            });
        }
        let ready = s.login.is_some() && s.account.is_some();
        self.ready.store(ready, Ordering::Release);
        lost
    }

    /// Logged in now (the actor heartbeats at once when not).
    pub fn has_login(&self) -> bool {
        self.state().login.is_some()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn vendor(&self) -> BrokerVendor {
        self.client.vendor()
    }

    /// Logged in with a known account, not blocked: a LIVE order can go now.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn account(&self) -> Option<Account> {
        self.state().account.clone()
    }

    pub fn health(&self) -> SessionHealth {
        let s = self.state();
        SessionHealth {
            broker: self.vendor(),
            ready: self.is_ready(),
            account: s.account.as_ref().map(|a| a.id.clone()),
            live: self.client.base().wants_live(),
            logins: s.logins,
            renewals: s.renewals,
            blocked_until: s.blocked_until,
            last_error: s.last_error.clone(),
            can_trade: self.is_ready() && !self.breaker_open() && s.hold.is_none(),
            heartbeats: s.heartbeats,
            heartbeat_failures: s.heartbeat_failures,
            last_heartbeat_at: s.last_heartbeat_at,
            lost_since: s.lost_since,
            hold: s.hold.clone(),
            restarts: s.restarts,
            stream: self.stream_health(),
        }
    }

    fn fail(&self, f: &Failure) {
        let mut s = self.state();
        s.last_error = Some(format!("{}: {}", f.code, f.message));
        let now = self.clock.now();
        match f.outcome {
            Outcome::InvalidCredentials => {
                s.login = None;
                self.ready.store(false, Ordering::Release);
            }
            // Our own limiter refusing is not the vendor's penalty: logins stay allowed.
            Outcome::RateLimited if f.code != codes::LOCAL_RATE_LIMITED => {
                // At most an hour: a vendor's wait is not trusted to be sane.
                let wait = f
                    .retry_after
                    .unwrap_or(Duration::from_secs(30))
                    .min(Duration::from_secs(3600));
                s.blocked_until = Some(now + chrono::Duration::from_std(wait).unwrap_or_default());
            }
            _ => {}
        }
    }

    /// Logs in (once) and learns the account, unless refused or blocked.
    async fn login(&self) -> Result<(), Failure> {
        let now = self.clock.now();
        {
            let s = self.state();
            if let Some(reason) = &s.refused {
                return Err(Failure::new(
                    Outcome::InvalidCredentials,
                    codes::INVALID_CREDENTIALS,
                    format!("login refused earlier, not retried: {reason}"),
                ));
            }
            if let Some(until) = s.blocked_until.filter(|u| *u > now) {
                return Err(Failure::new(
                    Outcome::RateLimited,
                    codes::LOGIN_PENALTY,
                    format!("no login before {}", until.to_rfc3339()),
                ));
            }
        }
        // A sandbox asked for live is refused before any login.
        if let Err(reason) = self.environment_ok(None) {
            let f = Failure::new(
                Outcome::InvalidCredentials,
                codes::ENVIRONMENT_MISMATCH,
                reason.clone(),
            );
            self.state().refused = Some(reason);
            self.fail(&f);
            return Err(f);
        }
        self.state().logins += 1;
        let login = match self.client.login().await {
            Ok(l) => l,
            Err(f) => {
                if f.outcome == Outcome::InvalidCredentials {
                    self.state().refused = Some(f.message.clone());
                }
                self.fail(&f);
                return Err(f);
            }
        };
        let (account, is_live) = match self.client.account(&login).await {
            Ok(a) => a,
            Err(f) => {
                self.fail(&f);
                return Err(f);
            }
        };
        if let Err(reason) = self.environment_ok(is_live.or(login.is_live)) {
            let f = Failure::new(
                Outcome::InvalidCredentials,
                codes::ENVIRONMENT_MISMATCH,
                reason.clone(),
            );
            self.state().refused = Some(reason);
            self.fail(&f);
            return Err(f);
        }
        self.publish_token(Some(&login.token));
        let mut s = self.state();
        s.renew_at = Some(tradovate::renew_at(&login, now));
        s.login = Some(login);
        s.account = Some(account);
        s.blocked_until = None;
        s.last_error = None;
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    fn environment_ok(&self, reported_live: Option<bool>) -> Result<(), String> {
        let base = self.client.base();
        let want_live = base.wants_live();
        let id = self.vendor().id();
        let var = format!("{}_ENV", id.to_ascii_uppercase());
        if want_live && base.config.sandbox {
            return Err(format!("{var}=live but the endpoint is a sandbox"));
        }
        match (self.vendor(), want_live, reported_live) {
            (_, true, Some(false)) => Err(format!("{var}=live but {id} reports no live access")),
            (BrokerVendor::Ironbeam, false, Some(true)) => {
                Err(format!("{var}=demo but {id} reports a live account"))
            }
            _ => Ok(()),
        }
    }

    /// Keeps the session up: logs in when there is no token (unless refused or blocked),
    /// renews a Tradovate token before it expires. Called by the session's actor.
    pub async fn maintain(&self) {
        let _ = self.keep_up().await;
    }

    /// [`BrokerSession::maintain`], with the failed login or renewal.
    async fn keep_up(&self) -> Result<(), Failure> {
        let _turn = self.auth.lock().await;
        let now = self.clock.now();
        let (has_login, renew_due) = {
            let s = self.state();
            (s.login.is_some(), s.renew_at.is_some_and(|at| at <= now))
        };
        if !has_login {
            return self.login().await;
        }
        if renew_due {
            let login = self.state().login.clone();
            let Some(login) = login else { return Ok(()) };
            match self.client.renew(&login).await {
                Ok(renewed) => {
                    self.publish_token(Some(&renewed.token));
                    let mut s = self.state();
                    s.renew_at = Some(tradovate::renew_at(&renewed, now));
                    s.login = Some(renewed);
                    s.renewals += 1;
                }
                Err(f) => {
                    self.fail(&f);
                    if f.outcome == Outcome::InvalidCredentials {
                        // The token died: the next turn logs in again (once).
                        self.state().login = None;
                    }
                    return Err(f);
                }
            }
        }
        Ok(())
    }
}

/// Every broker session of this process.
#[derive(Default)]
pub struct Brokers {
    sessions: Vec<Arc<BrokerSession>>,
}

impl Brokers {
    /// One session per configured broker (`TRADOVATE_*`, `IRONBEAM_*` in `env`).
    pub fn from_env(
        env: &EnvMap,
        sink: Arc<dyn UsageSink>,
        timeout: Duration,
        clock: &Clock,
    ) -> Self {
        let mut sessions = Vec::new();
        for vendor in BrokerVendor::ALL {
            let Some(spec) = crate::integrations::registry::spec(vendor.id()) else {
                continue;
            };
            let config = crate::integrations::registry::ProviderConfig::from_env(spec, env);
            if !config.configured() {
                continue;
            }
            match BrokerClient::new(vendor, config, sink.clone(), timeout, clock.clone()) {
                Ok(client) => sessions.push(Arc::new(BrokerSession::new(client, clock.clone()))),
                Err(err) => tracing::error!(broker = vendor.id(), %err, "broker client not built"),
            }
        }
        Brokers { sessions }
    }

    pub fn sessions(&self) -> &[Arc<BrokerSession>] {
        &self.sessions
    }

    pub fn get(&self, vendor: BrokerVendor) -> Option<Arc<BrokerSession>> {
        self.sessions.iter().find(|s| s.vendor() == vendor).cloned()
    }

    /// The session LIVE orders go to: the first configured one (Tradovate, then Ironbeam),
    /// ready or not. Never the next one that happens to be ready: a bot's exit must reach the
    /// account that holds its position, so a lost primary closes the `broker_ready` gate (its
    /// bots are suspended) instead of sending their orders to another broker's account.
    pub fn for_live(&self) -> Option<Arc<BrokerSession>> {
        self.sessions.first().cloned()
    }

    pub fn health(&self) -> Vec<SessionHealth> {
        self.sessions.iter().map(|s| s.health()).collect()
    }

    /// One receiver per session whose vendor streams order and fill updates.
    pub fn stream_updates(&self) -> Vec<tokio::sync::watch::Receiver<u64>> {
        self.sessions
            .iter()
            .filter(|s| s.offers_stream())
            .map(|s| s.stream_updates())
            .collect()
    }

    /// Logins and heartbeats of each session count on its integration's provider breaker.
    pub fn attach_breakers(&self, providers: &ProviderSet) {
        for s in &self.sessions {
            if let Some(p) = providers.get(s.vendor().id()) {
                s.attach_provider(p.clone());
            }
        }
    }

    /// The LIVE invariant's `broker_ready`: the session LIVE orders go to can trade now
    /// ([`BrokerSession::can_trade`]).
    pub fn live_ready(&self) -> bool {
        self.for_live().is_some_and(|s| s.can_trade())
    }
}
