//! Tradovate's user stream (issue 17 part 2): the trading WebSocket
//! (`wss://demo|live.tradovateapi.com/v1/websocket`, our REST base URL with `ws(s)` and
//! `/websocket`), framed as Tradovate's tutorial `TradovateSocket.js` (tradovate/example-api-js,
//! `tutorial/WebSockets/EX-06-Heartbeats`) and reference/providers.md §7.2 describe:
//!
//! - server frames are one letter then a payload: `o` (open), `h` (heartbeat, about every
//!   2.5 s), `a[…]` (a JSON array of messages), `c[code,"reason"]` (close);
//! - after `o` the client sends `authorize\n0\n\n<accessToken>`; every request is
//!   `<endpoint>\n<id>\n<query>\n<json body>`, answered `{"i": id, "s": status, "d": data}`
//!   (`a[{"s":200,"i":0}]` for a good token, `s: 401` for a bad or dead one);
//! - the client sends `[]` as its heartbeat about every 2.5 s (without it the server drops it);
//! - `user/syncrequest {"users":[userId]}` answers the user's entities at once (Tradovate's
//!   `SyncMessage`: `orders`, `orderVersions`, `fills`, `positions`, `contracts`, … —
//!   tradovate/example-api-csharp-trading `services-api/docs/SyncMessage.md`) and then pushes
//!   `{"e":"props","d":{"entityType":"order"|"fill"|…,"eventType":"Created"|"Updated"|"Deleted",
//!   "entity":{…}}}` as they change.
//!
//! [`run`] keeps one socket: it authorizes, syncs, heartbeats, re-authorizes on the open socket
//! when the session's token changes, and returns why the socket ended (closed, silent for
//! longer than [`StreamConfig::silence`], refused): reconnecting is the caller's (the broker
//! session's actor, with backoff). [`UserSync`] is what the stream knows of the user's orders
//! and fills; it hands out the project's one [`BrokerFill`] (the same parsing as REST
//! `fill/list`, `tradovate::fill_of`). The sync carries no fees: a fill's commission is read
//! once with `GET /fillFee/items` (`Tradovate::fill_fees`) before it is handed out.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::{
    Account, BrokerFill, BrokerOrder,
    tradovate::{fill_of, order_of},
};
use crate::config::Secret;
use crate::domain::provider::Outcome;
use crate::integrations::outcome::{Failure, codes};

/// The client's heartbeat frame.
pub const HEARTBEAT: &str = "[]";

/// `authorize\n<id>\n\n<accessToken>`.
pub fn authorize_frame(id: u64, token: &str) -> String {
    format!("authorize\n{id}\n\n{token}")
}

/// `<endpoint>\n<id>\n<query>\n<json body>`.
pub fn request_frame(endpoint: &str, id: u64, query: &str, body: &Value) -> String {
    format!("{endpoint}\n{id}\n{query}\n{body}")
}

/// `user/syncrequest` for `user_id`.
pub fn sync_request_frame(id: u64, user_id: i64) -> String {
    request_frame("user/syncrequest", id, "", &json!({"users": [user_id]}))
}

/// The trading socket's URL from the REST base (`https://demo.tradovateapi.com/v1` →
/// `wss://demo.tradovateapi.com/v1/websocket`; a plain `http` sandbox → `ws`).
pub fn ws_url(base: &url::Url) -> Result<url::Url, Failure> {
    let mut url = super::super::providers::join(base, "/websocket");
    let scheme = match url.scheme() {
        "https" => "wss",
        "http" => "ws",
        other => {
            return Err(Failure::new(
                Outcome::Unverifiable,
                "NOT_CONFIGURED",
                format!("no WebSocket for a {other} base URL"),
            ));
        }
    };
    url.set_scheme(scheme)
        .map_err(|()| bad_frame("the base URL cannot carry a WebSocket scheme"))?;
    Ok(url)
}

fn bad_frame(what: &str) -> Failure {
    Failure::new(
        Outcome::ProviderError,
        codes::BAD_RESPONSE,
        format!("user stream: {what}"),
    )
}

fn down(what: String) -> Failure {
    Failure::new(Outcome::Unreachable, codes::UNREACHABLE, what)
}

/// One server frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Open,
    Heartbeat,
    Messages(Vec<Value>),
    Close(Value),
}

