//! Tradovate's trading WebSocket as the simulator serves it (`/tradovate/v1/websocket`), with
//! the vendor's framing (tradovate/example-api-js `TradovateSocket.js`; reference/providers.md
//! §7.2): `o` on open, `h` every 2.5 s, `a[…]` message arrays, `c[code,"reason"]` before a
//! close. Requests are `<endpoint>\n<id>\n<query>\n<body>`, answered `{"s":…,"i":…,"d":…}`:
//!
//! - `authorize` (body: the access token): `{"s":200,"i":id}`, or `{"s":401,"i":id,"d":"Access
//!   is denied"}` for a token the simulator did not issue or that expired; it may be sent
//!   again on an open socket (a new token);
//! - `user/syncrequest {"users":[1]}`: the user's `SyncMessage` now (`users`, `accounts`,
//!   `orders`, `orderVersions`, `fills`, `positions`, `contracts`, `cashBalances`), then
//!   `{"e":"props","d":{"entityType","eventType":"Created"|"Updated","entity"}}` as the
//!   matching engine changes orders (with their `orderVersion`), fills and positions —
//!   checked every 100 ms;
//! - any other endpoint: 404 (`"Not found: <endpoint>"`); before `authorize`: 401.
//!
//! The client's `[]` heartbeat is required: a socket silent for 10 s is closed, as the vendor
//! drops a client without heartbeats. Faults: module docs of `sandbox::broker`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::engine::{self, SimOrder, SimStatus};
use super::tradovate::{
    ACCOUNT_ID, USER_ID, VENDOR, account_json, contract_json, fill_json, order_json, position_json,
    positions_json, version_json,
};
use super::{BrokerFault, BrokerSim};
use crate::clock::Clock;

/// The server heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(2500);
/// A client silent this long is dropped.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the matching engine is looked at for changes to push.
const TICK: Duration = Duration::from_millis(100);

/// An order as last told: status, filled, quantity, last modify.
type OrderState = (SimStatus, u32, u32, Option<DateTime<Utc>>);

/// What a synced socket has already told the client.
#[derive(Default)]
struct Told {
    orders: HashMap<u64, OrderState>,
    fills: HashSet<u64>,
}

fn props(entity_type: &str, event_type: &str, entity: Value) -> Value {
    json!({"e": "props", "d": {"entityType": entity_type, "eventType": event_type, "entity": entity}})
}

fn frame(messages: &[Value]) -> Message {
    Message::Text(format!("a{}", Value::Array(messages.to_vec())).into())
}

impl Told {
    /// The events since the last look (orders first, so a fill's order is known before it).
    fn events(
        &mut self,
        orders: &[SimOrder],
        fills: &[engine::SimFill],
        now: DateTime<Utc>,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        for o in orders {
            let state = (o.status, o.filled, o.quantity, o.modified_at);
            match self.orders.insert(o.id, state) {
                None => {
                    out.push(props("order", "Created", order_json(o)));
                    out.push(props("orderVersion", "Created", version_json(o)));
                }
                Some(old) if old != state => {
                    out.push(props("order", "Updated", order_json(o)));
                    if (old.2, old.3) != (o.quantity, o.modified_at) {
                        out.push(props("orderVersion", "Updated", version_json(o)));
                    }
                }
                Some(_) => {}
            }
        }
        let mut moved = Vec::new();
        for f in fills {
            if self.fills.insert(f.id) {
                out.push(props("fill", "Created", fill_json(f)));
                if !moved.contains(&f.symbol) {
                    moved.push(f.symbol.clone());
                }
            }
        }
        for (symbol, net, avg) in engine::positions(fills, &ACCOUNT_ID.to_string()) {
            if moved.contains(&symbol) {
                out.push(props(
                    "position",
                    "Updated",
                    position_json(&symbol, net, avg, now),
                ));
            }
        }
        out
    }
}

/// The `SyncMessage` for the demo user now.
fn snapshot(orders: &[SimOrder], fills: &[engine::SimFill], now: DateTime<Utc>) -> Value {
    let mut symbols: Vec<&str> = orders.iter().map(|o| o.symbol.as_str()).collect();
    symbols.sort_unstable();
    symbols.dedup();
    json!({
        "users": [{"id": USER_ID, "name": "sandbox", "status": "Active"}],
        "accounts": [account_json()],
        "orders": orders.iter().map(order_json).collect::<Vec<_>>(),
        "orderVersions": orders.iter().map(version_json).collect::<Vec<_>>(),
        "fills": fills.iter().map(fill_json).collect::<Vec<_>>(),
        "positions": positions_json(fills, now),
        "contracts": symbols.into_iter().map(contract_json).collect::<Vec<_>>(),
        "cashBalances": [],
    })
}

