//! Ironbeam's stream as the simulator serves it (its OpenAPI document, tag `Streaming`):
//!
//! - `GET /ironbeam/v2/stream/create` (Bearer) answers `StreamIdResponse` `{"status":"OK",
//!   "message":"OK","streamId":"<uuid>"}`; without a live token, 401 `{"status":"ERROR",
//!   "message":"Unauthorized","error":…}` (`ErrorResponse401`);
//! - the WebSocket `GET /ironbeam/v2/stream/{streamId}?token=<token>`: a token the simulator
//!   did not issue (or that expired) is refused 401, a stream id it did not create — or one a
//!   socket already used (the document: "each time websocket connection is closed, the client
//!   must call getStreamId … to create a new streamId") — 400 (`ErrorResponse400`; the
//!   document does not say which status an unknown or used id gets: 400 is one it lists);
//! - on open the socket sends the fills snapshot (`f`, the document's "initial fills
//!   snapshot") and the positions snapshot (`psa`); then, checked every 100 ms, one
//!   `StreamResponse` per change of the matching engine: changed orders (`o`, `OrderOpt`),
//!   new fills (`f`, `OrderFillOpt`, `ouid` = REST's `orderUpdateId`) and the positions they
//!   moved (`ps`, `PositionOpt`); a ping (`{"p":{"ping":"ping"}}`) every 5 s.
//!
//! Faults (module docs of `sandbox::broker`, vendor `ironbeam`): `drop_socket`,
//! `stop_heartbeats` (no ping, no event), `duplicate_events`, `disconnect`, as Tradovate's.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::{
    extract::ws::{Message, WebSocket},
    http::StatusCode,
    response::Response,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::engine::{self, SimFill, SimOrder, SimOrderKind, SimStatus};
use super::ironbeam::{ACCOUNT, VENDOR, error, order_id, side_str, status_str};
use super::{BrokerFault, BrokerSim};
use crate::clock::Clock;

/// The vendor's ping ("sent every 5 seconds").
const PING_EVERY: Duration = Duration::from_secs(5);
/// How often the matching engine is looked at for changes to push.
const TICK: Duration = Duration::from_millis(100);

/// `OrderOpt`.
pub fn order_opt(o: &SimOrder) -> Value {
    let mut v = json!({
        "oid": order_id(o), "sid": o.id, "a": o.account, "s": o.symbol, "st": status_str(o),
        "sd": side_str(o.side), "q": o.quantity, "fq": o.filled,
        // `DurationType`: "0" day, "1" good till cancel (an order placed from outside the
        // product carries the word).
        "dr": match o.time_in_force.as_str() {
            "1" | "GTC" | "Gtc" => "1",
            _ => "0",
        },
    });
    match o.kind {
        SimOrderKind::Market => v["ot"] = json!("1"),
        SimOrderKind::Limit(p) => {
            v["ot"] = json!("2");
            v["lp"] = json!(p);
        }
        SimOrderKind::Stop(p) => {
            v["ot"] = json!("3");
            v["sp"] = json!(p);
        }
    }
    if let Some(p) = o.avg_price {
        v["fp"] = json!(p);
        v["fd"] = json!(o.updated_at.to_rfc3339());
    }
    if let Some(why) = &o.reject_reason {
        v["err"] = json!({"errorCode": 1, "errorText": why});
    }
    v
}

/// `OrderFillOpt` (the REST fill's `orderUpdateId` as `ouid`).
pub fn fill_opt(f: &SimFill, orders: &[SimOrder]) -> Value {
    let o = orders.iter().find(|o| o.id == f.order_id);
    json!({
        "oid": format!("{ACCOUNT}-{}", f.order_id), "sid": f.order_id, "a": f.account,
        "s": f.symbol, "st": o.map_or("FILLED", status_str), "sd": side_str(f.side),
        "q": o.map_or(f.quantity, |o| o.quantity), "p": f.price, "fq": f.quantity,
        "ftq": o.map_or(f.quantity, |o| o.filled), "fp": f.price,
        "afp": o.and_then(|o| o.avg_price).unwrap_or(f.price), "fd": f.at.to_rfc3339(),
        "t": f.at.timestamp_millis(), "ouid": format!("{}-{}", f.order_id, f.id),
    })
}

/// `PositionOpt` of the demo account's net position in `symbol`.
fn position_opt(symbol: &str, net: i64, avg: f64, now: DateTime<Utc>) -> Value {
    json!({
        "a": ACCOUNT, "cc": "USD", "s": symbol, "pId": format!("{ACCOUNT}-{symbol}"),
        "q": net.abs(), "p": avg, "do": now.format("%Y%m%d").to_string(),
        "sd": if net >= 0 { "LONG" } else { "SHORT" }, "upl": 0.0,
    })
}

/// An order as last told: status, filled, quantity, last modify.
type OrderState = (SimStatus, u32, u32, Option<DateTime<Utc>>);

