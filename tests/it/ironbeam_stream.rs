//! Ironbeam's user stream (issue 17 part 2): the exact requests of the client (golden: `GET
//! /stream/create` with the Bearer token, the socket `/stream/{streamId}?token=`, the REST
//! snapshot on the open socket), checked against Ironbeam's OpenAPI document (the operations,
//! their security schemes, the messages' `StreamResponse` schema); the simulator's refusals
//! (no token, a bad token, an unknown or already used stream id) in the vendor's error shape
//! and its messages validated against the same schema; LIVE Ironbeam bots whose partial fill
//! and then the rest are booked from the stream (no REST fill or order poll), and a dropped
//! socket: REST fallback, then a reconnect on a NEW stream id, synced again.
//!
//! Regenerate the golden after an intended change:
//! `UPDATE_GOLDEN=1 cargo test --test it ironbeam_stream::`.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::{
    extract::{FromRequestParts, Request, State, ws::WebSocketUpgrade},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::{self, Message};
use tradeplane::{
    clock::Clock,
    config::Secret,
    integrations::{
        brokers::{
            Account, BrokerClient, BrokerVendor,
            ironbeam_stream::{self, CREATE_PATH},
            user_stream::{StreamConfig, Update},
        },
        registry::{ProviderConfig, spec},
        usage::MemoryUsageSink,
    },
    runtime::{
        RuntimeHandle,
        brokers::{BrokerSession, StreamStatus},
    },
};
use uuid::Uuid;

use crate::support::{
    env_for,
    fixtures::{sandbox_broker_book, sandbox_broker_fault, start_sandbox},
    golden::golden,
    live::{
        LiveApp, LiveSetup, booked, broker_calls, broker_session, first_order, live_app, stream_is,
        tick_until,
    },
};

const TOKEN: &str = "ib-GOLDEN-token";
const STREAM_ID: &str = "123e4567-e89b-12d3-a456-426614174000";
const ACCOUNT: &str = "5123345";

fn quick() -> StreamConfig {
    StreamConfig {
        ping_silence: StdDuration::from_secs(3),
        connect_timeout: StdDuration::from_secs(3),
        ..StreamConfig::default()
    }
}

fn openapi() -> Value {
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/vendor/ironbeam-openapi.json"
    ))
    .unwrap();
    serde_json::from_str(&raw).unwrap()
}

/// The document's schema `name`, compiled.
fn schema(doc: &Value, name: &str) -> (boon::Schemas, boon::SchemaIndex) {
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("https://ironbeam.test/openapi.json", doc.clone())
        .unwrap();
    let mut schemas = boon::Schemas::new();
    let idx = compiler
        .compile(
            &format!("https://ironbeam.test/openapi.json#/components/schemas/{name}"),
            &mut schemas,
        )
        .unwrap();
    (schemas, idx)
}

/// What the scripted vendor saw, in order.
#[derive(Clone, Default)]
struct Script {
    seen: Arc<Mutex<Vec<String>>>,
    snapshot_read: Arc<tokio::sync::Notify>,
}

/// The messages the scripted socket sends at open: a partial fill of the snapshot's order, a
/// ping, then the rest.
fn scripted_messages() -> Vec<Value> {
    let order = |st: &str, fq: u32| {
        json!({"oid": "5123345-77", "sid": 77, "a": ACCOUNT, "s": "XCME:ES.Z26", "st": st,
               "sd": "BUY", "q": 2, "ot": "1", "dr": "0", "fq": fq})
    };
    let fill = |ouid: &str, fq: u32, ftq: u32| {
        json!({"oid": "5123345-77", "sid": 77, "a": ACCOUNT, "s": "XCME:ES.Z26",
               "st": if ftq == 2 { "FILLED" } else { "PARTIALLY_FILLED" }, "sd": "BUY", "q": 2,
               "p": 6000.25, "fq": fq, "ftq": ftq, "fp": 6000.25, "afp": 6000.25,
               "fd": "2026-11-17T20:00:00Z", "t": 1_795_464_000_000_i64, "ouid": ouid})
    };
    vec![
        json!({"o": [order("PARTIALLY_FILLED", 1)], "f": [fill("77-1", 1, 1)]}),
        json!({"p": {"ping": "ping"}}),
        json!({"o": [order("FILLED", 2)], "f": [fill("77-2", 1, 2)],
               "ps": [{"a": ACCOUNT, "cc": "USD", "s": "XCME:ES.Z26", "pId": "p-1", "q": 2,
                       "p": 6000.25, "do": "20261117", "sd": "LONG", "upl": 0.0}]}),
    ]
}

