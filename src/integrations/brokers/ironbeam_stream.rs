//! Ironbeam's user stream (issue 17 part 2), as its OpenAPI document ("IronbeamAPI" v2.1,
//! reference/vendor-specs/ironbeam-openapi.json, tag `Streaming`) and reference/providers.md
//! §7.1 specify:
//!
//! - `GET /stream/create` with `Authorization: Bearer <token>` answers `StreamIdResponse`
//!   `{"status":"OK","message":…,"streamId":"<uuid>"}` (errors: `{"status":"ERROR","message",
//!   "error"}`, 400/401/403/406/429);
//! - the WebSocket is `GET /stream/{streamId}` on the REST base with the token as the query
//!   parameter `token` (the operation's only security scheme is `TokenAuthentication`, `in:
//!   query`): `wss://demo.ironbeamapi.com/v2/stream/{streamId}?token=<token>`. The operation's
//!   own example spells the host `…/v1/stream/…`; the document's servers and providers.md
//!   spell `/v2`, which is what we use. The URL carries the token: it is never logged;
//! - "Each time websocket connection is closed, the client must call getStreamId … to create
//!   a new streamId": a stream id is single-use, every reconnect creates a new one;
//! - every message is one `StreamResponse` object whose fields say what it carries: `o`
//!   (`OrderOpt[]`, "the orders updates or new order created on account"), `f`
//!   (`OrderFillOpt[]`, order fills, "after subscription … initial fills snapshot"), `ps`
//!   (`PositionOpt[]`), `psa` (`AccountPositionsOpt[]`, the initial snapshot), `b`/`ba`
//!   (balances), `ri`/`ria` (risk), `r` (a reset: "the client account is changed", also at the
//!   trading day's close/open), `p` (`PingMessage`, "sent every 5 seconds"), and market data
//!   (`q`, `d`, `tr`, `tb`, `tc`, `ti`, `vb`, `i`) we do not subscribe to.
//!
//! Where the document is silent: it names no subscription call for orders, fills or
//! positions (only for market data and indicators), so the client subscribes to nothing and
//! reads what the socket sends; it documents no order snapshot (only fills and positions, and
//! not whether an empty one is sent), so the client takes its snapshot over REST (`GET
//! /order/{accountId}/ANY`, `GET /order/{accountId}/fills`) once the socket is open, before it
//! reports the stream synced; it documents no client heartbeat (none is sent; WebSocket pings
//! are answered by the library); it does not say what an `OrderOpt` update carries beyond its
//! required fields, so an update is merged over what we knew (a final status is never undone
//! by a late `o`, a fill quantity never decreases); and `OrderFillOpt` has no commission
//! field (nor has REST `OrderFill`), so Ironbeam's fills are booked with the configured rate.
//!
//! [`run`] keeps one socket: it creates a stream id, opens the socket, snapshots, reports
//! every order, fill and position message as a vendor-neutral [`Event`] (`user_stream`) and
//! each ping as [`Update::Beat`], and returns why the socket ended (closed, no frame for
//! [`StreamConfig::ping_silence`], refused, a reset): reconnecting is the caller's.

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{
    Account, BrokerFill, BrokerOrder, BrokerPosition, BrokerVendor, OrderTerms, decimal_of,
    ironbeam::{Ironbeam, side_of, status_of},
    parse_time,
    user_stream::{EntityKind, Event, StreamConfig, Update, UserSync, bad_frame, down, socket_at},
};
use crate::config::Secret;
use crate::domain::provider::Outcome;
use crate::integrations::outcome::{Failure, codes};

/// `GET /stream/create`.
pub const CREATE_PATH: &str = "/stream/create";

/// A stream id usable as one path segment (the schema's `StreamSessionId` is a uuid; any id
/// of letters, digits and `-` is taken, nothing that would change the URL's path or query).
pub fn valid_stream_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The socket's URL: the REST base with `ws(s)`, `/stream/{streamId}` and `?token=`.
pub fn socket_url(base: &url::Url, stream_id: &str, token: &str) -> Result<url::Url, Failure> {
    if !valid_stream_id(stream_id) {
        return Err(bad_frame("the streamId is not a usable path segment"));
    }
    let mut url = socket_at(base, &format!("/stream/{stream_id}"))?;
    url.query_pairs_mut().clear().append_pair("token", token);
    Ok(url)
}

