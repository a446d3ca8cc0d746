//! "Kill and flatten" of a LIVE bot on the broker simulator (issue 17 part 5): two LIVE demo
//! bots on one Ironbeam sandbox account each hold 1 ES, and a resting order sits on the
//! contract. A kill (no flatten) leaves the position: SEV-1 `KILLED_WITH_EXPOSURE`. Kill and
//! flatten then cancels the working order at the broker and closes the account's contract with
//! market orders written ahead (`SENDING`) and booked from the broker's fills, one per bot
//! holding it, so the broker is flat, nothing works there, both ledgers are flat and the
//! blocker clears. A stale 2FA step-up is refused first.

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{
    TestApp,
    fixtures::{sandbox_broker_book, sandbox_broker_delayed_ack, until},
    live::{LiveSetup, live_app, sandbox_post},
    paper::{session_start, tick},
};

const VENDOR: &str = "ironbeam";

async fn held(pool: &PgPool, bot: Uuid) -> i64 {
    let q: Option<i32> =
        sqlx::query_scalar("SELECT quantity FROM positions WHERE bot_id = $1 AND stage = 'LIVE'")
            .bind(bot)
            .fetch_optional(pool)
            .await
            .unwrap();
    i64::from(q.unwrap_or(0))
}

async fn open_orders(pool: &PgPool, bot: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM orders WHERE bot_id = $1 \
         AND status IN ('SENDING', 'WORKING', 'PARTIALLY_FILLED')",
    )
    .bind(bot)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The broker's net from its fills, and its orders still working.
async fn at_broker(live_env: &tradeplane::integrations::registry::EnvMap) -> (i64, usize, Value) {
    let book = sandbox_broker_book(live_env, VENDOR).await;
    let net = book["fills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let q = f["quantity"].as_i64().unwrap();
            if f["side"] == "BUY" { q } else { -q }
        })
        .sum();
    let working = book["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["status"] == "WORKING")
        .count();
    (net, working, book)
}

async fn blocker_of(app: &TestApp, code: &str, name: &str) -> Option<Value> {
    let (status, body) = app.system_status().await;
    assert_eq!(status, 200, "{body}");
    body["blockers"]
        .as_array()?
        .iter()
        .find(|b| b["code"] == code && b["message"].as_str().is_some_and(|m| m.contains(name)))
        .cloned()
}