async fn vendor(State(script): State<Script>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    let line = format!("{} {path}{} authorization: {auth}", req.method(), {
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    });
    let upgrade = req.headers().contains_key("upgrade");
    script.seen.lock().unwrap().push(if upgrade {
        format!("WEBSOCKET {line}")
    } else {
        line
    });
    let ok = |v: Value| axum::Json(v).into_response();
    match path.as_str() {
        "/stream/create" => ok(json!({"status": "OK", "message": "OK", "streamId": STREAM_ID})),
        "/order/5123345/ANY" => ok(json!({"status": "OK", "message": "OK", "orders": [{
            "orderId": "5123345-77", "strategyId": 77, "accountId": ACCOUNT,
            "exchSym": "XCME:ES.Z26", "status": "NEW", "side": "BUY", "quantity": 2,
            "orderType": "1", "duration": "0", "fillQuantity": 0,
        }]})),
        "/order/5123345/fills" => {
            script.snapshot_read.notify_one();
            ok(json!({"status": "OK", "message": "OK", "fills": []}))
        }
        p if p.starts_with("/stream/") => {
            let (mut parts, _) = req.into_parts();
            let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
                Ok(ws) => ws,
                Err(e) => return e.into_response(),
            };
            let script = script.clone();
            // The messages go out at once (the client reads its snapshot meanwhile and
            // applies them after it); the socket closes once the snapshot was answered.
            ws.on_upgrade(move |mut socket| async move {
                for m in scripted_messages() {
                    let text = axum::extract::ws::Message::Text(m.to_string().into());
                    if socket.send(text).await.is_err() {
                        return;
                    }
                }
                script.snapshot_read.notified().await;
                tokio::time::sleep(StdDuration::from_millis(300)).await;
                let _ = socket.send(axum::extract::ws::Message::Close(None)).await;
            })
        }
        _ => (axum::http::StatusCode::NOT_FOUND, "not scripted").into_response(),
    }
}

fn ironbeam_client(base: &str) -> BrokerClient {
    let config = ProviderConfig::from_env(spec("ironbeam").unwrap(), &env_for("ironbeam", base));
    BrokerClient::new(
        BrokerVendor::Ironbeam,
        config,
        Arc::new(MemoryUsageSink::new()),
        StdDuration::from_secs(2),
        Clock::system(),
    )
    .unwrap()
}

fn account() -> Account {
    Account {
        id: ACCOUNT.into(),
        spec: ACCOUNT.into(),
    }
}