/// What one message carries that the stream keeps.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `p`.
    Ping,
    /// An order (`o`), fill (`f`) or position (`ps`, `psa`).
    Event(Event),
    /// `r`: the account changed (or the trading day closed/opened); what we know may be stale.
    Reset(Value),
}

/// One `StreamResponse` message: its orders first, then fills (a fill's order is known before
/// it), positions, reset and ping. Fields we do not keep (market data, balances, risk) are
/// skipped; a message that is not a JSON object is an error.
pub fn parse_message(text: &str) -> Result<Vec<Item>, Failure> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| bad_frame(&format!("a message is not JSON: {e}")))?;
    let Some(m) = v.as_object() else {
        return Err(bad_frame("a message is not a StreamResponse object"));
    };
    let mut out = Vec::new();
    let each = |field: &str, kind: EntityKind, out: &mut Vec<Item>| {
        for e in m.get(field).and_then(Value::as_array).into_iter().flatten() {
            out.push(Item::Event(Event {
                kind,
                deleted: false,
                entity: e.clone(),
            }));
        }
    };
    each("o", EntityKind::Order, &mut out);
    each("f", EntityKind::Fill, &mut out);
    // `psa` is per account (`AccountPositionsOpt`: `a` and its positions `p`).
    for acc in m.get("psa").and_then(Value::as_array).into_iter().flatten() {
        for p in acc["p"].as_array().into_iter().flatten() {
            let mut p = p.clone();
            if p.get("a").is_none() {
                p["a"] = acc["a"].clone();
            }
            out.push(Item::Event(Event {
                kind: EntityKind::Position,
                deleted: false,
                entity: p,
            }));
        }
    }
    each("ps", EntityKind::Position, &mut out);
    if let Some(r) = m.get("r") {
        out.push(Item::Reset(r.clone()));
    }
    if m.contains_key("p") {
        out.push(Item::Ping);
    }
    Ok(out)
}

/// An `OrderOpt` (`oid`, `a`, `s`, `st`, `sd`, `q` required) as the project's order. Ironbeam
/// orders carry no client id; `OrderOpt` carries no creation time.
pub fn order_of(o: &Value) -> Result<BrokerOrder, Failure> {
    let bad = |f: &str| bad_frame(&format!("an order lacks `{f}`"));
    Ok(BrokerOrder {
        broker_order_id: o["oid"].as_str().ok_or_else(|| bad("oid"))?.to_owned(),
        client_id: None,
        symbol: Some(o["s"].as_str().ok_or_else(|| bad("s"))?.to_owned()),
        side: side_of(&o["sd"]).ok_or_else(|| bad("sd"))?,
        quantity: decimal_of(&o["q"])
            .and_then(|q| u32::try_from(q).ok())
            .ok_or_else(|| bad("q"))?,
        status: status_of(o["st"].as_str().ok_or_else(|| bad("st"))?),
        // Not an `OrderOpt` field: kept from the REST snapshot's `timeOrderEvent` when it
        // had one (`order_from_rest`).
        created_at: parse_time(&o["t"]),
        terms: OrderTerms {
            order_type: super::ironbeam::order_type_of(&o["ot"]),
            limit_price: decimal_of(&o["lp"]),
            stop_price: decimal_of(&o["sp"]),
        },
    })
}

/// An `OrderFillOpt` as the project's fill: `ouid` (the order update id, REST's
/// `orderUpdateId`: the same fill read either way is one fill), `oid`, `sd`, `fq`, `fp`, `fd`
/// (else `t`). No commission field exists.
pub fn fill_of(f: &Value) -> Result<BrokerFill, Failure> {
    let bad = |field: &str| bad_frame(&format!("a fill lacks `{field}`"));
    Ok(BrokerFill {
        fill_id: f["ouid"].as_str().ok_or_else(|| bad("ouid"))?.to_owned(),
        broker_order_id: f["oid"].as_str().ok_or_else(|| bad("oid"))?.to_owned(),
        side: side_of(&f["sd"]).ok_or_else(|| bad("sd"))?,
        quantity: decimal_of(&f["fq"])
            .and_then(|q| u32::try_from(q).ok())
            .ok_or_else(|| bad("fq"))?,
        price: decimal_of(&f["fp"]).ok_or_else(|| bad("fp"))?,
        commission: None,
        filled_at: parse_time(&f["fd"])
            .or_else(|| parse_time(&f["t"]))
            .ok_or_else(|| bad("fd"))?,
    })
}

