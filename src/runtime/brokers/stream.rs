//! A broker session's user stream (issue 17 part 2): Tradovate's trading WebSocket
//! (`tradovate_stream`) and Ironbeam's `/stream/{streamId}` (`ironbeam_stream`, a new stream id
//! per socket). The session's actor keeps one socket open while logged in ([`run_stream`],
//! dispatched by vendor, restarted with backoff by `broker_sessions`); what it syncs is the
//! session's vendor-neutral [`UserSync`]. While the socket is synced, [`BrokerSession::fills`]
//! and [`BrokerSession::orders`] answer from it instead of the REST polls — Tradovate: plus one
//! `fillFee/items` read per new fill for its commission and one `contract/item` read per new
//! contract, instead of `order/list` + `orderVersion/list` + `contract/item` and `fill/list` +
//! `fillFee/list`; Ironbeam: nothing more (its fills carry no commission, on the stream as over
//! REST: the configured rate applies), instead of `GET /order/{accountId}/ANY` and `GET
//! /order/{accountId}/fills`. When it is down, the REST polls are the fallback. Either way the
//! evaluation books the fills through the same ledger path, once per broker fill id (Ironbeam's
//! `orderUpdateId`, `ouid` on the stream). Positions stay REST reads (reconciliation). The
//! stream's health is [`StreamHealth`] in the session's health, counted the same for both.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::BrokerSession;
use crate::integrations::{
    brokers::{
        Account, BrokerClient, BrokerFill, BrokerOrder, Login, ironbeam_stream, tradovate_stream,
        user_stream::{EntityKind, StreamConfig, Update, UserSync},
    },
    outcome::Failure,
};

/// Where the user stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatus {
    /// No socket (never opened, or it ended: the REST poll is the fallback).
    #[default]
    Down,
    /// Opening, authorizing or waiting for the sync.
    Connecting,
    /// Synced: order and fill updates arrive on the socket.
    Synced,
}

/// The user stream in the session's health.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamHealth {
    pub status: StreamStatus,
    /// When the current status began.
    pub since: Option<DateTime<Utc>>,
    /// Sockets opened since start.
    pub connects: u64,
    /// Sockets that ended (closed, silent, refused).
    pub drops: u64,
    /// Tokens the vendor accepted (`authorize` at open, and again on the open socket after
    /// a new login).
    pub authorizations: u64,
    /// Order and fill events applied on the current socket.
    pub events: u64,
    pub last_frame_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Fill reads answered from the stream, and by the REST poll (its fallback).
    pub fill_reads_from_stream: u64,
    pub fill_reads_from_rest: u64,
    /// Order reads answered from the stream, and by the REST poll.
    pub order_reads_from_stream: u64,
    pub order_reads_from_rest: u64,
}

#[derive(Default)]
pub(super) struct StreamState {
    status: StreamStatus,
    since: Option<DateTime<Utc>>,
    sync: Option<UserSync>,
    connects: u64,
    drops: u64,
    authorizations: u64,
    last_frame_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    from_stream: u64,
    from_rest: u64,
    orders_from_stream: u64,
    orders_from_rest: u64,
    /// The last socket reached the sync before it ended (the reconnect backoff starts over).
    last_run_synced: bool,
}

impl StreamState {
    pub(super) fn health(&self) -> StreamHealth {
        StreamHealth {
            status: self.status,
            since: self.since,
            connects: self.connects,
            drops: self.drops,
            authorizations: self.authorizations,
            events: self.sync.as_ref().map_or(0, |s| s.events),
            last_frame_at: self.last_frame_at,
            last_error: self.last_error.clone(),
            fill_reads_from_stream: self.from_stream,
            fill_reads_from_rest: self.from_rest,
            order_reads_from_stream: self.orders_from_stream,
            order_reads_from_rest: self.orders_from_rest,
        }
    }
}

