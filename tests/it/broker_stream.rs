//! Tradovate's user stream (issue 17 part 2): the exact frames the client sends (golden), the
//! simulator's socket (a bad token refused with 401 like the vendor; the sync and its events),
//! and LIVE bots on the simulator whose fills are booked from the stream — the REST fill poll
//! (`fill/list`) is not called while the socket is synced; a dropped socket falls back to it
//! and the stream comes back; duplicate events, and a fill seen by both the stream and the
//! poll, book once; a partial fill and then the rest book as two fills.
//!
//! Regenerate the golden after an intended change:
//! `UPDATE_GOLDEN=1 cargo test --test it broker_stream::`.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{Duration, DurationRound};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::Message;
use tradeplane::{
    config::Secret,
    integrations::brokers::{
        BrokerVendor,
        tradovate_stream::{self, EntityKind, StreamConfig, Update},
    },
    runtime::{
        RuntimeHandle,
        brokers::{BrokerSession, StreamStatus},
    },
};
use uuid::Uuid;

use crate::support::{
    fixtures::{sandbox_broker_book, sandbox_broker_fault, start_sandbox, until},
    golden::golden,
    live::{
        LiveApp, LiveSetup, booked, broker_calls, broker_session, first_order, live_app, stream_is,
        tick_until,
    },
    paper::{session_start, tick},
};

const TOKEN: &str = "tok-GOLDEN-1";
const NEW_TOKEN: &str = "tok-GOLDEN-2";

fn quick() -> StreamConfig {
    StreamConfig {
        heartbeat_every: StdDuration::from_millis(500),
        silence: StdDuration::from_secs(3),
        connect_timeout: StdDuration::from_secs(3),
        ..StreamConfig::default()
    }
}

/// A scripted trading socket: `o`, then answers authorize (200 unless `refuse`) and the sync,
/// pushes one fill event, and closes after the client's first heartbeat. Returns every frame
/// the client sent.
async fn scripted_server(refuse: bool) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v1/websocket", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let mut got = Vec::new();
        ws.send(Message::text("o")).await.unwrap();
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(text) = msg else { continue };
            let text = text.to_string();
            got.push(text.clone());
            let id = text.split('\n').nth(1).unwrap_or("");
            let reply = if text.starts_with("authorize\n") {
                if refuse {
                    json!([{"s": 401, "i": id.parse::<u64>().unwrap(), "d": "Access is denied"}])
                } else {
                    json!([{"s": 200, "i": id.parse::<u64>().unwrap()}])
                }
            } else if text.starts_with("user/syncrequest\n") {
                json!([{"s": 200, "i": id.parse::<u64>().unwrap(), "d": {
                    "orders": [{"id": 10, "accountId": 1, "action": "Buy", "ordStatus": "Working"}],
                    "fills": [],
                }}])
            } else if text == "[]" {
                ws.send(Message::text(r#"c[1000,"bye"]"#)).await.unwrap();
                let _ = ws.close(None).await;
                break;
            } else {
                continue;
            };
            ws.send(Message::text(format!("a{reply}"))).await.unwrap();
            if text.starts_with("user/syncrequest\n") {
                let event = json!([{"e": "props", "d": {"entityType": "fill", "eventType": "Created",
                    "entity": {"id": 100, "orderId": 10, "contractId": 5, "action": "Buy", "qty": 1,
                               "price": 6000.25, "timestamp": "2026-11-17T20:00:00Z", "active": true}}}]);
                ws.send(Message::text(format!("a{event}"))).await.unwrap();
            }
        }
        got
    });
    (url, task)
}