/// A `PositionOpt` (`s`, `q`, `sd` `LONG`|`SHORT`, `p`); `None` without a symbol or quantity.
pub fn position_of(p: &Value) -> Option<BrokerPosition> {
    let q = decimal_of(&p["q"]).and_then(|q| i64::try_from(q).ok())?;
    let sign = if p["sd"].as_str() == Some("SHORT") {
        -1
    } else {
        1
    };
    Some(BrokerPosition {
        symbol: p["s"].as_str()?.to_owned(),
        net: sign * q.abs(),
        avg_price: decimal_of(&p["p"]),
    })
}

/// An `o` update over the order we knew: the update's fields win, except that a final status
/// is not undone (a late update sent before the snapshot was read) and the fill quantity
/// never decreases; fields the update leaves out are kept.
pub fn merge_order(old: &Value, new: &Value) -> Value {
    let mut out = old.clone();
    let (Some(o), Some(n)) = (out.as_object_mut(), new.as_object()) else {
        return new.clone();
    };
    let was_final = old["st"].as_str().is_some_and(|s| status_of(s).is_final());
    let new_final = new["st"].as_str().is_some_and(|s| status_of(s).is_final());
    let old_fq = decimal_of(&old["fq"]);
    for (k, v) in n {
        if k == "st" && was_final && !new_final {
            continue;
        }
        if k == "fq" && decimal_of(v) < old_fq {
            continue;
        }
        o.insert(k.clone(), v.clone());
    }
    out
}

/// A REST `Order` row in `OrderOpt`'s names (the snapshot and the stream are kept as one).
pub fn order_from_rest(r: &Value) -> Value {
    let mut o = json!({});
    for (rest, short) in [
        ("orderId", "oid"),
        ("strategyId", "sid"),
        ("parentOrderId", "poid"),
        ("accountId", "a"),
        ("exchSym", "s"),
        ("status", "st"),
        ("side", "sd"),
        ("quantity", "q"),
        ("limitPrice", "lp"),
        ("stopPrice", "sp"),
        ("orderType", "ot"),
        ("duration", "dr"),
        ("fillQuantity", "fq"),
        ("fillPrice", "fp"),
        ("fillDate", "fd"),
        // Not in the `Order` schema; kept when an answer carries it (the order's time).
        ("timeOrderEvent", "t"),
    ] {
        if let Some(v) = r.get(rest).filter(|v| !v.is_null()) {
            o[short] = v.clone();
        }
    }
    o
}

/// A REST `OrderFill` row in `OrderFillOpt`'s names.
pub fn fill_from_rest(r: &Value) -> Value {
    let mut f = json!({});
    for (rest, short) in [
        ("orderId", "oid"),
        ("strategyId", "sid"),
        ("accountId", "a"),
        ("exchSym", "s"),
        ("status", "st"),
        ("side", "sd"),
        ("quantity", "q"),
        ("price", "p"),
        ("fillQuantity", "fq"),
        ("fillTotalQuantity", "ftq"),
        ("fillPrice", "fp"),
        ("avgFillPrice", "afp"),
        ("fillDate", "fd"),
        ("timeOrderEvent", "t"),
        ("orderUpdateId", "ouid"),
    ] {
        if let Some(v) = r.get(rest).filter(|v| !v.is_null()) {
            f[short] = v.clone();
        }
    }
    f
}

/// The snapshot's [`UserSync`]: the account's orders and fills over REST.
pub fn sync_of(orders: &[Value], fills: &[Value]) -> UserSync {
    let mut sync = UserSync::new(BrokerVendor::Ironbeam);
    for o in orders {
        sync.insert(EntityKind::Order, false, &order_from_rest(o));
    }
    for f in fills {
        sync.insert(EntityKind::Fill, false, &fill_from_rest(f));
    }
    sync
}

