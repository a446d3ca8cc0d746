//! A session's calls to its broker (orders, cancels, reads), each with the current login:
//! logging in first when needed, and once more when the vendor says the token died.

use std::sync::atomic::Ordering;

use super::BrokerSession;
use crate::domain::provider::Outcome;
use crate::integrations::{
    brokers::{
        Account, BrokerFill, BrokerOrder, BrokerPosition, Cancels, Login, OrderModify,
        OrderRequest, SendError,
    },
    outcome::Failure,
};

impl BrokerSession {
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
    pub(super) fn dead_token(&self, f: &Failure) {
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

    /// Changes a working order's terms (a stop moved, a limit re-priced). A 401 (the broker
    /// did not act on it) logs in again and sends once more.
    pub async fn modify(
        &self,
        broker_order_id: &str,
        change: &OrderModify,
    ) -> Result<(), SendError> {
        let (login, account) = self.current().await.map_err(SendError::NotSent)?;
        match self
            .client
            .modify(&login, &account, broker_order_id, change)
            .await
        {
            Err(SendError::NotSent(f)) if f.outcome == Outcome::InvalidCredentials => {
                self.dead_token(&f);
                let (login, account) = self.current().await.map_err(SendError::NotSent)?;
                self.client
                    .modify(&login, &account, broker_order_id, change)
                    .await
            }
            other => other,
        }
    }

    pub async fn cancel(&self, broker_order_id: &str) -> Result<(), Failure> {
        self.with_session(|l, a| async move { self.client.cancel(&l, &a, broker_order_id).await })
            .await
    }

    pub async fn cancel_many(&self, ids: &[String]) -> Result<Cancels, Failure> {
        self.with_session(|l, a| async move { self.client.cancel_many(&l, &a, ids).await })
            .await
    }

    /// The account's orders: from the user stream while it is synced, else the REST poll.
    pub async fn orders(&self) -> Result<Vec<BrokerOrder>, Failure> {
        if let Some(from_stream) = self.stream_orders().await {
            return from_stream;
        }
        let polled = self
            .with_session(|l, a| async move { self.client.orders(&l, &a).await })
            .await;
        if polled.is_ok() && self.offers_stream() {
            self.count_rest_order_read();
        }
        polled
    }

    /// The account's fills: from the user stream while it is synced, else the REST poll.
    pub async fn fills(&self) -> Result<Vec<BrokerFill>, Failure> {
        if let Some(from_stream) = self.stream_fills().await {
            return from_stream;
        }
        let polled = self
            .with_session(|l, a| async move { self.client.fills(&l, &a).await })
            .await;
        if polled.is_ok() && self.offers_stream() {
            self.count_rest_fill_read();
        }
        polled
    }

    pub async fn positions(&self) -> Result<Vec<BrokerPosition>, Failure> {
        self.with_session(|l, a| async move { self.client.positions(&l, &a).await })
            .await
    }
}
