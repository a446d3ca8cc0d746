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
//!   minute); a vendor 429 is answered by waiting, never by a burst of retries.
//! - **Environment**: `<ID>_ENV=demo|live` is checked against what the vendor reports
//!   (Ironbeam `isLive` both ways; Tradovate `hasLive` when live is asked); a sandbox endpoint
//!   never serves `live`.
//! - **Health**: `ready` (logged in, account known, not blocked) is what a LIVE evaluation's
//!   `broker_ready` reads; the last failure is kept for the status.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::Clock;
use crate::domain::provider::Outcome;
use crate::integrations::{
    brokers::{
        Account, BrokerClient, BrokerFill, BrokerOrder, BrokerPosition, BrokerVendor, Login,
        OrderRequest, SendError, tradovate,
    },
    outcome::{Failure, codes},
    registry::EnvMap,
    usage::UsageSink,
};

/// What a session's status shows.
#[derive(Debug, Clone, Serialize)]
pub struct SessionHealth {
    pub broker: BrokerVendor,
    pub ready: bool,
    pub account: Option<String>,
    pub live: bool,
    pub logins: u64,
    pub renewals: u64,
    pub blocked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
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
}

pub struct BrokerSession {
    client: BrokerClient,
    clock: Clock,
    /// Serialises login and renewal (one at a time, never a storm).
    auth: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    ready: AtomicBool,
}

impl BrokerSession {
    pub fn new(client: BrokerClient, clock: Clock) -> Self {
        BrokerSession {
            client,
            clock,
            auth: tokio::sync::Mutex::new(()),
            state: Mutex::new(State::default()),
            ready: AtomicBool::new(false),
        }
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
            Outcome::RateLimited => {
                let wait = f.retry_after.unwrap_or(Duration::from_secs(30));
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
    /// renews a Tradovate token before it expires. Called by the runtime's broker loop.
    pub async fn maintain(&self) {
        let _turn = self.auth.lock().await;
        let now = self.clock.now();
        let (has_login, renew_due) = {
            let s = self.state();
            (s.login.is_some(), s.renew_at.is_some_and(|at| at <= now))
        };
        if !has_login {
            let _ = self.login().await;
            return;
        }
        if renew_due {
            let login = self.state().login.clone();
            let Some(login) = login else { return };
            match self.client.renew(&login).await {
                Ok(renewed) => {
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
                }
            }
        }
    }

    /// The current login and account, logging in first if needed.
    async fn current(&self) -> Result<(Login, Account), Failure> {
        {
            let s = self.state();
            if let (Some(l), Some(a)) = (&s.login, &s.account) {
                return Ok((l.clone(), a.clone()));
            }
        }
        self.maintain().await;
        let s = self.state();
        match (&s.login, &s.account) {
            (Some(l), Some(a)) => Ok((l.clone(), a.clone())),
            _ => Err(Failure::new(
                Outcome::Unreachable,
                "BROKER_SESSION_DOWN",
                s.last_error
                    .clone()
                    .unwrap_or_else(|| "no broker session".into()),
            )),
        }
    }

    /// A 401 on a call: the token is dead; drop it (the next call logs in once).
    fn dead_token(&self, f: &Failure) {
        if f.outcome == Outcome::InvalidCredentials {
            let mut s = self.state();
            s.login = None;
            s.last_error = Some(format!("{}: {}", f.code, f.message));
            self.ready.store(false, Ordering::Release);
        }
    }

    /// Runs a read with the session, logging in again once if the token died.
    async fn with_session<T, F, Fut>(&self, f: F) -> Result<T, Failure>
    where
        F: Fn(Login, Account) -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let (login, account) = self.current().await?;
        match f(login, account).await {
            Err(e) if e.outcome == Outcome::InvalidCredentials => {
                self.dead_token(&e);
                let (login, account) = self.current().await?;
                f(login, account).await
            }
            other => other,
        }
    }

    /// Sends one order. A 401 (the broker did not act on it) logs in again and sends once
    /// more; any other unclear end is `SendError::Unknown`, resolved from the broker's orders.
    pub async fn place(&self, order: &OrderRequest) -> Result<(Account, String), SendError> {
        let (login, account) = self.current().await.map_err(SendError::NotSent)?;
        match self.client.place(&login, &account, order).await {
            Ok(id) => Ok((account, id)),
            Err(SendError::NotSent(f)) if f.outcome == Outcome::InvalidCredentials => {
                self.dead_token(&f);
                let (login, account) = self.current().await.map_err(SendError::NotSent)?;
                let id = self.client.place(&login, &account, order).await?;
                Ok((account, id))
            }
            Err(e) => {
                if let SendError::NotSent(f) | SendError::Unknown(f) = &e {
                    self.fail(f);
                }
                Err(e)
            }
        }
    }

    pub async fn cancel(&self, broker_order_id: &str) -> Result<(), Failure> {
        self.with_session(|l, a| async move { self.client.cancel(&l, &a, broker_order_id).await })
            .await
    }

    pub async fn cancel_many(&self, ids: &[String]) -> Result<(), Failure> {
        self.with_session(|l, a| async move { self.client.cancel_many(&l, &a, ids).await })
            .await
    }

    pub async fn orders(&self) -> Result<Vec<BrokerOrder>, Failure> {
        self.with_session(|l, a| async move { self.client.orders(&l, &a).await })
            .await
    }

    pub async fn fills(&self) -> Result<Vec<BrokerFill>, Failure> {
        self.with_session(|l, a| async move { self.client.fills(&l, &a).await })
            .await
    }

    pub async fn positions(&self) -> Result<Vec<BrokerPosition>, Failure> {
        self.with_session(|l, a| async move { self.client.positions(&l, &a).await })
            .await
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

    /// The session LIVE orders go to: the first ready one (Tradovate, then Ironbeam).
    pub fn for_live(&self) -> Option<Arc<BrokerSession>> {
        self.sessions.iter().find(|s| s.is_ready()).cloned()
    }

    pub fn health(&self) -> Vec<SessionHealth> {
        self.sessions.iter().map(|s| s.health()).collect()
    }

    /// Keeps every session up until `stop` turns true: a turn every `every`.
    pub async fn run(
        self: Arc<Self>,
        every: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            for s in &self.sessions {
                s.maintain().await;
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