#[sqlx::test]
async fn kill_and_flatten_leaves_the_broker_and_every_ledger_flat(pool: PgPool) {
    let setup = LiveSetup {
        reconcile_every: Some(StdDuration::from_secs(1)),
        send_grace: Some(StdDuration::from_secs(2)),
        production_heartbeat: true,
        ..LiveSetup::default()
    };
    let live = live_app(&pool, VENDOR, setup).await;
    let a = live.live_bot(&pool, "flat-a", 1).await;
    let b = live.live_bot(&pool, "flat-b", 1).await;
    let (app, rt) = (&live.app, &live.rt);

    // Both bots enter on the same bar and hold 1 ES each at the broker and in their ledgers.
    let start = session_start();
    let mut minute = 1;
    while held(&pool, a).await == 0 || held(&pool, b).await == 0 {
        tick(rt, &pool, b, start + Duration::minutes(minute)).await;
        tokio::time::sleep(StdDuration::from_millis(200)).await;
        minute += 1;
        assert!(minute < 120, "the bots never both held a position");
    }
    let (qa, qb) = (held(&pool, a).await, held(&pool, b).await);
    assert_eq!(qa, qb, "same strategy, same bars");
    let (net, _, book) = at_broker(&live.env).await;
    assert_eq!(net, qa + qb, "{book}");
    // A resting order on the contract, placed behind our back.
    sandbox_post(
        &live.env,
        "/_sandbox/broker/external_order",
        json!({"vendor": VENDOR, "symbol": "ES", "side": "BUY", "quantity": 1,
               "limit_price": 1000.0}),
    )
    .await;
    assert_eq!(at_broker(&live.env).await.1, 1);

    // Killed without flatten: the position stays, a SEV-1 blocker names the bot.
    let (status, body) = app.kill_bot(a, json!({"reason": "drill"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["removal"]["position_after"], qa, "{body}");
    let blocker = until("the exposure blocker", async || {
        blocker_of(app, "KILLED_WITH_EXPOSURE", "flat-a").await
    })
    .await;
    assert_eq!(blocker["severity"], "SEV-1", "{blocker}");

    // A stale step-up is refused: nothing is sent.
    sqlx::query("UPDATE sessions SET step_up_at = step_up_at - interval '11 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    let (status, body) = app
        .kill_bot(a, json!({"reason": "flatten", "flatten": true}))
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "TWO_FACTOR_REQUIRED", "{body}");
    assert_eq!(at_broker(&live.env).await.0, net);

    // Freshly verified: kill and flatten.
    let admin = app.with_client(app.admin_client().await);
    let (status, body) = admin
        .kill_bot(a, json!({"reason": "flatten", "flatten": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    let removal = &body["removal"];
    let flatten = &removal["flatten"];
    assert_eq!(flatten["status"], "CLOSED_AT_BROKER", "{removal}");
    assert_eq!(flatten["contract"], "XCME:ES.Z26", "{flatten}");
    assert_eq!(flatten["broker_net_before"], net, "{flatten}");
    assert_eq!(
        flatten["cancelled_at_broker"].as_array().unwrap().len(),
        1,
        "{flatten}"
    );
    assert!(
        flatten["adopted"].is_null(),
        "the ledgers explained it: {flatten}"
    );
    let closes = flatten["closes"].as_array().unwrap();
    assert_eq!(
        closes.len(),
        2,
        "one close per bot holding the contract: {flatten}"
    );
    for close in closes {
        assert_eq!(
            close["side"],
            if qa > 0 { "SELL" } else { "BUY" },
            "{close}"
        );
        assert_eq!(close["filled"], close["quantity"], "{close}");
        assert!(
            close["price"].is_string() && close["problem"].is_null(),
            "{close}"
        );
    }
    assert_eq!(flatten["not_done"], json!([]), "{flatten}");
    assert_eq!(removal["position_after"], 0, "{removal}");

    // Flat at the broker, nothing working there; flat in both ledgers, no open order.
    let (net_after, working, book) = at_broker(&live.env).await;
    assert_eq!((net_after, working), (0, 0), "{book}");
    for bot in [a, b] {
        assert_eq!(held(&pool, bot).await, 0);
        assert_eq!(open_orders(&pool, bot).await, 0);
    }
    // The closing orders were written ahead with their keys and booked from broker fills.
    let closing: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT o.idempotency_key, o.status, o.broker_order_id FROM orders o \
         WHERE o.idempotency_key LIKE 'tpflat-%' ORDER BY o.created_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(closing.len(), 2, "{closing:?}");
    assert!(
        closing
            .iter()
            .all(|(_, status, id)| status == "FILLED" && id.is_some()),
        "{closing:?}"
    );
    let broker_fills: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM fills f JOIN orders o ON o.id = f.order_id \
         WHERE o.idempotency_key LIKE 'tpflat-%' AND f.broker_fill_id IS NOT NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(broker_fills >= 2, "{broker_fills}");
    // The blocker clears; the other bot's runner is back.
    until("the exposure blocker to clear", async || {
        blocker_of(app, "KILLED_WITH_EXPOSURE", "flat-a")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    until("the other bot's runner", async || {
        let runner = rt.runner(b)?;
        (runner.kill_reason.is_none() && runner.status.is_live()).then_some(())
    })
    .await;
}

/// A close waits for its broker's answer under the bot's lease: the node's rounds must not let
/// that lease go meanwhile, though the bot is stopped and has no runner (the round's "idle"
/// and "stopped" releases). Here the lease lives 900 ms and the broker answers the close after
/// 2.5 s: before the fix the round released the lease mid-way and the close ended with "the
/// bot's lease moved on while this acted", its fill unbooked.
#[sqlx::test]
async fn a_close_waiting_on_a_slow_broker_keeps_the_stopped_bots_lease(pool: PgPool) {
    let setup = LiveSetup {
        production_heartbeat: true,
        lease_ttl: Some(StdDuration::from_millis(900)),
        ..LiveSetup::default()
    };
    let live = live_app(&pool, VENDOR, setup).await;
    let bot = live.live_bot(&pool, "slow-close", 1).await;
    let (app, rt) = (&live.app, &live.rt);
    let start = session_start();
    let mut minute = 1;
    while held(&pool, bot).await == 0 {
        tick(rt, &pool, bot, start + Duration::minutes(minute)).await;
        tokio::time::sleep(StdDuration::from_millis(200)).await;
        minute += 1;
        assert!(minute < 120, "the bot never held a position");
    }
    let qty = held(&pool, bot).await;
    let (status, body) = app.stop_bot(bot).await;
    assert_eq!(status, 200, "{body}");
    until("the runner to stop", async || {
        rt.runner(bot)
            .is_none_or(|r| !r.status.is_live())
            .then_some(())
    })
    .await;

    sandbox_broker_delayed_ack(&live.env, VENDOR, StdDuration::from_millis(2500), 1).await;
    let admin = app.with_client(app.admin_client().await);
    let (status, body) = admin
        .call("POST", &format!("/api/bots/{bot}/close-position"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let removal = &body["removal"];
    assert!(removal["not_done"].is_null(), "{removal}");
    assert_eq!(
        removal["flatten"]["status"], "CLOSED_AT_BROKER",
        "{removal}"
    );
    assert_eq!(removal["position_after"], 0, "{removal}");
    assert_eq!(held(&pool, bot).await, 0, "closed {qty}");
    assert_eq!(open_orders(&pool, bot).await, 0);
    let (net, working, book) = at_broker(&live.env).await;
    assert_eq!((net, working), (0, 0), "{book}");
}
