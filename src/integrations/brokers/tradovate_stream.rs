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
//! session's actor, with backoff). The sync and its `props` events become the vendor-neutral
//! [`UserSync`] and [`Event`]s (`user_stream`, shared with Ironbeam's stream); the sync hands
//! out the project's one `BrokerFill` (the same parsing as REST `fill/list`,
//! `tradovate::fill_of`). The sync carries no fees: a fill's commission is read once with
//! `GET /fillFee/items` (`Tradovate::fill_fees`) before it is handed out.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::BrokerVendor;
pub use super::user_stream::{EntityKind, Event, StreamConfig, Update, UserSync};
use super::user_stream::{bad_frame, down, socket_at};
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
    socket_at(base, "/websocket")
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
            text.chars().take(40).collect::<String>()
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

/// The `user/syncrequest` answer (`SyncMessage`) as the stream's [`UserSync`].
pub fn sync_of(d: &Value) -> UserSync {
    let mut sync = UserSync::new(BrokerVendor::Tradovate);
    let lists = [
        ("orders", EntityKind::Order),
        ("fills", EntityKind::Fill),
        ("orderVersions", EntityKind::OrderVersion),
        ("contracts", EntityKind::Contract),
    ];
    for (list, kind) in lists {
        for e in d[list].as_array().into_iter().flatten() {
            sync.insert(kind, false, e);
        }
    }
    sync
}

/// A `props` event as the stream's [`Event`]; `None` for an entity type the stream does not
/// keep (`cashBalance`, `position`, …).
pub fn event_of(entity_type: &str, event_type: &str, entity: Value) -> Option<Event> {
    let kind = match entity_type {
        "order" => EntityKind::Order,
        "orderVersion" => EntityKind::OrderVersion,
        "contract" => EntityKind::Contract,
        "fill" => EntityKind::Fill,
        _ => return None,
    };
    Some(Event {
        kind,
        deleted: event_type == "Deleted",
        entity,
    })
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
                                    on(Update::Synced(sync_of(&data)));
                                }
                                StreamMessage::Props { entity_type, event_type, entity } => {
                                    if let Some(e) = event_of(&entity_type, &event_type, entity) {
                                        on(Update::Event(e));
                                    }
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
    use crate::integrations::brokers::{Account, BrokerOrderStatus};
    use rust_decimal::Decimal;

    fn apply(sync: &mut UserSync, t: &str, e: &str, entity: &Value) -> bool {
        event_of(t, e, entity.clone()).is_some_and(|ev| sync.apply(&ev))
    }

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
        // An unknown frame is quoted by characters, never cut inside one.
        assert!(parse_frame(&format!("x{}", "é".repeat(30))).is_err());
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
        let mut sync = sync_of(&json!({
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
        assert!(apply(&mut sync, "fill", "Created", &fill(102, 10, 1)));
        assert!(apply(&mut sync, "fill", "Created", &fill(102, 10, 1)));
        assert!(!apply(
            &mut sync,
            "cashBalance",
            "Updated",
            &json!({"id": 1})
        ));
        assert_eq!(sync.events, 2);
        sync.set_fees(&[102], &[]);
        let fills = sync.fills(&account).unwrap();
        assert_eq!(fills.len(), 2);
        assert_eq!(fills[1].commission, None);
        assert!(apply(&mut sync, "fill", "Deleted", &json!({"id": 102})));
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
        let mut sync = sync_of(&json!({
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
        assert_eq!(o.status, BrokerOrderStatus::Working);
        // A newer version (a modify) and the order filled.
        apply(
            &mut sync,
            "orderVersion",
            "Created",
            &json!({"id": 11, "orderId": 10, "orderQty": 3, "text": "key-1"}),
        );
        apply(
            &mut sync,
            "orderVersion",
            "Created",
            &json!({"id": 9, "orderId": 10, "orderQty": 1}),
        );
        apply(&mut sync, "order", "Updated", &order("Filled"));
        let o = &sync.orders(&account).unwrap()[0];
        assert_eq!(o.quantity, 3);
        assert_eq!(o.status, BrokerOrderStatus::Filled);
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