pub fn parse_frame(text: &str) -> Result<Frame, Failure> {
    let mut chars = text.chars();
    let tag = chars.next();
    let rest = chars.as_str();
    match tag {
        Some('o') if rest.is_empty() => Ok(Frame::Open),
        Some('h') if rest.is_empty() => Ok(Frame::Heartbeat),
        Some('a') => serde_json::from_str::<Vec<Value>>(rest)
            .map(Frame::Messages)
            .map_err(|e| bad_frame(&format!("an `a` frame is not a JSON array: {e}"))),
        Some('c') => Ok(Frame::Close(
            serde_json::from_str(rest).unwrap_or_else(|_| json!(rest)),
        )),
        _ => Err(bad_frame(&format!(
            "unknown frame {:?}",
            &text[..text.len().min(40)]
        ))),
    }
}

/// One message of an `a` frame.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamMessage {
    /// The answer to request `id`.
    Reply { id: u64, status: u16, data: Value },
    /// An entity changed (`e: "props"`).
    Props {
        entity_type: String,
        event_type: String,
        entity: Value,
    },
    /// Anything else (`e: "shutdown"`, `e: "clock"`, …).
    Other(Value),
}

pub fn classify(m: &Value) -> StreamMessage {
    if let (Some(id), Some(status)) = (m["i"].as_u64(), m["s"].as_u64()) {
        return StreamMessage::Reply {
            id,
            status: u16::try_from(status).unwrap_or(0),
            data: m["d"].clone(),
        };
    }
    if m["e"] == "props"
        && let (Some(t), Some(e)) = (m["d"]["entityType"].as_str(), m["d"]["eventType"].as_str())
    {
        return StreamMessage::Props {
            entity_type: t.to_owned(),
            event_type: e.to_owned(),
            entity: m["d"]["entity"].clone(),
        };
    }
    StreamMessage::Other(m.clone())
}

/// What the stream knows of the user's orders and fills (from the sync, then its events).
#[derive(Debug, Clone, Default)]
pub struct UserSync {
    orders: BTreeMap<i64, Value>,
    /// Each order's latest version (by order id): our key (`text`) and the quantity.
    versions: BTreeMap<i64, Value>,
    /// Contract names by id (from the sync, `contract` events, or read once).
    contracts: HashMap<i64, String>,
    fills: BTreeMap<i64, Value>,
    /// A fill's commission once read (`None`: Tradovate has no fee record for it).
    fees: HashMap<i64, Option<Decimal>>,
    /// Entity events applied since the sync.
    pub events: u64,
}

impl UserSync {
    /// The `user/syncrequest` answer (`SyncMessage`).
    pub fn from_snapshot(d: &Value) -> UserSync {
        let mut sync = UserSync::default();
        for o in d["orders"].as_array().into_iter().flatten() {
            if let Some(id) = o["id"].as_i64() {
                sync.orders.insert(id, o.clone());
            }
        }
        for f in d["fills"].as_array().into_iter().flatten() {
            if let Some(id) = f["id"].as_i64() {
                sync.fills.insert(id, f.clone());
            }
        }
        for v in d["orderVersions"].as_array().into_iter().flatten() {
            sync.version(v);
        }
        for c in d["contracts"].as_array().into_iter().flatten() {
            sync.contract(c);
        }
        sync
    }

    /// Keeps `v` if it is its order's latest version.
    fn version(&mut self, v: &Value) {
        let (Some(order), Some(id)) = (v["orderId"].as_i64(), v["id"].as_i64()) else {
            return;
        };
        if self
            .versions
            .get(&order)
            .is_none_or(|old| old["id"].as_i64().unwrap_or(0) <= id)
        {
            self.versions.insert(order, v.clone());
        }
    }

    fn contract(&mut self, c: &Value) {
        if let (Some(id), Some(name)) = (c["id"].as_i64(), c["name"].as_str()) {
            self.contracts.insert(id, name.to_owned());
        }
    }

    /// Applies one `props` event; false when it is not an order or fill of ours to keep.
    /// A `Deleted` fill (or one no longer `active`: a bust) is dropped.
    pub fn apply(&mut self, entity_type: &str, event_type: &str, entity: &Value) -> bool {
        let Some(id) = entity["id"].as_i64() else {
            return false;
        };
        match entity_type {
            "orderVersion" => {
                self.events += 1;
                self.version(entity);
                return true;
            }
            "contract" => {
                self.contract(entity);
                return true;
            }
            _ => {}
        }
        let map = match entity_type {
            "order" => &mut self.orders,
            "fill" => &mut self.fills,
            _ => return false,
        };
        self.events += 1;
        if event_type == "Deleted" {
            map.remove(&id);
        } else {
            map.insert(id, entity.clone());
        }
        true
    }

    fn account_orders(&self, account: &Account) -> Vec<i64> {
        self.orders
            .values()
            .filter(|o| {
                o["accountId"].as_i64().map(|a| a.to_string()).as_deref() == Some(&account.id)
            })
            .filter_map(|o| o["id"].as_i64())
            .collect()
    }