fn render(frames: &[String]) -> String {
    frames
        .iter()
        .map(|f| {
            f.replace(TOKEN, "$TOKEN")
                .replace(NEW_TOKEN, "$NEW_TOKEN")
                .replace('\n', "\\n")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Authorize at open, `user/syncrequest` for the user, a new token authorized on the open
/// socket, the `[]` heartbeat: exactly these frames, in this order.
#[tokio::test]
async fn the_user_stream_sends_the_vendors_frames() {
    let (url, server) = scripted_server(false).await;
    let (tx, rx) = tokio::sync::watch::channel(Some(Secret::new(TOKEN)));
    let updates = Arc::new(Mutex::new(Vec::new()));
    let seen = updates.clone();
    let result = tradovate_stream::run(&url.parse().unwrap(), 7, rx, &quick(), move |u| {
        if matches!(u, Update::Synced(_)) {
            // A new login's token: authorized on the open socket.
            tx.send_replace(Some(Secret::new(NEW_TOKEN)));
        }
        seen.lock().unwrap().push(u);
    })
    .await;
    let err = result.unwrap_err();
    assert!(err.message.contains("closed by the server"), "{err:?}");
    let frames = server.await.unwrap();
    golden("tradovate_user_stream", &render(&frames));
    let updates = updates.lock().unwrap();
    let synced = updates.iter().find_map(|u| match u {
        Update::Synced(s) => Some(s.order_count()),
        _ => None,
    });
    assert_eq!(synced, Some(1));
    assert!(
        updates
            .iter()
            .any(|u| matches!(u, Update::Event(e) if e.kind == EntityKind::Fill)),
        "{updates:?}"
    );
}

#[tokio::test]
async fn a_refused_authorize_ends_the_stream_as_invalid_credentials() {
    let (url, server) = scripted_server(true).await;
    let (_tx, rx) = tokio::sync::watch::channel(Some(Secret::new(TOKEN)));
    let err = tradovate_stream::run(&url.parse().unwrap(), 7, rx, &quick(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_CREDENTIALS", "{err:?}");
    assert_eq!(err.http_status, Some(401));
    server.abort();
}

/// The simulator's socket: a token it never issued is refused with 401; a token from its
/// login syncs the user's entities.
#[tokio::test]
async fn the_simulator_refuses_a_bad_token_and_syncs_a_good_one() {
    let env = start_sandbox().await;
    let base: url::Url = env["TRADOVATE_BASE_URL"].parse().unwrap();
    let ws = tradovate_stream::ws_url(&base).unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(Some(Secret::new("not-a-token")));
    let err = tradovate_stream::run(&ws, 1, rx, &quick(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_CREDENTIALS", "{err:?}");

    let login: Value = reqwest::Client::new()
        .post(format!(
            "{}/auth/accesstokenrequest",
            base.as_str().trim_end_matches('/')
        ))
        .json(
            &json!({"name": "u", "password": "p", "appId": "a", "appVersion": "1",
                      "cid": 1, "sec": "s"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["accessToken"].as_str().unwrap().to_owned();
    let (_tx, rx) = tokio::sync::watch::channel(Some(Secret::new(token)));
    let synced = Arc::new(Mutex::new(None));
    let s = synced.clone();
    let run = tokio::spawn(async move {
        tradovate_stream::run(&ws, 1, rx, &quick(), move |u| {
            if let Update::Synced(sync) = u {
                *s.lock().unwrap() = Some(sync.fill_count());
            }
        })
        .await
    });
    until("the sync", async || *synced.lock().unwrap()).await;
    run.abort();
}

fn session(rt: &RuntimeHandle) -> Arc<BrokerSession> {
    broker_session(rt, BrokerVendor::Tradovate)
}

/// Tradovate calls made so far, by action (waiting for one of `wait_for`).
async fn calls(pool: &PgPool, wait_for: &str) -> Vec<String> {
    broker_calls(pool, "tradovate", wait_for).await
}

/// The broker's fills of `broker_order_id` at the simulator (their ids).
async fn sim_fills(live: &LiveApp, broker_order_id: &str) -> Vec<String> {
    let book = sandbox_broker_book(&live.env, "tradovate").await;
    book["fills"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["order_id"].as_u64().map(|id| id.to_string()).as_deref() == Some(broker_order_id)
        })
        .map(|f| f["id"].to_string())
        .collect()
}

/// The sandbox stack with its Tradovate stream synced, and a LIVE bot named `name`.
async fn synced_bot(pool: &PgPool, name: &str) -> (LiveApp, Uuid) {
    let live = live_app(pool, "tradovate", LiveSetup::default()).await;
    stream_is(&live.rt, BrokerVendor::Tradovate, StreamStatus::Synced).await;
    let bot = live.live_bot(pool, name, 1).await;
    (live, bot)
}

#[sqlx::test]
async fn a_live_fill_is_booked_from_the_user_stream_without_the_rest_fill_poll(pool: PgPool) {
    let (live, bot) = synced_bot(&pool, "stream-fill").await;
    let mut n = 0;
    tick_until(
        &live,
        &pool,
        bot,
        &mut n,
        StdDuration::ZERO,
        "a booked fill",
        async || !booked(&pool, bot).await.is_empty(),
    )
    .await;
    let fills = booked(&pool, bot).await;
    assert_eq!(
        sim_fills(&live, &fills[0].1).await,
        vec![fills[0].0.clone()]
    );
    // The commission is the vendor's ($2.25 a contract, read by fill id), not the configured rate.
    let commission: rust_decimal::Decimal = sqlx::query_scalar(
        "SELECT commission FROM fills WHERE bot_id = $1 AND broker_fill_id = $2",
    )
    .bind(bot)
    .bind(&fills[0].0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(commission, rust_decimal::Decimal::new(225, 2));
    let health = session(&live.rt).health().stream.unwrap();
    assert_eq!(health.status, StreamStatus::Synced);
    assert_eq!(health.fill_reads_from_rest, 0, "{health:?}");
    assert!(health.fill_reads_from_stream > 0, "{health:?}");
    let made = calls(&pool, "broker.fill_fee_items").await;
    assert!(made.iter().any(|a| a == "broker.placeorder"), "{made:?}");
    assert!(
        !made
            .iter()
            .any(|a| a == "broker.fill_list" || a == "broker.fill_fee_list"),
        "the REST fill poll was called while the stream was synced: {made:?}"
    );
}

/// A streamed fill is booked when it arrives, not at the bot's next bar (a 1-minute bot would
/// otherwise show a stale position for up to a minute): no tick after the order's.
#[sqlx::test]
async fn a_streamed_fill_is_booked_on_arrival_without_another_bar(pool: PgPool) {
    let (live, bot) = synced_bot(&pool, "stream-arrival").await;
    let mut n = 0;
    tick_until(
        &live,
        &pool,
        bot,
        &mut n,
        StdDuration::ZERO,
        "a LIVE order",
        async || first_order(&pool, bot).await.is_some(),
    )
    .await;
    // No bar after the order's: only the stream's fill event can book it now.
    until("the fill booked with no further bar", async || {
        (!booked(&pool, bot).await.is_empty()).then_some(())
    })
    .await;
    let fills = booked(&pool, bot).await;
    assert_eq!(
        sim_fills(&live, &fills[0].1).await,
        vec![fills[0].0.clone()]
    );
    let health = session(&live.rt).health().stream.unwrap();
    assert!(health.fill_reads_from_stream > 0, "{health:?}");
    // The runner's position is the booked one: its next evaluation books nothing twice.
    tick(
        &live.rt,
        &pool,
        bot,
        session_start() + Duration::minutes(n + 1),
    )
    .await;
    assert_eq!(booked(&pool, bot).await.len(), fills.len());
}

#[sqlx::test]
async fn a_dropped_socket_falls_back_to_the_rest_poll_and_the_stream_comes_back(pool: PgPool) {
    let live = live_app(&pool, "tradovate", LiveSetup::default()).await;
    stream_is(&live.rt, BrokerVendor::Tradovate, StreamStatus::Synced).await;
    // The socket is dropped and every reconnect refused until cleared.
    sandbox_broker_fault(&live.env, "tradovate", json!("drop_socket"), None).await;
    stream_is(&live.rt, BrokerVendor::Tradovate, StreamStatus::Down).await;
    let bot = live.live_bot(&pool, "stream-drop", 1).await;
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
    let health = session(&live.rt).health().stream.unwrap();
    assert!(health.fill_reads_from_rest > 0, "{health:?}");
    assert_ne!(health.status, StreamStatus::Synced, "{health:?}");
    assert!(health.last_error.is_some(), "{health:?}");
    calls(&pool, "broker.fill_list").await;
    // An operator sees the same: the stream down, with its error, and the REST poll answering.
    let shown = tradovate_shown(&live).await;
    assert_ne!(shown["stream"]["status"], "SYNCED", "{shown}");
    assert!(shown["stream"]["last_error"].is_string(), "{shown}");
    assert!(
        shown["stream"]["fill_reads_from_rest"].as_u64().unwrap() > 0,
        "{shown}"
    );

    // The vendor's socket is back: the actor reconnects and the stream answers again.
    sandbox_broker_fault(&live.env, "tradovate", Value::Null, None).await;
    stream_is(&live.rt, BrokerVendor::Tradovate, StreamStatus::Synced).await;
    let before = session(&live.rt).health().stream.unwrap();
    assert!(before.connects >= 2, "{before:?}");
    let first = booked(&pool, bot).await.len();
    tick_until(
        &live,
        &pool,
        bot,
        &mut n,
        StdDuration::ZERO,
        "a fill booked from the stream",
        async || booked(&pool, bot).await.len() > first,
    )
    .await;
    let after = session(&live.rt).health().stream.unwrap();
    assert!(
        after.fill_reads_from_stream > before.fill_reads_from_stream,
        "{before:?} {after:?}"
    );
    let shown = tradovate_shown(&live).await;
    assert_eq!(shown["stream"]["status"], "SYNCED", "{shown}");
    assert!(
        shown["stream"]["connects"].as_u64().unwrap() >= 2,
        "{shown}"
    );
    assert_eq!(shown["ready"], true, "{shown}");
    // One booked fill per broker fill id.
    let ids: Vec<String> = booked(&pool, bot).await.into_iter().map(|f| f.0).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
}

/// The Tradovate session as `/api/runtime/status` shows it.
async fn tradovate_shown(live: &LiveApp) -> Value {
    let (code, body) = live.app.runtime_status().await;
    assert_eq!(code, 200, "{body}");
    body["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["broker"] == "tradovate")
        .cloned()
        .unwrap_or_else(|| panic!("no tradovate session shown: {body}"))
}

/// A partial fill (half of 2 contracts now, the rest at the next minute's open at the
/// simulator): two broker fills, booked one each, the order FILLED after the second.
/// `drop_after_first`: the socket is dropped after the first is booked from the stream, so
/// the REST poll reads both fills (the first already booked) and books the rest.
async fn partial_then_rest(pool: PgPool, duplicate_events: bool, drop_after_first: bool) {
    // Polling over REST, an evaluation makes about six Tradovate calls under its 80 a minute
    // (see `LiveSetup::production_heartbeat`).
    let setup = LiveSetup {
        production_heartbeat: drop_after_first,
        ..LiveSetup::default()
    };
    let live = live_app(&pool, "tradovate", setup).await;
    stream_is(&live.rt, BrokerVendor::Tradovate, StreamStatus::Synced).await;
    sandbox_broker_fault(&live.env, "tradovate", json!("partial"), Some(1)).await;
    if duplicate_events {
        sandbox_broker_fault(&live.env, "tradovate", json!("duplicate_events"), None).await;
    }
    let bot = live.live_bot_sized(&pool, "stream-partial", 2, 2).await;
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
    // (Both halves in one evaluation only when the minute turned right after the send.)
    if first.len() == 1 {
        assert_ne!(status, "FILLED");
    }
    let from_stream = session(&live.rt).health().stream.unwrap();
    assert_eq!(from_stream.fill_reads_from_rest, 0, "{from_stream:?}");
    if drop_after_first {
        sandbox_broker_fault(&live.env, "tradovate", json!("drop_socket"), None).await;
        stream_is(&live.rt, BrokerVendor::Tradovate, StreamStatus::Down).await;
        // Polling over REST is paced (Tradovate's 80 calls a minute): evaluate again only
        // once the rest has filled at the minute's turn.
        let now = live.app.state.clock.now();
        let turn = now.duration_trunc(Duration::minutes(1)).unwrap() + Duration::minutes(1);
        tokio::time::sleep(
            (turn - now + Duration::milliseconds(1500))
                .to_std()
                .unwrap(),
        )
        .await;
    }
    // The rest fills at the next minute's open (real time on the shifted clock): tick each
    // second meanwhile (every 5 s when polling, within Tradovate's pacing).
    let pause = StdDuration::from_secs(if drop_after_first { 5 } else { 1 });
    tick_until(
        &live,
        &pool,
        bot,
        &mut n,
        pause,
        "the rest of the order",
        async || {
            first_order(&pool, bot)
                .await
                .is_some_and(|(_, s)| s == "FILLED")
        },
    )
    .await;
    // The engine counted only what was left of the partially filled order (its filled part is
    // in the position): the bot's next order, if any, is a whole 2-contract order, never a
    // 1-contract "adjustment" of a position counted twice.
    let next: Option<i32> = sqlx::query_scalar(
        "SELECT quantity FROM orders WHERE bot_id = $1 AND broker_order_id IS DISTINCT FROM $2 \
         ORDER BY created_at LIMIT 1",
    )
    .bind(bot)
    .bind(&order)
    .fetch_optional(&pool)
    .await
    .unwrap();
    assert!(
        next.is_none_or(|q| q == 2),
        "next order of {next:?} contracts"
    );
    let fills: Vec<(String, String, i32)> = booked(&pool, bot)
        .await
        .into_iter()
        .filter(|f| f.1 == order)
        .collect();
    let mut ids: Vec<String> = fills.iter().map(|f| f.0.clone()).collect();
    ids.sort();
    let mut at_broker = sim_fills(&live, &order).await;
    at_broker.sort();
    assert_eq!(
        ids, at_broker,
        "one booked fill per broker fill id: {fills:?}"
    );
    assert_eq!(fills.iter().map(|f| f.2).sum::<i32>(), 2, "{fills:?}");
    let health = session(&live.rt).health().stream.unwrap();
    if drop_after_first {
        assert!(health.fill_reads_from_rest > 0, "{health:?}");
    } else {
        // Neither the fills nor the partially filled order's state were polled over REST.
        assert_eq!(health.fill_reads_from_rest, 0, "{health:?}");
        assert_eq!(health.order_reads_from_rest, 0, "{health:?}");
        assert!(health.order_reads_from_stream > 0, "{health:?}");
    }
}

#[sqlx::test]
async fn a_partial_fill_then_the_rest_are_booked_from_the_stream(pool: PgPool) {
    partial_then_rest(pool, false, false).await;
}

#[sqlx::test]
async fn duplicate_events_and_a_fill_seen_by_the_stream_and_the_poll_book_once(pool: PgPool) {
    partial_then_rest(pool, true, true).await;
}

/// A socket that goes silent (no heartbeat, no event) is given up after the silence limit
/// and reopened; once the vendor speaks again the stream is synced.
#[sqlx::test]
async fn a_silent_socket_is_given_up_and_reopened(pool: PgPool) {
    let live = live_app(&pool, "tradovate", LiveSetup::default()).await;
    stream_is(&live.rt, BrokerVendor::Tradovate, StreamStatus::Synced).await;
    sandbox_broker_fault(&live.env, "tradovate", json!("stop_heartbeats"), None).await;
    let s = session(&live.rt);
    let silent = until("the silent socket given up", async || {
        let h = s.health().stream?;
        (h.drops >= 1).then_some(h)
    })
    .await;
    assert!(
        silent
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("no frame")),
        "{silent:?}"
    );
    sandbox_broker_fault(&live.env, "tradovate", Value::Null, None).await;
    stream_is(&live.rt, BrokerVendor::Tradovate, StreamStatus::Synced).await;
    let back = s.health().stream.unwrap();
    assert!(back.connects >= 2, "{back:?}");
}

/// A new login (the old token died) gives a new token: it is authorized on the open socket,
/// which stays synced (no reconnect).
#[sqlx::test]
async fn a_new_token_is_authorized_on_the_open_socket(pool: PgPool) {
    let live = live_app(&pool, "tradovate", LiveSetup::default()).await;
    stream_is(&live.rt, BrokerVendor::Tradovate, StreamStatus::Synced).await;
    let s = session(&live.rt);
    let before = s.health();
    let stream = before.stream.clone().unwrap();
    assert_eq!(stream.authorizations, 1, "{stream:?}");
    // Every token the simulator issued expires: the next call is refused (401), the session
    // logs in again once and the call goes through.
    sandbox_broker_fault(&live.env, "tradovate", json!("token_expiry"), Some(1)).await;
    s.positions().await.unwrap();
    assert_eq!(s.health().logins, before.logins + 1);
    let after = until("the new token authorized on the socket", async || {
        let h = s.health().stream?;
        (h.authorizations == 2).then_some(h)
    })
    .await;
    assert_eq!(after.connects, stream.connects, "{after:?}");
    assert_eq!(after.status, StreamStatus::Synced, "{after:?}");
}