/// `GET /stream/create` with the Bearer token, the socket on the new stream id with the token
/// as its query, then the REST snapshot (orders, fills) on the open socket: exactly these
/// requests, in this order, each the operation the OpenAPI document defines with its own
/// security scheme; the socket's messages become the stream's events after the sync.
#[tokio::test]
async fn the_ironbeam_stream_makes_the_documented_requests() {
    let script = Script::default();
    let app = axum::Router::new()
        .fallback(vendor)
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let BrokerClient::Ironbeam(client) = ironbeam_client(&base) else {
        unreachable!()
    };
    let (_tx, rx) = tokio::sync::watch::channel(Some(Secret::new(TOKEN)));
    let mut updates = Vec::new();
    let err = ironbeam_stream::run(&client, &account(), rx, &quick(), |u| updates.push(u))
        .await
        .unwrap_err();
    server.abort();
    assert!(err.message.contains("closed"), "{err:?}");
    assert!(!err.message.contains(TOKEN), "{err:?}");
    let seen = script.seen.lock().unwrap().clone();
    let rendered = seen
        .iter()
        .map(|l| l.replace(TOKEN, "$TOKEN"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    golden("ironbeam_user_stream", &rendered);

    // Against the document: the operations exist with these methods and security schemes.
    let doc = openapi();
    let create = &doc["paths"][CREATE_PATH]["get"];
    assert_eq!(create["operationId"], "getStreamId");
    assert!(
        create["security"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.get("PasswordBearer").is_some())
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["PasswordBearer"]["scheme"], "bearer");
    assert_eq!(
        seen[0],
        format!("GET {CREATE_PATH} authorization: Bearer {TOKEN}")
    );
    let socket = &doc["paths"]["/stream/{streamId}"]["get"];
    assert_eq!(socket["operationId"], "getStream");
    assert_eq!(socket["security"], json!([{"TokenAuthentication": []}]));
    assert_eq!(
        (
            &schemes["TokenAuthentication"]["in"],
            &schemes["TokenAuthentication"]["name"]
        ),
        (&json!("query"), &json!("token"))
    );
    let url: url::Url = format!(
        "http://x{}",
        seen[1]
            .strip_prefix("WEBSOCKET GET ")
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
    )
    .parse()
    .unwrap();
    let id = url.path().strip_prefix("/stream/").unwrap();
    let (schemas, idx) = schema(&doc, "StreamSessionId");
    schemas.validate(&json!(id), idx).unwrap();
    assert_eq!(
        url.query_pairs().collect::<Vec<_>>(),
        vec![("token".into(), TOKEN.into())]
    );
    // The token is in the query only, never a header on the socket.
    assert!(seen[1].ends_with("authorization: none"), "{}", seen[1]);
    for path in [
        "/order/{accountId}/{orderStatus}",
        "/order/{accountId}/fills",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    // The scripted messages are the document's `StreamResponse` (not a rubber stamp: a
    // field it does not define is refused).
    let (schemas, idx) = schema(&doc, "StreamResponse");
    for m in scripted_messages() {
        schemas.validate(&m, idx).unwrap();
    }
    assert!(schemas.validate(&json!({"fills": []}), idx).is_err());

    // Authorized at open, synced from the snapshot, then the socket's events and its ping.
    let kinds: Vec<String> = updates
        .iter()
        .map(|u| match u {
            Update::Authorized => "authorized".into(),
            Update::Synced(s) => {
                format!("synced {} orders {} fills", s.order_count(), s.fill_count())
            }
            Update::Event(e) => format!("{:?}", e.kind),
            Update::Beat => "ping".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "authorized",
            "synced 1 orders 0 fills",
            "Order",
            "Fill",
            "ping",
            "Order",
            "Fill",
            "Position"
        ]
    );
    let Some(Update::Synced(mut sync)) =
        updates.into_iter().find(|u| matches!(u, Update::Synced(_)))
    else {
        unreachable!()
    };
    for m in scripted_messages() {
        for item in ironbeam_stream::parse_message(&m.to_string()).unwrap() {
            if let ironbeam_stream::Item::Event(e) = item {
                sync.apply(&e);
            }
        }
    }
    let fills = sync.fills(&account()).unwrap();
    assert_eq!(
        fills
            .iter()
            .map(|f| (f.fill_id.as_str(), f.quantity, f.commission))
            .collect::<Vec<_>>(),
        [("77-1", 1, None), ("77-2", 1, None)]
    );
    assert_eq!(
        sync.orders(&account()).unwrap()[0].status,
        tradeplane::integrations::brokers::BrokerOrderStatus::Filled
    );
}

/// The simulator's refusals in Ironbeam's error shape (`{"status":"ERROR","message","error"}`,
/// nothing else): `stream/create` without a token (401), the socket with a bad token (401), an
/// unknown stream id and a used one (400); a good socket's messages are `StreamResponse`s.
#[tokio::test]
async fn the_simulator_refuses_what_ironbeam_refuses() {
    let env = start_sandbox().await;
    let base = env["IRONBEAM_BASE_URL"].trim_end_matches('/').to_owned();
    let http = reqwest::Client::new();
    let error_shape = |status: u16, body: &Value| {
        assert_eq!(body["status"], "ERROR", "{status} {body}");
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{body}"
        );
        assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    };
    let res = http
        .get(format!("{base}/stream/create"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    error_shape(401, &res.json().await.unwrap());

    let login: Value = http
        .post(format!("{base}/auth"))
        .json(&json!({"username": "u", "apiKey": "k"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let create = async || -> String {
        let b: Value = http
            .get(format!("{base}/stream/create"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(b["status"], "OK", "{b}");
        b["streamId"].as_str().unwrap().to_owned()
    };
    let base_url: url::Url = base.parse().unwrap();
    let socket = |id: &str, token: &str| {
        ironbeam_stream::socket_url(&base_url, id, token)
            .unwrap()
            .to_string()
    };
    let refused = async |url: String| -> (u16, Value) {
        match tokio_tungstenite::connect_async(url).await {
            Err(tungstenite::Error::Http(resp)) => (
                resp.status().as_u16(),
                serde_json::from_slice(resp.body().as_deref().unwrap_or(b"null")).unwrap(),
            ),
            other => panic!("not refused: {:?}", other.map(|_| ())),
        }
    };
    let doc = openapi();
    let (schemas, idx) = schema(&doc, "StreamResponse");
    let (ids, sid) = schema(&doc, "StreamSessionId");

    // A good socket: its first message is the fills and positions snapshot.
    let id = create().await;
    ids.validate(&json!(id), sid).unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(socket(&id, &token))
        .await
        .unwrap();
    let first = tokio::time::timeout(StdDuration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(first) = first else {
        panic!("{first:?}")
    };
    let first: Value = serde_json::from_str(first.as_str()).unwrap();
    schemas.validate(&first, idx).unwrap();
    assert!(first["f"].is_array() && first["psa"].is_array(), "{first}");

    // The same id again: used. An id never created: unknown. A bad token: 401.
    let (status, body) = refused(socket(&id, &token)).await;
    assert_eq!(status, 400, "{body}");
    error_shape(status, &body);
    assert!(
        body["error"].as_str().unwrap().contains("already used"),
        "{body}"
    );
    let (status, body) = refused(socket(&Uuid::nil().to_string(), &token)).await;
    assert_eq!(status, 400, "{body}");
    error_shape(status, &body);
    let fresh = create().await;
    let (status, body) = refused(socket(&fresh, "not-a-token")).await;
    assert_eq!(status, 401, "{body}");
    error_shape(status, &body);
    // The client maps the refusal: a bad token is invalid credentials (and never quoted).
    let BrokerClient::Ironbeam(client) = ironbeam_client(&base) else {
        unreachable!()
    };
    let (_tx, rx) = tokio::sync::watch::channel(Some(Secret::new("not-a-token")));
    let err = ironbeam_stream::run(&client, &account(), rx, &quick(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_CREDENTIALS", "{err:?}");
    assert!(!err.message.contains("not-a-token"), "{err:?}");

    // A placed order's changes arrive as `o`/`f`/`ps` messages of the document's shapes.
    let placed: Value = http
        .post(format!("{base}/order/5100001/place"))
        .bearer_auth(&token)
        .json(
            &json!({"accountId": "5100001", "exchSym": front_es(), "side": "BUY",
                      "quantity": 1, "orderType": "2", "limitPrice": 1.0, "duration": "0"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(placed["status"], "OK", "{placed}");
    let order = loop {
        let msg = tokio::time::timeout(StdDuration::from_secs(8), ws.next())
            .await
            .expect("an order message")
            .unwrap()
            .unwrap();
        let Message::Text(t) = msg else { continue };
        let m: Value = serde_json::from_str(t.as_str()).unwrap();
        schemas.validate(&m, idx).unwrap();
        if let Some(o) = m["o"].as_array().and_then(|o| o.first()) {
            break o.clone();
        }
    };
    assert_eq!(order["oid"], placed["orderId"], "{order}");
    assert_eq!((&order["st"], &order["ot"]), (&json!("NEW"), &json!("2")));
}

/// The front ES contract as Ironbeam spells it, on the sandbox's clock (the system's).
fn front_es() -> String {
    use tradeplane::domain::{
        contracts::{Contract, Vendor},
        instruments::Symbol,
    };
    Contract::front_at(Symbol::Es, Clock::system().now()).spelled_for(Vendor::Ironbeam)
}

fn session(rt: &RuntimeHandle) -> Arc<BrokerSession> {
    broker_session(rt, BrokerVendor::Ironbeam)
}

/// The simulator's fills of `broker_order_id` (`5100001-<n>`), as Ironbeam's ids
/// (`orderUpdateId`: `<n>-<fill>`).
async fn sim_fills(live: &LiveApp, broker_order_id: &str) -> Vec<String> {
    let n: u64 = broker_order_id.rsplit('-').next().unwrap().parse().unwrap();
    let book = sandbox_broker_book(&live.env, "ironbeam").await;
    book["fills"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["order_id"].as_u64() == Some(n))
        .map(|f| format!("{}-{}", f["order_id"], f["id"]))
        .collect()
}

/// The stream ids the simulator created: (id, used).
async fn stream_ids(live: &LiveApp) -> Vec<(String, bool)> {
    let book = sandbox_broker_book(&live.env, "ironbeam").await;
    book["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_owned(), s["used"] == true))
        .collect()
}

fn count(calls: &[String], action: &str) -> usize {
    calls.iter().filter(|a| *a == action).count()
}

/// A LIVE Ironbeam bot trading 2 contracts, half filled now and the rest at the next minute
/// (the simulator's `partial`): both fills are booked from the stream, one row per broker fill
/// id; no REST fill or order poll answered the evaluations (only the snapshot at connect read
/// them), and the session's health counts stream reads.
#[sqlx::test]
async fn a_partial_fill_then_the_rest_are_booked_from_the_ironbeam_stream(pool: PgPool) {
    let live = live_app(&pool, "ironbeam", LiveSetup::default()).await;
    stream_is(&live.rt, BrokerVendor::Ironbeam, StreamStatus::Synced).await;
    // The snapshot's reads (usage events are written asynchronously).
    broker_calls(&pool, "ironbeam", "broker.fills").await;
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    let at_sync = broker_calls(&pool, "ironbeam", "broker.stream_create").await;
    sandbox_broker_fault(&live.env, "ironbeam", json!("partial"), Some(1)).await;
    let bot = live.live_bot_sized(&pool, "ib-stream-partial", 2, 2).await;
    let mut n = 0;
    tick_until(
        &live,
        &pool,
        bot,
        &mut n,
        StdDuration::ZERO,
        "the first partial fill",
        async || !booked(&pool, bot).await.is_empty(),
    )
    .await;
    let (order, status) = first_order(&pool, bot).await.unwrap();
    let first = booked(&pool, bot).await;
    assert_eq!(
        (first[0].1.as_str(), first[0].2),
        (order.as_str(), 1),
        "{first:?}"
    );
    if first.len() == 1 {
        assert_ne!(status, "FILLED");
    }
    tick_until(
        &live,
        &pool,
        bot,
        &mut n,
        StdDuration::from_secs(1),
        "the rest of the order",
        async || {
            first_order(&pool, bot)
                .await
                .is_some_and(|(_, s)| s == "FILLED")
        },
    )
    .await;
    let fills: Vec<(String, String, i32)> = booked(&pool, bot)
        .await
        .into_iter()
        .filter(|f| f.1 == order)
        .collect();
    let mut ids: Vec<String> = fills.iter().map(|f| f.0.clone()).collect();
    ids.sort();
    let mut at_broker = sim_fills(&live, &order).await;
    at_broker.sort();
    assert_eq!(at_broker.len(), 2, "{at_broker:?}");
    assert_eq!(
        ids, at_broker,
        "one booked fill per broker fill id: {fills:?}"
    );
    assert_eq!(fills.iter().map(|f| f.2).sum::<i32>(), 2, "{fills:?}");
    let health = session(&live.rt).health().stream.unwrap();
    assert_eq!(health.status, StreamStatus::Synced, "{health:?}");
    assert_eq!(health.fill_reads_from_rest, 0, "{health:?}");
    assert_eq!(health.order_reads_from_rest, 0, "{health:?}");
    assert!(health.fill_reads_from_stream > 0, "{health:?}");
    assert!(health.order_reads_from_stream > 0, "{health:?}");
    assert!(health.events >= 3, "{health:?}");
    // No REST fill or order read since the sync (the same socket: no new snapshot).
    let made = broker_calls(&pool, "ironbeam", "broker.place").await;
    assert_eq!(health.connects, 1, "{health:?}");
    assert_eq!(
        (count(&made, "broker.fills"), count(&made, "broker.orders")),
        (
            count(&at_sync, "broker.fills"),
            count(&at_sync, "broker.orders")
        ),
        "REST polled while the stream was synced: {made:?}"
    );
}

/// The socket dropped (and refused until cleared): the REST poll answers and books; once the
/// vendor's socket is back the session reconnects on a NEW stream id (each id used once) and
/// the next fill is booked from the stream again.
#[sqlx::test]
async fn a_dropped_ironbeam_socket_falls_back_to_rest_and_reconnects_on_a_new_stream_id(
    pool: PgPool,
) {
    let live = live_app(&pool, "ironbeam", LiveSetup::default()).await;
    stream_is(&live.rt, BrokerVendor::Ironbeam, StreamStatus::Synced).await;
    let first_ids = stream_ids(&live).await;
    assert_eq!(
        first_ids.iter().filter(|(_, used)| *used).count(),
        1,
        "{first_ids:?}"
    );
    sandbox_broker_fault(&live.env, "ironbeam", json!("drop_socket"), None).await;
    stream_is(&live.rt, BrokerVendor::Ironbeam, StreamStatus::Down).await;
    let bot = live.live_bot(&pool, "ib-stream-drop", 1).await;
    let mut n = 0;
    tick_until(
        &live,
        &pool,
        bot,
        &mut n,
        StdDuration::ZERO,
        "a fill booked by the poll",
        async || !booked(&pool, bot).await.is_empty(),
    )
    .await;
    let down = session(&live.rt).health().stream.unwrap();
    assert!(down.fill_reads_from_rest > 0, "{down:?}");
    assert_ne!(down.status, StreamStatus::Synced, "{down:?}");
    assert!(down.last_error.is_some(), "{down:?}");
    assert!(
        !down.last_error.as_deref().unwrap_or("").contains("token="),
        "{down:?}"
    );

    sandbox_broker_fault(&live.env, "ironbeam", Value::Null, None).await;
    stream_is(&live.rt, BrokerVendor::Ironbeam, StreamStatus::Synced).await;
    let back = session(&live.rt).health().stream.unwrap();
    assert!(back.connects >= 2, "{back:?}");
    let ids = stream_ids(&live).await;
    let used: Vec<&String> = ids.iter().filter(|(_, u)| *u).map(|(id, _)| id).collect();
    assert!(used.len() >= 2, "{ids:?}");
    assert_ne!(used.first(), used.last(), "{ids:?}");
    let mut unique = used.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        used.len(),
        "a stream id served two sockets: {ids:?}"
    );

    let before = booked(&pool, bot).await.len();
    tick_until(
        &live,
        &pool,
        bot,
        &mut n,
        StdDuration::ZERO,
        "a fill booked from the stream",
        async || booked(&pool, bot).await.len() > before,
    )
    .await;
    let after = session(&live.rt).health().stream.unwrap();
    assert!(
        after.fill_reads_from_stream > back.fill_reads_from_stream,
        "{back:?} {after:?}"
    );
    assert_eq!(
        after.fill_reads_from_rest, back.fill_reads_from_rest,
        "{after:?}"
    );
    let ids: Vec<String> = booked(&pool, bot).await.into_iter().map(|f| f.0).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
}

/// A socket that stops pinging (no `p`, no event) is given up after the silence limit and
/// reopened on a new stream id once the vendor speaks again.
#[sqlx::test]
async fn a_silent_ironbeam_socket_is_given_up_and_reopened(pool: PgPool) {
    let live = live_app(&pool, "ironbeam", LiveSetup::default()).await;
    stream_is(&live.rt, BrokerVendor::Ironbeam, StreamStatus::Synced).await;
    sandbox_broker_fault(&live.env, "ironbeam", json!("stop_heartbeats"), None).await;
    let s = session(&live.rt);
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(30);
    let silent = loop {
        let h = s.health().stream.unwrap();
        if h.drops >= 1 {
            break h;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never given up: {h:?}"
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    };
    assert!(
        silent
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("no frame")),
        "{silent:?}"
    );
    sandbox_broker_fault(&live.env, "ironbeam", Value::Null, None).await;
    stream_is(&live.rt, BrokerVendor::Ironbeam, StreamStatus::Synced).await;
    assert!(s.health().stream.unwrap().connects >= 2);
}
