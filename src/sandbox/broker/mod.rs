//! The broker simulator (issue 17 part 8): Tradovate (`/tradovate/v1/…`) and Ironbeam
//! (`/ironbeam/v2/…`) with their own paths, auth and error shapes, one demo account each,
//! orders, fills and positions, and a matching engine on the sandbox's synthetic bars
//! (`ohlcv`, the bars the sandbox's Databento serves for the same contract):
//!
//! - a market order fills at once at the open of the minute bar trading now (no bar: the
//!   market is closed and the order is rejected);
//! - a limit or stop order fills on the first complete minute bar after it was placed that
//!   touches its price (limit: at the limit or a better open; stop: at the stop or a worse
//!   open);
//! - with the `partial` fault a market order of two or more fills half now and the rest at
//!   the next minute's open.
//!
//! Tradovate is idempotent on `clOrdId` (a second place with the same id answers the first
//! order); Ironbeam's order request has no client id, so a retransmitted place makes a second
//! order, as it would at the vendor.
//!
//! Faults (`POST /_sandbox/broker/faults` `{"vendor": "tradovate"|"ironbeam", "fault": <BrokerFault>|null,
//! "count": n, "delay_ms": n}`): `reject_margin`, `reject_closed_market` (the next place is
//! refused), `lost_ack` (the order is taken, the answer is a 504), `delayed_ack` (answered
//! after `delay_ms`), `duplicate_submit` (the place is processed twice, as a retransmission
//! would be), `token_expiry` (every token of the vendor expires now), `rate_limited` (Ironbeam
//! 429 `{"status":"ERROR"…}`; Tradovate 429 on calls, a `p-ticket` on login), `partial`,
//! `disconnect` (every request of the vendor, login included, is a 503 while armed: the
//! session is lost; cancel-on-disconnect tests arm it without a count and clear it).
//! `GET /_sandbox/broker/orders?vendor=` lists every order the simulator holds (tests count
//! duplicates with it), and for Ironbeam the stream ids it created (`streams`: `id`, `used`).
//!
//! Tradovate's trading WebSocket (`/tradovate/v1/websocket`, [`tradovate_ws`]): authorize,
//! `user/syncrequest`, then `props` events as the matching engine changes orders and fills.
//! Ironbeam's stream ([`ironbeam_ws`]): `GET /ironbeam/v2/stream/create` (a single-use stream
//! id), then the WebSocket `/ironbeam/v2/stream/{streamId}?token=`: the fills and positions
//! snapshot, `o`/`f`/`ps` messages as the matching engine changes orders and fills, a `p` ping
//! every 5 s. The sockets' faults (per vendor): `drop_socket` (open sockets are closed and new
//! ones refused, `count` sockets or until cleared), `stop_heartbeats` (open sockets go silent:
//! no `h` or `p`, no events, until cleared), `duplicate_events` (every event frame is sent
//! twice, until cleared); `disconnect` closes and refuses sockets too.
//!
//! Modify: Tradovate `POST /order/modifyorder` (the whole new terms; `TooLate` once the order
//! is no longer working, the order type cannot change) and Ironbeam `PUT
//! /order/{accountId}/update/{orderId}` (`OrderUpdateRequest`: `orderId` equal to the path's,
//! `quantity` required, no property outside the schema; the price of the order's own type).
//!
//! Changes behind the product's back (reconciliation tests): `POST
//! /_sandbox/broker/external_order {"vendor", "symbol": "ES", "side": "BUY"|"SELL",
//! "quantity": n, "limit_price"?: p}` places an order on the vendor's demo account as another
//! terminal would (no client id; the front contract now): a market order fills at once at the
//! minute bar's open and moves the account's position, a limit order rests as a working order
//! nobody of ours knows.

mod engine;
mod ironbeam;
mod ironbeam_ws;
mod tradovate;
mod tradovate_ws;

/// Ironbeam's stream socket (`GET /ironbeam/v2/stream/{streamId}?token=`): the vendor's
/// refusal (503 while dropped or unreachable, 401 for a bad token, 400 for an unknown or used
/// stream id) or the upgrade (`ws`: the request's upgrade, or why it is not one).
pub fn ironbeam_socket(
    sim: &BrokerSim,
    clock: Clock,
    stream_id: &str,
    token: Option<&str>,
    ws: Result<axum::extract::ws::WebSocketUpgrade, Response>,
) -> Response {
    if let Some(refused) = ironbeam_ws::admit(sim, stream_id, token, clock.now()) {
        return refused;
    }
    match ws {
        Ok(ws) => {
            let sim = sim.clone();
            ws.on_upgrade(move |socket| ironbeam_ws::serve(socket, sim, clock))
        }
        Err(not_an_upgrade) => not_an_upgrade,
    }
}