/// `text` without `token` (a connect error may quote the request).
fn scrub(text: &str, token: &str) -> String {
    if token.is_empty() {
        text.to_owned()
    } else {
        text.replace(token, "***")
    }
}

/// A refused or failed WebSocket handshake, the token kept out.
fn connect_failure(e: &tungstenite::Error, token: &str) -> Failure {
    if let tungstenite::Error::Http(resp) = e {
        let status = resp.status().as_u16();
        let body: Value = resp
            .body()
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let why = [body["error"].as_str(), body["message"].as_str()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        let message = scrub(
            &format!("user stream: the socket was refused ({status} {why})"),
            token,
        );
        let f = match status {
            401 | 403 => Failure::new(
                Outcome::InvalidCredentials,
                codes::INVALID_CREDENTIALS,
                message,
            ),
            400..=499 => Failure::new(Outcome::ProviderError, codes::PROVIDER_HTTP_4XX, message),
            _ => down(message),
        };
        return f.status(status);
    }
    down(scrub(&format!("user stream: connect failed: {e}"), token))
}

/// Runs one socket until it ends (never returns `Ok` while the socket is up; `Ok(())` when the
/// token channel closed: the session is gone). The socket is authorized by the token it was
/// opened with; a later token (a new login) is used by the next socket.
pub async fn run(
    client: &Ironbeam,
    account: &Account,
    mut token: watch::Receiver<Option<Secret>>,
    cfg: &StreamConfig,
    mut on: impl FnMut(Update),
) -> Result<(), Failure> {
    let t = token
        .borrow_and_update()
        .clone()
        .ok_or_else(|| down("no token to open the user stream".into()))?;
    let stream_id = tokio::time::timeout(cfg.connect_timeout, client.create_stream(&t))
        .await
        .map_err(|_| down("user stream: stream/create timed out".into()))??;
    let url = socket_url(&client.base.base, &stream_id, t.expose())?;
    let (ws, _) = tokio::time::timeout(
        cfg.connect_timeout,
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    .map_err(|_| down("user stream: connect timed out".into()))?
    .map_err(|e| connect_failure(&e, t.expose()))?;
    drop(url);
    on(Update::Authorized);
    let (mut tx, mut rx) = ws.split();
    let mut last_frame = tokio::time::Instant::now();
    // The snapshot, read on the open socket: what arrives meanwhile is applied after it.
    let snapshot = async {
        let orders = client.order_rows(&t, account, "ANY").await?;
        let fills = client.fill_rows(&t, account).await?;
        Ok::<_, Failure>(sync_of(&orders, &fills))
    };
    tokio::pin!(snapshot);
    let snapshot_by = tokio::time::Instant::now() + cfg.connect_timeout;
    let mut early: Vec<Item> = Vec::new();
    let sync = loop {
        tokio::select! {
            s = &mut snapshot => break s?,
            _ = tokio::time::sleep_until(snapshot_by) => {
                return Err(down("user stream: the REST snapshot timed out".into()));
            }
            frame = rx.next() => {
                last_frame = tokio::time::Instant::now();
                if let Some(text) = text_of(frame)? {
                    early.extend(parse_message(&text)?);
                }
            }
        }
    };
    on(Update::Synced(sync));
    deliver(early, &mut on)?;

    loop {
        tokio::select! {
            frame = tokio::time::timeout_at(last_frame + cfg.ping_silence, rx.next()) => {
                let Ok(frame) = frame else {
                    return Err(down(format!(
                        "user stream: no frame for {} ms", cfg.ping_silence.as_millis())));
                };
                last_frame = tokio::time::Instant::now();
                if let Some(text) = text_of(frame)? {
                    deliver(parse_message(&text)?, &mut on)?;
                }
            }
            changed = token.changed() => {
                if changed.is_err() {
                    use futures::SinkExt;
                    let _ = tx.send(Message::Close(None)).await;
                    return Ok(());
                }
                // The socket stays authorized by the token it opened with (the document does
                // not say a socket ends with its token); the next socket uses the new one.
                token.borrow_and_update();
            }
        }
    }
}

/// Reports `items`; a reset ends the socket (the next one snapshots again).
fn deliver(items: Vec<Item>, on: &mut impl FnMut(Update)) -> Result<(), Failure> {
    for item in items {
        match item {
            Item::Ping => on(Update::Beat),
            Item::Event(e) => on(Update::Event(e)),
            Item::Reset(r) => {
                return Err(down(format!(
                    "user stream: reset by the vendor ({}); resyncing",
                    r["message"].as_str().unwrap_or("")
                )));
            }
        }
    }
    Ok(())
}

/// A frame's text; `None` for control and binary frames; an error when the socket ended.
fn text_of(frame: Option<Result<Message, tungstenite::Error>>) -> Result<Option<String>, Failure> {
    match frame {
        None => Err(down("user stream: the socket closed".into())),
        Some(Err(e)) => Err(down(format!("user stream: {e}"))),
        Some(Ok(Message::Text(t))) => Ok(Some(t.to_string())),
        Some(Ok(Message::Close(c))) => Err(down(format!(
            "user stream: closed by the server ({})",
            c.map(|c| c.reason.to_string()).unwrap_or_default()
        ))),
        Some(Ok(_)) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::brokers::BrokerOrderStatus;

    fn account() -> Account {
        Account {
            id: "5123345".into(),
            spec: "5123345".into(),
        }
    }

    #[test]
    fn the_socket_url_is_the_rest_base_with_the_stream_id_and_token() {
        let base: url::Url = "https://demo.ironbeamapi.com/v2".parse().unwrap();
        let u = socket_url(&base, "123e4567-e89b-12d3-a456-426614174000", "t/k+n").unwrap();
        assert_eq!(
            u.as_str(),
            "wss://demo.ironbeamapi.com/v2/stream/123e4567-e89b-12d3-a456-426614174000?token=t%2Fk%2Bn"
        );
        let sandbox: url::Url = "http://127.0.0.1:9400/ironbeam/v2".parse().unwrap();
        assert_eq!(
            socket_url(&sandbox, "abc", "t").unwrap().as_str(),
            "ws://127.0.0.1:9400/ironbeam/v2/stream/abc?token=t"
        );
        assert!(socket_url(&base, "../x", "t").is_err());
        assert!(socket_url(&base, "a?b", "t").is_err());
        assert!(socket_url(&base, "", "t").is_err());
    }

    #[test]
    fn messages_parse_into_orders_fills_positions_pings_and_resets() {
        let items = parse_message(
            r#"{"p":{"ping":"ping"},"f":[{"ouid":"1-2"}],"o":[{"oid":"x"}],
                "psa":[{"a":"5123345","p":[{"s":"XCME:ES.Z26","q":1,"sd":"LONG"}]}],
                "b":{"a":"5123345","cc":"USD"},"q":[]}"#,
        )
        .unwrap();
        let kinds: Vec<String> = items
            .iter()
            .map(|i| match i {
                Item::Ping => "ping".into(),
                Item::Event(e) => format!("{:?}", e.kind),
                Item::Reset(_) => "reset".into(),
            })
            .collect();
        assert_eq!(kinds, ["Order", "Fill", "Position", "ping"]);
        let Item::Event(p) = &items[2] else { panic!() };
        assert_eq!(p.entity["a"], "5123345");
        assert!(matches!(
            parse_message(r#"{"r":{"status":"INFO","message":"Account changed"}}"#).unwrap()[..],
            [Item::Reset(_)]
        ));
        assert!(parse_message("[1]").is_err());
        assert!(parse_message("not json").is_err());
        assert!(parse_message("{}").unwrap().is_empty());
    }

    fn order(st: &str, fq: u32) -> Value {
        json!({"oid": "5123345-7", "a": "5123345", "s": "XCME:ES.Z26", "st": st, "sd": "BUY",
               "q": 2, "ot": "MARKET", "dr": "DAY", "fq": fq})
    }

    fn fill(ouid: &str, fq: u32) -> Value {
        json!({"oid": "5123345-7", "a": "5123345", "s": "XCME:ES.Z26", "st": "PARTIALLY_FILLED",
               "sd": "BUY", "q": 2, "fq": fq, "fp": 6000.25, "fd": "2026-11-17T20:00:00Z",
               "ouid": ouid})
    }

    #[test]
    fn the_sync_hands_out_the_accounts_orders_and_fills_without_commission() {
        let rest_order = json!({"orderId": "5123345-7", "accountId": "5123345",
            "exchSym": "XCME:ES.Z26", "status": "NEW", "side": "BUY", "quantity": 2,
            "orderType": "1", "duration": "0", "fillQuantity": 0, "timeOrderEvent": 1_700_000_000_000_i64});
        let other = json!({"orderId": "9-1", "accountId": "9", "exchSym": "XCME:ES.Z26",
            "status": "NEW", "side": "SELL", "quantity": 1, "orderType": "1", "duration": "0"});
        let mut sync = sync_of(&[rest_order, other], &[]);
        assert!(sync.fees_unknown(&account()).is_empty());
        assert!(sync.contracts_unknown(&account()).is_empty());
        let orders = sync.orders(&account()).unwrap();
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].status, BrokerOrderStatus::Working);
        assert!(orders[0].created_at.is_some());
        // A partial fill, then the rest; the same fill twice is one.
        let ev = |kind, entity| Event {
            kind,
            deleted: false,
            entity,
        };
        assert!(sync.apply(&ev(EntityKind::Order, order("PARTIALLY_FILLED", 1))));
        assert!(sync.apply(&ev(EntityKind::Fill, fill("11-1", 1))));
        assert!(sync.apply(&ev(EntityKind::Fill, fill("11-1", 1))));
        assert!(sync.apply(&ev(EntityKind::Fill, fill("11-2", 1))));
        assert!(sync.apply(&ev(EntityKind::Order, order("FILLED", 2))));
        let fills = sync.fills(&account()).unwrap();
        assert_eq!(fills.len(), 2);
        assert!(fills.iter().all(|f| f.commission.is_none()));
        assert_eq!(fills[0].broker_order_id, "5123345-7");
        assert_eq!(fills.iter().map(|f| f.quantity).sum::<u32>(), 2);
        // A late update (sent before the fill) does not undo the final status.
        sync.apply(&ev(EntityKind::Order, order("NEW", 0)));
        let o = &sync.orders(&account()).unwrap()[0];
        assert_eq!(o.status, BrokerOrderStatus::Filled);
        assert!(o.created_at.is_some(), "the snapshot's time is kept");
        assert_eq!(sync.events, 6);
        // An entity without its id is not kept; a position is kept apart.
        assert!(!sync.apply(&ev(EntityKind::Fill, json!({"oid": "x"}))));
        assert!(!sync.apply(&ev(EntityKind::OrderVersion, json!({"id": 1}))));
        assert!(sync.apply(&ev(
            EntityKind::Position,
            json!({"a": "5123345", "s": "XCME:ES.Z26", "q": 2, "sd": "SHORT", "p": 6000.5})
        )));
        assert_eq!(sync.positions(&account())[0].net, -2);
    }

    #[test]
    fn a_fill_or_order_missing_a_required_field_is_an_error_not_a_panic() {
        let mut f = fill("1-1", 1);
        f.as_object_mut().unwrap().remove("fp");
        assert_eq!(fill_of(&f).unwrap_err().code, codes::BAD_RESPONSE);
        assert!(order_of(&json!({"oid": 5})).is_err());
        assert!(fill_of(&json!(null)).is_err());
        assert!(position_of(&json!({"s": 1})).is_none());
    }

    #[test]
    fn a_refused_handshake_never_quotes_the_token() {
        let resp = tungstenite::http::Response::builder()
            .status(401)
            .body(Some(
                br#"{"status":"ERROR","message":"Unauthorized","error":"bad tok-SECRET"}"#.to_vec(),
            ))
            .unwrap();
        let f = connect_failure(&tungstenite::Error::Http(Box::new(resp)), "tok-SECRET");
        assert_eq!(f.code, codes::INVALID_CREDENTIALS);
        assert_eq!(f.http_status, Some(401));
        assert!(!f.message.contains("tok-SECRET"), "{}", f.message);
    }
}