    fn account_fills<'a>(&'a self, account: &Account) -> impl Iterator<Item = (i64, &'a Value)> {
        let ours = self.account_orders(account);
        self.fills.iter().filter_map(move |(id, f)| {
            let order = f["orderId"].as_i64()?;
            (ours.contains(&order) && f["active"].as_bool() != Some(false)).then_some((*id, f))
        })
    }

    /// The account's fills whose fee has not been read yet.
    pub fn fees_unknown(&self, account: &Account) -> Vec<i64> {
        self.account_fills(account)
            .filter(|(id, _)| !self.fees.contains_key(id))
            .map(|(id, _)| id)
            .collect()
    }

    /// Records the fees read for `asked` (`found`: those Tradovate has a record for).
    pub fn set_fees(&mut self, asked: &[i64], found: &[(i64, Decimal)]) {
        for id in asked {
            let fee = found.iter().find(|(f, _)| f == id).map(|(_, d)| *d);
            self.fees.insert(*id, fee);
        }
    }

    /// The account's fills with their commission (fills whose fee is unknown are left out:
    /// read them first, [`UserSync::fees_unknown`]).
    pub fn fills(&self, account: &Account) -> Result<Vec<BrokerFill>, Failure> {
        self.account_fills(account)
            .filter_map(|(id, f)| self.fees.get(&id).map(|fee| (f, *fee)))
            .map(|(f, fee)| fill_of(f, fee))
            .collect()
    }

    /// Contracts of the account's orders whose name is not known yet.
    pub fn contracts_unknown(&self, account: &Account) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .account_orders(account)
            .iter()
            .filter_map(|id| self.orders[id]["contractId"].as_i64())
            .filter(|c| !self.contracts.contains_key(c))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    pub fn set_contract(&mut self, id: i64, name: String) {
        self.contracts.insert(id, name);
    }

    /// The account's orders as the broker reports them (an order whose contract name is not
    /// known yet has no symbol: read them first, [`UserSync::contracts_unknown`]).
    pub fn orders(&self, account: &Account) -> Result<Vec<BrokerOrder>, Failure> {
        self.account_orders(account)
            .iter()
            .map(|id| {
                let o = &self.orders[id];
                let symbol = o["contractId"]
                    .as_i64()
                    .and_then(|c| self.contracts.get(&c).cloned());
                order_of(o, self.versions.get(id), symbol)
            })
            .collect()
    }

    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    pub fn fill_count(&self) -> usize {
        self.fills.len()
    }
}

/// The socket's timing.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The client heartbeat (`[]`), Tradovate's 2.5 s.
    pub heartbeat_every: Duration,
    /// No frame at all (not even `h`) for this long: the socket is dead.
    pub silence: Duration,
    /// Connecting, and each answer to authorize and sync, within this.
    pub connect_timeout: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            heartbeat_every: Duration::from_millis(2500),
            silence: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What the stream reports to its owner.
#[derive(Debug)]
pub enum Update {
    /// The socket is open and the token accepted.
    Authorized,
    /// The sync answered: the user's entities now.
    Synced(UserSync),
    /// An entity changed.
    Event {
        entity_type: String,
        event_type: String,
        entity: Value,
    },
    /// A server heartbeat.
    Beat,
}