/// Tradovate's trading WebSocket (`GET /tradovate/v1/websocket`): the upgrade, or 503 while
/// the socket is dropped or the vendor unreachable.
pub fn tradovate_socket(
    sim: &BrokerSim,
    clock: Clock,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    if tradovate_ws::refuses(sim) {
        return json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!("Service Unavailable"),
        );
    }
    let sim = sim.clone();
    ws.on_upgrade(move |socket| tradovate_ws::serve(socket, sim, clock))
}

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::{
    body::Bytes,
    http::{HeaderMap, Method, StatusCode},
    response::Response,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{json_reply, ok};
use crate::clock::Clock;
pub use engine::{SimFill, SimOrder, SimOrderKind, SimStatus};

/// A fault the broker endpoints answer with, set on command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerFault {
    RejectMargin,
    RejectClosedMarket,
    LostAck,
    DelayedAck,
    DuplicateSubmit,
    TokenExpiry,
    RateLimited,
    Partial,
    /// The vendor is unreachable: every request of the vendor (login included) is answered
    /// 503 until cleared (or for `count` requests).
    Disconnect,
    /// The vendor's user-stream WebSocket is dropped: open sockets are closed, new ones
    /// refused.
    DropSocket,
    /// The vendor's user-stream WebSocket goes silent (no heartbeat or ping, no event); it
    /// stays open.
    StopHeartbeats,
    /// Every event frame of the vendor's user-stream WebSocket is sent twice.
    DuplicateEvents,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExternalOrder {
    vendor: String,
    symbol: String,
    side: crate::domain::side::Side,
    quantity: u32,
    limit_price: Option<f64>,
}

#[derive(Debug, serde::Deserialize)]
struct FaultCommand {
    vendor: String,
    fault: Option<BrokerFault>,
    count: Option<u32>,
    delay_ms: Option<u64>,
}

/// How long a token the simulator issues lives (Tradovate documents 80–90 minutes).
pub const TOKEN_TTL_MINUTES: i64 = 80;

#[derive(Default)]
struct Book {
    next_id: u64,
    /// token → (vendor, expiry).
    tokens: HashMap<String, (&'static str, DateTime<Utc>)>,
    orders: Vec<SimOrder>,
    fills: Vec<SimFill>,
    /// (vendor, fault) → requests left (`None`: until cleared).
    faults: HashMap<(String, BrokerFault), Option<u32>>,
    delay_ms: u64,
    /// Logins answered, per vendor (a test checks nothing loops on login).
    logins: HashMap<&'static str, u64>,
    /// Ironbeam stream ids created, oldest first (`true` once a socket used it).
    streams: Vec<(String, bool)>,
}

/// The simulator's state, shared by the sandbox's handlers.
#[derive(Clone, Default)]
pub struct BrokerSim {
    book: Arc<Mutex<Book>>,
}

impl BrokerSim {
    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_id(&self) -> u64 {
        let mut b = self.lock();
        b.next_id += 1;
        b.next_id
    }

    /// Consumes one use of `fault` for `vendor` if it is armed.
    fn take(&self, vendor: &str, fault: BrokerFault) -> bool {
        let mut b = self.lock();
        let key = (vendor.to_owned(), fault);
        match b.faults.get_mut(&key) {
            None => false,
            Some(None) => true,
            Some(Some(n)) => {
                *n -= 1;
                if *n == 0 {
                    b.faults.remove(&key);
                }
                true
            }
        }
    }

    /// Whether `fault` is armed for `vendor` (without using it up).
    fn armed(&self, vendor: &str, fault: BrokerFault) -> bool {
        self.lock().faults.contains_key(&(vendor.to_owned(), fault))
    }

    /// Whether `token` is a live token of `vendor` (one the simulator issued, not expired; a
    /// `token_expiry` fault is left to the REST calls that consume it).
    fn token_live(&self, vendor: &'static str, token: &str, now: DateTime<Utc>) -> bool {
        self.lock()
            .tokens
            .get(token.trim())
            .is_some_and(|(v, exp)| *v == vendor && *exp > now)
    }

    fn issue_token(&self, vendor: &'static str, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
        let id = self.next_id();
        let token = format!("sim-{vendor}-{id}-{}", now.timestamp_millis());
        let expires = now + chrono::Duration::minutes(TOKEN_TTL_MINUTES);
        let mut b = self.lock();
        b.tokens.insert(token.clone(), (vendor, expires));
        *b.logins.entry(vendor).or_default() += 1;
        (token, expires)
    }

    /// Whether `headers` carry a live token of `vendor` (the `token_expiry` fault expires
    /// them all first).
    fn authorized(&self, vendor: &'static str, headers: &HeaderMap, now: DateTime<Utc>) -> bool {
        if self.take(vendor, BrokerFault::TokenExpiry) {
            self.lock().tokens.retain(|_, (v, _)| *v != vendor);
        }
        let Some(token) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        self.lock()
            .tokens
            .get(token.trim())
            .is_some_and(|(v, exp)| *v == vendor && *exp > now)
    }

    /// Replaces the token's expiry (Tradovate `renewaccesstoken`).
    fn renew(&self, headers: &HeaderMap, now: DateTime<Utc>) -> Option<(String, DateTime<Utc>)> {
        let token = headers
            .get("authorization")?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?
            .trim()
            .to_owned();
        let expires = now + chrono::Duration::minutes(TOKEN_TTL_MINUTES);
        let mut b = self.lock();
        let entry = b.tokens.get_mut(&token)?;
        entry.1 = expires;
        Some((token, expires))
    }

    /// Runs the matching engine up to `now` and returns a snapshot of `vendor`'s book.
    fn advance(&self, vendor: &str, now: DateTime<Utc>) -> (Vec<SimOrder>, Vec<SimFill>) {
        let mut b = self.lock();
        let Book {
            orders,
            fills,
            next_id,
            ..
        } = &mut *b;
        engine::advance(orders, fills, next_id, now);
        (
            orders
                .iter()
                .filter(|o| o.vendor == vendor)
                .cloned()
                .collect(),
            fills
                .iter()
                .filter(|f| f.vendor == vendor)
                .cloned()
                .collect(),
        )
    }

    /// Accepts an order (idempotent on a client id) and fills what fills now.
    fn accept(&self, mut order: SimOrder, now: DateTime<Utc>) -> SimOrder {
        let mut b = self.lock();
        if let Some(cid) = &order.client_id
            && let Some(existing) = b
                .orders
                .iter()
                .find(|o| o.vendor == order.vendor && o.client_id.as_ref() == Some(cid))
        {
            return existing.clone();
        }
        b.next_id += 1;
        order.id = b.next_id;
        let Book {
            orders,
            fills,
            next_id,
            ..
        } = &mut *b;
        orders.push(order);
        engine::advance(orders, fills, next_id, now);
        orders
            .last()
            .cloned()
            .unwrap_or_else(SimOrder::rejected_placeholder)
    }

    fn cancel(&self, vendor: &str, id: u64, now: DateTime<Utc>) -> Option<SimOrder> {
        let mut b = self.lock();
        let Book {
            orders,
            fills,
            next_id,
            ..
        } = &mut *b;
        engine::advance(orders, fills, next_id, now);
        let o = orders
            .iter_mut()
            .find(|o| o.vendor == vendor && o.id == id)?;
        if o.status.is_working() {
            o.status = SimStatus::Cancelled;
            o.updated_at = now;
        }
        Some(o.clone())
    }

    /// A working order's new quantity and terms (the vendors' modify): `change` maps its
    /// kind to the new one or refuses; matching restarts after the change. `Err`: why the
    /// vendor refuses (no such order, no longer working, a quantity not above what filled).
    fn modify(
        &self,
        vendor: &str,
        id: u64,
        quantity: u32,
        change: impl FnOnce(SimOrderKind) -> Result<SimOrderKind, &'static str>,
        now: DateTime<Utc>,
    ) -> Result<SimOrder, &'static str> {
        let mut b = self.lock();
        let Book {
            orders,
            fills,
            next_id,
            ..
        } = &mut *b;
        engine::advance(orders, fills, next_id, now);
        let o = orders
            .iter_mut()
            .find(|o| o.vendor == vendor && o.id == id)
            .ok_or("no such order")?;
        if !o.status.is_working() {
            return Err("the order is no longer working");
        }
        if quantity == 0 || quantity <= o.filled {
            return Err("the quantity must exceed what has filled");
        }
        o.kind = change(o.kind)?;
        o.quantity = quantity;
        o.modified_at = Some(now);
        o.updated_at = now;
        Ok(o.clone())
    }

    fn delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.lock().delay_ms)
    }
}