/// What the socket holds between messages.
struct Socket {
    sim: BrokerSim,
    clock: Clock,
    authorized: bool,
    told: Option<Told>,
}

impl Socket {
    /// Answers one client message; `None` for the client heartbeat.
    fn answer(&mut self, text: &str) -> Option<Value> {
        if text.trim() == "[]" {
            return None;
        }
        let mut parts = text.splitn(4, '\n');
        let endpoint = parts.next().unwrap_or("").trim();
        let id: Option<u64> = parts.next().and_then(|i| i.trim().parse().ok());
        let _query = parts.next().unwrap_or("");
        let body = parts.next().unwrap_or("");
        let Some(id) = id else {
            return Some(
                json!({"s": 400, "d": "a request is <endpoint>\\n<id>\\n<query>\\n<body>"}),
            );
        };
        let now = self.clock.now();
        if endpoint == "authorize" {
            self.authorized = self.sim.token_live(VENDOR, body, now);
            return Some(if self.authorized {
                json!({"s": 200, "i": id})
            } else {
                json!({"s": 401, "i": id, "d": "Access is denied"})
            });
        }
        if !self.authorized {
            return Some(json!({"s": 401, "i": id, "d": "Access is denied"}));
        }
        if endpoint != "user/syncrequest" {
            return Some(json!({"s": 404, "i": id, "d": format!("\"Not found: {endpoint}\"")}));
        }
        let users = serde_json::from_str::<Value>(body).ok();
        let users = users.as_ref().and_then(|b| b["users"].as_array());
        if !users.is_some_and(|u| u.iter().any(|x| x.as_i64() == Some(USER_ID))) {
            return Some(json!({"s": 400, "i": id, "d": "users must name the authorized user"}));
        }
        let (orders, fills) = self.sim.advance(VENDOR, now);
        let mut told = Told::default();
        told.events(&orders, &fills, now);
        self.told = Some(told);
        Some(json!({"s": 200, "i": id, "d": snapshot(&orders, &fills, now)}))
    }

    /// The events to push now, if synced.
    fn changes(&mut self) -> Vec<Value> {
        let Some(told) = self.told.as_mut() else {
            return Vec::new();
        };
        let now = self.clock.now();
        let (orders, fills) = self.sim.advance(VENDOR, now);
        told.events(&orders, &fills, now)
    }
}

/// Whether the socket must close now (a dropped socket, the vendor unreachable).
fn dropped(sim: &BrokerSim) -> bool {
    sim.take(VENDOR, BrokerFault::DropSocket) || sim.armed(VENDOR, BrokerFault::Disconnect)
}

/// Whether a new socket is refused (503) now.
pub fn refuses(sim: &BrokerSim) -> bool {
    dropped(sim)
}

/// Serves one upgraded socket until either side closes it.
pub async fn serve(mut ws: WebSocket, sim: BrokerSim, clock: Clock) {
    let mut socket = Socket {
        sim: sim.clone(),
        clock,
        authorized: false,
        told: None,
    };
    if ws.send(Message::Text("o".into())).await.is_err() {
        return;
    }
    let mut tick = tokio::time::interval(TICK);
    let mut last_h = tokio::time::Instant::now();
    let mut last_client = tokio::time::Instant::now();
    loop {
        tokio::select! {
            msg = ws.recv() => {
                let text = match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(_)) => continue,
                };
                last_client = tokio::time::Instant::now();
                if let Some(reply) = socket.answer(text.as_str())
                    && ws.send(frame(&[reply])).await.is_err()
                {
                    return;
                }
            }
            _ = tick.tick() => {
                let now = tokio::time::Instant::now();
                let close = if dropped(&sim) {
                    Some("dropped")
                } else if now - last_client > CLIENT_TIMEOUT {
                    Some("no heartbeat from the client")
                } else {
                    None
                };
                if let Some(why) = close {
                    let _ = ws.send(Message::Text(format!("c{}", json!([1000, why])).into())).await;
                    let _ = ws.send(Message::Close(None)).await;
                    return;
                }
                if sim.armed(VENDOR, BrokerFault::StopHeartbeats) {
                    continue;
                }
                let events = socket.changes();
                if !events.is_empty() {
                    let times = if sim.armed(VENDOR, BrokerFault::DuplicateEvents) { 2 } else { 1 };
                    for _ in 0..times {
                        if ws.send(frame(&events)).await.is_err() {
                            return;
                        }
                    }
                }
                if now - last_h >= HEARTBEAT_EVERY {
                    last_h = now;
                    if ws.send(Message::Text("h".into())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