/// Runs one socket until it ends (never returns `Ok` while the socket is up; `Ok(())` when
/// the token channel closed: the session is gone). `token` carries the session's current
/// token; a new one is authorized on the open socket.
pub async fn run(
    url: &url::Url,
    user_id: i64,
    mut token: watch::Receiver<Option<Secret>>,
    cfg: &StreamConfig,
    mut on: impl FnMut(Update),
) -> Result<(), Failure> {
    let first = token
        .borrow_and_update()
        .clone()
        .ok_or_else(|| down("no token to authorize the user stream".into()))?;
    let (ws, _) = tokio::time::timeout(
        cfg.connect_timeout,
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    .map_err(|_| down("user stream: connect timed out".into()))?
    .map_err(|e| down(format!("user stream: connect failed: {e}")))?;
    let (mut tx, mut rx) = ws.split();
    let mut next_id: u64 = 0;
    let mut auth_id: Option<u64> = None;
    let mut sync_id: Option<u64> = None;
    let mut synced = false;
    let mut opened = false;
    let mut pending = Some(first);
    let start = tokio::time::Instant::now();
    let mut beat = tokio::time::interval_at(start + cfg.heartbeat_every, cfg.heartbeat_every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_frame = start;
    let send = |text: String| Message::Text(text.into());
    loop {
        // Before the sync answers, the connect timeout bounds the wait; then the silence.
        let limit = if synced {
            cfg.silence
        } else {
            cfg.connect_timeout.min(cfg.silence)
        };
        tokio::select! {
            frame = tokio::time::timeout_at(last_frame + limit, rx.next()) => {
                let text = match frame {
                    Err(_) => return Err(down(format!(
                        "user stream: no frame for {} ms", limit.as_millis()))),
                    Ok(None) => return Err(down("user stream: the socket closed".into())),
                    Ok(Some(Err(e))) => return Err(down(format!("user stream: {e}"))),
                    Ok(Some(Ok(Message::Text(t)))) => t,
                    Ok(Some(Ok(Message::Close(c)))) => return Err(down(format!(
                        "user stream: closed by the server ({})",
                        c.map(|c| c.reason.to_string()).unwrap_or_default()))),
                    Ok(Some(Ok(_))) => {
                        last_frame = tokio::time::Instant::now();
                        continue;
                    }
                };
                last_frame = tokio::time::Instant::now();
                match parse_frame(text.as_str())? {
                    Frame::Open => {
                        opened = true;
                        if let Some(t) = pending.take() {
                            auth_id = Some(next_id);
                            tx.send(send(authorize_frame(next_id, t.expose()))).await
                                .map_err(|e| down(format!("user stream: {e}")))?;
                            next_id += 1;
                        }
                    }
                    Frame::Heartbeat => on(Update::Beat),
                    Frame::Close(why) => {
                        return Err(down(format!("user stream: closed by the server {why}")));
                    }
                    Frame::Messages(messages) => {
                        for m in &messages {
                            match classify(m) {
                                StreamMessage::Reply { id, status, data } if Some(id) == auth_id => {
                                    auth_id = None;
                                    if status != 200 {
                                        return Err(Failure::new(
                                            Outcome::InvalidCredentials,
                                            codes::INVALID_CREDENTIALS,
                                            format!("user stream: authorize refused ({status} {data})"),
                                        ).status(status));
                                    }
                                    on(Update::Authorized);
                                    if sync_id.is_none() && !synced {
                                        sync_id = Some(next_id);
                                        tx.send(send(sync_request_frame(next_id, user_id))).await
                                            .map_err(|e| down(format!("user stream: {e}")))?;
                                        next_id += 1;
                                    }
                                }
                                StreamMessage::Reply { id, status, data } if Some(id) == sync_id => {
                                    sync_id = None;
                                    if status != 200 {
                                        return Err(bad_frame(&format!(
                                            "user/syncrequest answered {status} {data}")));
                                    }
                                    synced = true;
                                    on(Update::Synced(UserSync::from_snapshot(&data)));
                                }
                                StreamMessage::Props { entity_type, event_type, entity } => {
                                    on(Update::Event { entity_type, event_type, entity });
                                }
                                StreamMessage::Reply { .. } | StreamMessage::Other(_) => {}
                            }
                        }
                    }
                }
            }
            _ = beat.tick(), if opened => {
                tx.send(send(HEARTBEAT.to_owned())).await
                    .map_err(|e| down(format!("user stream: {e}")))?;
            }
            changed = token.changed() => {
                if changed.is_err() {
                    let _ = tx.send(Message::Close(None)).await;
                    return Ok(());
                }
                // A new token (a new login, a renewal that issued another): authorize it on
                // the open socket (before the open frame, it is the one sent at open).
                let latest = token.borrow_and_update().clone();
                if let Some(t) = latest {
                    if opened {
                        auth_id = Some(next_id);
                        tx.send(send(authorize_frame(next_id, t.expose()))).await
                            .map_err(|e| down(format!("user stream: {e}")))?;
                        next_id += 1;
                    } else {
                        pending = Some(t);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_as_the_vendor_sends_them() {
        assert_eq!(parse_frame("o").unwrap(), Frame::Open);
        assert_eq!(parse_frame("h").unwrap(), Frame::Heartbeat);
        assert_eq!(
            parse_frame(r#"a[{"s":200,"i":0}]"#).unwrap(),
            Frame::Messages(vec![json!({"s": 200, "i": 0})])
        );
        assert_eq!(
            parse_frame(r#"c[1000,"bye"]"#).unwrap(),
            Frame::Close(json!([1000, "bye"]))
        );
        assert!(parse_frame("a{not an array}").is_err());
        assert!(parse_frame("x").is_err());
        assert!(parse_frame("").is_err());
    }

    #[test]
    fn messages_are_replies_props_or_other() {
        assert_eq!(
            classify(&json!({"s": 401, "i": 0, "d": "Access is denied"})),
            StreamMessage::Reply {
                id: 0,
                status: 401,
                data: json!("Access is denied")
            }
        );
        let e = json!({"e": "props", "d": {"entityType": "fill", "eventType": "Created",
            "entity": {"id": 9}}});
        assert!(
            matches!(classify(&e), StreamMessage::Props { entity_type, .. } if entity_type == "fill")
        );
        assert!(matches!(
            classify(&json!({"e": "shutdown", "d": {}})),
            StreamMessage::Other(_)
        ));
    }

    #[test]
    fn the_sync_hands_out_fills_of_the_account_once_their_fee_is_known() {
        let account = Account {
            id: "1".into(),
            spec: "SANDBOX1".into(),
        };
        let fill = |id: i64, order: i64, qty: u32| {
            json!({"id": id, "orderId": order, "contractId": 5, "timestamp": "2026-11-17T20:00:00Z",
                   "action": "Buy", "qty": qty, "price": 6000.25, "active": true})
        };
        let mut sync = UserSync::from_snapshot(&json!({
            "orders": [{"id": 10, "accountId": 1}, {"id": 11, "accountId": 2}],
            "fills": [fill(100, 10, 1), fill(101, 11, 1)],
        }));
        assert_eq!(sync.fees_unknown(&account), vec![100]);
        assert!(sync.fills(&account).unwrap().is_empty());
        sync.set_fees(&[100], &[(100, Decimal::new(225, 2))]);
        let fills = sync.fills(&account).unwrap();
        assert_eq!(fills.len(), 1);
        assert_eq!(fills[0].commission, Some(Decimal::new(225, 2)));
        // A partial fill then the rest; a duplicate event changes nothing.
        assert!(sync.apply("fill", "Created", &fill(102, 10, 1)));
        assert!(sync.apply("fill", "Created", &fill(102, 10, 1)));
        assert!(!sync.apply("cashBalance", "Updated", &json!({"id": 1})));
        sync.set_fees(&[102], &[]);
        let fills = sync.fills(&account).unwrap();
        assert_eq!(fills.len(), 2);
        assert_eq!(fills[1].commission, None);
        assert!(sync.apply("fill", "Deleted", &json!({"id": 102})));
        assert_eq!(sync.fills(&account).unwrap().len(), 1);
    }

    #[test]
    fn the_sync_hands_out_orders_with_their_key_quantity_and_contract() {
        let account = Account {
            id: "1".into(),
            spec: "SANDBOX1".into(),
        };
        let order = |status: &str| {
            json!({"id": 10, "accountId": 1, "contractId": 5, "action": "Sell",
                   "ordStatus": status, "timestamp": "2026-11-17T20:00:00Z"})
        };
        let mut sync = UserSync::from_snapshot(&json!({
            "orders": [order("Working")],
            "orderVersions": [{"id": 10, "orderId": 10, "orderQty": 2, "text": "key-1"}],
            "contracts": [],
        }));
        assert_eq!(sync.contracts_unknown(&account), vec![5]);
        sync.set_contract(5, "ESZ6".into());
        assert!(sync.contracts_unknown(&account).is_empty());
        let o = &sync.orders(&account).unwrap()[0];
        assert_eq!(
            (o.client_id.as_deref(), o.symbol.as_deref(), o.quantity),
            (Some("key-1"), Some("ESZ6"), 2)
        );
        assert_eq!(o.status, super::super::BrokerOrderStatus::Working);
        // A newer version (a modify) and the order filled.
        sync.apply(
            "orderVersion",
            "Created",
            &json!({"id": 11, "orderId": 10, "orderQty": 3, "text": "key-1"}),
        );
        sync.apply(
            "orderVersion",
            "Created",
            &json!({"id": 9, "orderId": 10, "orderQty": 1}),
        );
        sync.apply("order", "Updated", &order("Filled"));
        let o = &sync.orders(&account).unwrap()[0];
        assert_eq!(o.quantity, 3);
        assert_eq!(o.status, super::super::BrokerOrderStatus::Filled);
    }

    #[test]
    fn the_socket_url_follows_the_rest_base() {
        let u = |s: &str| ws_url(&s.parse().unwrap()).unwrap().to_string();
        assert_eq!(
            u("https://demo.tradovateapi.com/v1"),
            "wss://demo.tradovateapi.com/v1/websocket"
        );
        assert_eq!(
            u("http://127.0.0.1:9400/tradovate/v1"),
            "ws://127.0.0.1:9400/tradovate/v1/websocket"
        );
    }
}