/// Answers a broker path, or `None` when the path is not one.
pub(super) async fn route(
    sim: &BrokerSim,
    clock: &Clock,
    method: &Method,
    segments: &[&str],
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Option<Response> {
    match segments {
        ["_sandbox", "broker", "faults"] if method == Method::POST => {
            Some(match serde_json::from_slice::<FaultCommand>(body) {
                Ok(cmd) => {
                    let mut b = sim.lock();
                    match cmd.fault {
                        Some(f) => {
                            b.faults.insert((cmd.vendor, f), cmd.count);
                            if let Some(ms) = cmd.delay_ms {
                                b.delay_ms = ms;
                            }
                        }
                        None => b.faults.retain(|(v, _), _| *v != cmd.vendor),
                    }
                    ok(json!({"ok": true}))
                }
                Err(e) => json_reply(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
            })
        }
        ["_sandbox", "broker", "external_order"] if method == Method::POST => {
            Some(match serde_json::from_slice::<ExternalOrder>(body) {
                Ok(cmd) => external_order(sim, clock.now(), cmd),
                Err(e) => json_reply(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
            })
        }
        ["_sandbox", "broker", "orders"] if method == Method::GET => {
            let vendor = query.get("vendor").map(String::as_str).unwrap_or("");
            let (orders, fills) = sim.advance(vendor, clock.now());
            let b = sim.lock();
            let logins = b.logins.get(vendor).copied().unwrap_or(0);
            let streams: Vec<Value> = b
                .streams
                .iter()
                .filter(|_| vendor == "ironbeam")
                .map(|(id, used)| json!({"id": id, "used": used}))
                .collect();
            Some(ok(
                json!({"orders": orders, "fills": fills, "logins": logins, "streams": streams}),
            ))
        }
        ["tradovate" | "ironbeam", ..] if sim.take(segments[0], BrokerFault::Disconnect) => {
            Some(json_reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!("Service Unavailable"),
            ))
        }
        ["tradovate", "v1", rest @ ..] => {
            tradovate::route(sim, clock.now(), method, rest, headers, query, body).await
        }
        ["ironbeam", "v2", rest @ ..] => {
            ironbeam::route(sim, clock.now(), method, rest, headers, body).await
        }
        _ => None,
    }
}

/// An order placed on the vendor's demo account from outside the product (module docs).
fn external_order(sim: &BrokerSim, now: DateTime<Utc>, cmd: ExternalOrder) -> Response {
    use crate::domain::contracts::{Contract, Vendor};
    let bad = |e: String| json_reply(StatusCode::BAD_REQUEST, json!({"error": e}));
    let (vendor, account, spelling): (&'static str, String, Vendor) = match cmd.vendor.as_str() {
        "tradovate" => (
            "tradovate",
            tradovate::ACCOUNT_ID.to_string(),
            Vendor::Tradovate,
        ),
        "ironbeam" => ("ironbeam", ironbeam::ACCOUNT.to_owned(), Vendor::Ironbeam),
        other => return bad(format!("unknown vendor {other}")),
    };
    let Some(root) = crate::domain::instruments::Symbol::parse(&cmd.symbol) else {
        return bad(format!("unknown symbol {}", cmd.symbol));
    };
    if cmd.quantity == 0 {
        return bad("quantity must be at least 1".into());
    }
    let contract = Contract::front_at(root, now);
    let bar_symbol = contract.spelled_for(Vendor::Databento);
    let kind = match cmd.limit_price {
        Some(p) => SimOrderKind::Limit(p),
        None => SimOrderKind::Market,
    };
    if kind == SimOrderKind::Market && engine::bar_now(&bar_symbol, now).is_none() {
        return bad("the market is closed: a market order cannot fill".into());
    }
    let order = SimOrder {
        id: 0,
        vendor,
        account,
        client_id: None,
        symbol: contract.spelled_for(spelling),
        bar_symbol,
        side: cmd.side,
        quantity: cmd.quantity,
        filled: 0,
        avg_price: None,
        kind,
        time_in_force: "Day".into(),
        status: SimStatus::Working,
        reject_reason: None,
        created_at: now,
        updated_at: now,
        fill_from: (kind == SimOrderKind::Market).then(|| engine::minute_of(now)),
        partial: false,
        modified_at: None,
    };
    ok(json!({ "order": sim.accept(order, now) }))
}

fn sim_json(v: Value) -> Response {
    ok(v)
}