/// What the socket has already told the client.
#[derive(Default)]
struct Told {
    orders: HashMap<u64, OrderState>,
    fills: HashSet<u64>,
}

impl Told {
    /// The changes since the last look as one `StreamResponse` (`None`: nothing changed).
    fn changes(
        &mut self,
        orders: &[SimOrder],
        fills: &[SimFill],
        now: DateTime<Utc>,
    ) -> Option<Value> {
        let mut o = Vec::new();
        for order in orders {
            let state = (
                order.status,
                order.filled,
                order.quantity,
                order.modified_at,
            );
            if self.orders.insert(order.id, state) != Some(state) {
                o.push(order_opt(order));
            }
        }
        let mut f = Vec::new();
        let mut moved = Vec::new();
        for fill in fills {
            if self.fills.insert(fill.id) {
                f.push(fill_opt(fill, orders));
                if !moved.contains(&fill.symbol) {
                    moved.push(fill.symbol.clone());
                }
            }
        }
        let ps: Vec<Value> = engine::positions(fills, ACCOUNT)
            .into_iter()
            .filter(|(s, _, _)| moved.contains(s))
            .map(|(s, net, avg)| position_opt(&s, net, avg, now))
            .collect();
        let mut m = serde_json::Map::new();
        for (k, v) in [("o", o), ("f", f), ("ps", ps)] {
            if !v.is_empty() {
                m.insert(k.into(), Value::Array(v));
            }
        }
        (!m.is_empty()).then_some(Value::Object(m))
    }
}

fn text(v: &Value) -> Message {
    Message::Text(v.to_string().into())
}

/// Whether the socket must close now (a dropped socket, the vendor unreachable).
fn dropped(sim: &BrokerSim) -> bool {
    sim.take(VENDOR, BrokerFault::DropSocket) || sim.armed(VENDOR, BrokerFault::Disconnect)
}

/// `GET /stream/create` for a caller whose token is live: a new stream id (a uuid, the
/// schema's `StreamSessionId`, from the simulator's clock and counter).
pub(super) fn create(sim: &BrokerSim, now: DateTime<Utc>) -> Value {
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    let id = uuid::Uuid::from_u64_pair(millis, sim.next_id()).to_string();
    sim.lock().streams.push((id.clone(), false));
    json!({"status": "OK", "message": "OK", "streamId": id})
}

/// The vendor's refusal of the socket for `stream_id` with `token`; `None`: it may open (the
/// id is then used up).
pub fn admit(
    sim: &BrokerSim,
    stream_id: &str,
    token: Option<&str>,
    now: DateTime<Utc>,
) -> Option<Response> {
    if dropped(sim) {
        return Some(super::json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!("Service Unavailable"),
        ));
    }
    if !token.is_some_and(|t| sim.token_live(VENDOR, t, now)) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Invalid or expired token",
        ));
    }
    let mut b = sim.lock();
    match b
        .streams
        .iter_mut()
        .find(|(id, _)| id == stream_id)
        .map(|(_, used)| used)
    {
        Some(used @ false) => {
            *used = true;
            None
        }
        Some(true) => Some(error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "The streamId was already used: create a new one",
        )),
        None => Some(error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Unknown streamId",
        )),
    }
}

/// Serves one upgraded socket until either side closes it.
pub async fn serve(mut ws: WebSocket, sim: BrokerSim, clock: Clock) {
    let now = clock.now();
    let (orders, fills) = sim.advance(VENDOR, now);
    let mut told = Told::default();
    told.changes(&orders, &fills, now);
    let positions: Vec<Value> = engine::positions(&fills, ACCOUNT)
        .into_iter()
        .filter(|(_, net, _)| *net != 0)
        .map(|(s, net, avg)| position_opt(&s, net, avg, now))
        .collect();
    let snapshot = json!({
        "f": fills.iter().map(|f| fill_opt(f, &orders)).collect::<Vec<_>>(),
        "psa": [{"a": ACCOUNT, "p": positions}],
    });
    if ws.send(text(&snapshot)).await.is_err() {
        return;
    }
    let mut tick = tokio::time::interval(TICK);
    let mut last_ping = tokio::time::Instant::now();
    loop {
        tokio::select! {
            msg = ws.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                // The document defines no client message on the socket.
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {
                if dropped(&sim) {
                    let _ = ws.send(Message::Close(None)).await;
                    return;
                }
                if sim.armed(VENDOR, BrokerFault::StopHeartbeats) {
                    continue;
                }
                let now = clock.now();
                let (orders, fills) = sim.advance(VENDOR, now);
                if let Some(changes) = told.changes(&orders, &fills, now) {
                    let times = if sim.armed(VENDOR, BrokerFault::DuplicateEvents) { 2 } else { 1 };
                    for _ in 0..times {
                        if ws.send(text(&changes)).await.is_err() {
                            return;
                        }
                    }
                }
                let at = tokio::time::Instant::now();
                if at - last_ping >= PING_EVERY {
                    last_ping = at;
                    if ws.send(text(&json!({"p": {"ping": "ping"}}))).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