impl BrokerSession {
    fn stream_state(&self) -> std::sync::MutexGuard<'_, StreamState> {
        self.stream.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The vendor pushes order and fill updates we read (Tradovate's and Ironbeam's user
    /// streams: every vendor we execute with).
    pub fn offers_stream(&self) -> bool {
        match self.client {
            BrokerClient::Tradovate(_) | BrokerClient::Ironbeam(_) => true,
        }
    }

    /// Changes when the stream applied an order or fill event.
    pub fn stream_updates(&self) -> tokio::sync::watch::Receiver<u64> {
        self.updates.subscribe()
    }

    /// Synced now: fills come from the stream.
    pub fn stream_synced(&self) -> bool {
        self.stream_state().status == StreamStatus::Synced
    }

    /// Whether the socket that last ended had synced (reconnect backoff starts over).
    pub fn stream_last_run_synced(&self) -> bool {
        self.stream_state().last_run_synced
    }

    pub(super) fn stream_health(&self) -> Option<StreamHealth> {
        self.offers_stream().then(|| self.stream_state().health())
    }

    fn set_status(&self, s: &mut StreamState, status: StreamStatus) {
        if s.status != status {
            s.status = status;
            s.since = Some(self.clock.now());
        }
    }

    fn on_stream(&self, update: Update) {
        let mut s = self.stream_state();
        s.last_frame_at = Some(self.clock.now());
        match update {
            Update::Authorized => s.authorizations += 1,
            Update::Beat => {}
            Update::Synced(sync) => {
                s.sync = Some(sync);
                s.last_error = None;
                self.set_status(&mut s, StreamStatus::Synced);
            }
            Update::Event(event) => {
                let applied = s.sync.as_mut().is_some_and(|sync| sync.apply(&event));
                if applied && matches!(event.kind, EntityKind::Order | EntityKind::Fill) {
                    self.updates.send_modify(|n| *n = n.wrapping_add(1));
                }
            }
        }
    }

    fn stream_started(&self) {
        let mut s = self.stream_state();
        s.connects += 1;
        s.sync = None;
        self.set_status(&mut s, StreamStatus::Connecting);
    }

    fn stream_ended(&self, error: Option<String>) {
        let mut s = self.stream_state();
        s.drops += 1;
        s.last_run_synced = s.status == StreamStatus::Synced;
        s.sync = None;
        if error.is_some() {
            s.last_error = error;
        }
        self.set_status(&mut s, StreamStatus::Down);
    }

    /// A REST fill poll answered `fills` (the fallback).
    pub(super) fn count_rest_fill_read(&self) {
        self.stream_state().from_rest += 1;
    }

    /// A REST order poll answered `orders` (the fallback).
    pub(super) fn count_rest_order_read(&self) {
        self.stream_state().orders_from_rest += 1;
    }

    /// The account's orders from the stream (a contract name not synced is read once with
    /// `GET /contract/item`), `None` when it is not synced or that read failed.
    pub(super) async fn stream_orders(&self) -> Option<Result<Vec<BrokerOrder>, Failure>> {
        let (client, login, account, unknown) = self.synced_gaps(UserSync::contracts_unknown)?;
        for id in unknown {
            let BrokerClient::Tradovate(client) = client else {
                return None;
            };
            match client.contract_name(&login.token, id).await {
                Ok(name) => {
                    if let Some(sync) = self.stream_state().sync.as_mut() {
                        sync.set_contract(id, name);
                    }
                }
                Err(f) => {
                    tracing::debug!(code = f.code, "contract not read: the REST poll answers");
                    return None;
                }
            }
        }
        self.synced_answer(&account, UserSync::orders, |s| s.orders_from_stream += 1)
    }

    /// The account's fills from the stream, `None` when it is not synced (or a fee read
    /// failed): the caller polls REST then.
    pub(super) async fn stream_fills(&self) -> Option<Result<Vec<BrokerFill>, Failure>> {
        let (client, login, account, unknown) = self.synced_gaps(UserSync::fees_unknown)?;
        if !unknown.is_empty() {
            let BrokerClient::Tradovate(client) = client else {
                return None;
            };
            match client.fill_fees(&login.token, &unknown).await {
                Ok(found) => {
                    if let Some(sync) = self.stream_state().sync.as_mut() {
                        sync.set_fees(&unknown, &found);
                    }
                }
                Err(f) => {
                    tracing::debug!(code = f.code, "fill fees not read: the REST poll answers");
                    return None;
                }
            }
        }
        self.synced_answer(&account, UserSync::fills, |s| s.from_stream += 1)
    }

    /// The client, the login and the account, with the ids the synced state still needs read
    /// over REST (`gaps`: Tradovate's fees and contract names; Ironbeam has none); `None` when
    /// the stream cannot answer (not logged in, not synced).
    fn synced_gaps(
        &self,
        gaps: fn(&UserSync, &Account) -> Vec<i64>,
    ) -> Option<(&BrokerClient, Login, Account, Vec<i64>)> {
        let client = &self.client;
        let (login, account) = {
            let st = self.state();
            (st.login.clone()?, st.account.clone()?)
        };
        let s = self.stream_state();
        if s.status != StreamStatus::Synced {
            return None;
        }
        let unknown = gaps(s.sync.as_ref()?, &account);
        Some((client, login, account, unknown))
    }

    /// `read` of the synced state, counted by `count`; `None` when the stream stopped being
    /// synced meanwhile.
    fn synced_answer<T>(
        &self,
        account: &Account,
        read: fn(&UserSync, &Account) -> T,
        count: impl FnOnce(&mut StreamState),
    ) -> Option<T> {
        let mut s = self.stream_state();
        if s.status != StreamStatus::Synced {
            return None;
        }
        let answer = read(s.sync.as_ref()?, account);
        count(&mut s);
        Some(answer)
    }

    /// What the session's socket needs: Tradovate its URL and the user it syncs (its
    /// `userId`), Ironbeam the account (its stream id is created per socket); with the
    /// session's token channel. `None` while not logged in (or, Ironbeam, no account known).
    fn stream_target(&self) -> Option<(Target, Tokens)> {
        if !self.offers_stream() {
            return None;
        }
        let target = match &self.client {
            BrokerClient::Tradovate(_) => {
                let user = self.state().login.as_ref()?.user_id?;
                match tradovate_stream::ws_url(&self.client.base().base) {
                    Ok(url) => Target::Tradovate { url, user },
                    Err(f) => {
                        self.stream_state().last_error = Some(format!("{}: {}", f.code, f.message));
                        return None;
                    }
                }
            }
            BrokerClient::Ironbeam(_) => {
                let st = self.state();
                st.login.as_ref()?;
                Target::Ironbeam {
                    account: st.account.clone()?,
                }
            }
        };
        Some((target, self.token.subscribe()))
    }
}

type Tokens = tokio::sync::watch::Receiver<Option<crate::config::Secret>>;

/// Where a session's socket goes.
enum Target {
    Tradovate { url: url::Url, user: i64 },
    Ironbeam { account: Account },
}

/// Marks the stream down when its task ends, however it ends (an error, or the task aborted
/// with its actor).
struct Ended {
    session: Arc<BrokerSession>,
    error: Option<String>,
}

impl Drop for Ended {
    fn drop(&mut self) {
        self.session.stream_ended(self.error.take());
    }
}

/// One socket of the session's user stream, until it ends (the actor opens the next).
pub async fn run_stream(session: Arc<BrokerSession>, cfg: StreamConfig) {
    let Some((target, token)) = session.stream_target() else {
        return;
    };
    session.stream_started();
    let mut ended = Ended {
        session: session.clone(),
        error: Some("stopped".into()),
    };
    let s = session.clone();
    let on = move |u| s.on_stream(u);
    let result = match (&target, &session.client) {
        (Target::Tradovate { url, user }, _) => {
            tradovate_stream::run(url, *user, token, &cfg, on).await
        }
        (Target::Ironbeam { account }, BrokerClient::Ironbeam(client)) => {
            ironbeam_stream::run(client, account, token, &cfg, on).await
        }
        (Target::Ironbeam { .. }, _) => Ok(()),
    };
    ended.error = match result {
        Ok(()) => Some("the session ended".into()),
        Err(f) => {
            tracing::info!(broker = session.vendor().id(), code = f.code, error = %f.message,
                "user stream ended; REST polling until it is back");
            Some(format!("{}: {}", f.code, f.message))
        }
    };
}
