//! LIVE end to end on the broker simulator (issue 17 parts 2 and 8): a LIVE bot in the demo
//! environment, its runner started under the runtime, bar ticks replayed: every decision's
//! order is written ahead (SENDING), sent to the simulated broker, acknowledged (WORKING),
//! filled there on the sandbox bars, and booked from the broker's fills (one fill per broker
//! fill id). A lost acknowledgement (and, on Tradovate, a duplicated submission) leaves
//! exactly one order per decision at the broker; a refused order is REJECTED with
//! `BROKER_ORDER_REJECTED` in its decision trace.

use chrono::Duration;
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    domain::timeframe::Timeframe,
    integrations::registry::EnvMap,
    runtime::{RunnerOptions, RuntimeHandle},
};
use uuid::Uuid;

use crate::support::{
    TestApp,
    fixtures::{sandbox_broker_book, sandbox_broker_delayed_ack, sandbox_broker_fault, until},
    live::{LiveSetup, half_filled, live_app},
    paper::{evaluations, session_start, tick},
};

async fn scalar<T>(pool: &PgPool, sql: &str, bot: Uuid) -> T
where
    T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    sqlx::query_scalar(sql)
        .bind(bot)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A LIVE sma_crossover(2,4) ES 1m bot of `vendor` (demo) with its runner started, on a
/// runtime and a broker simulator sharing one clock (`support::live`).
async fn live_bot(pool: &PgPool, vendor: &str) -> (TestApp, RuntimeHandle, EnvMap, Uuid) {
    let live = live_app(pool, vendor, LiveSetup::default()).await;
    let bot = live.live_bot(pool, &format!("live-{vendor}"), 1).await;
    (live.app, live.rt, live.env, bot)
}

async fn live_round_trip(pool: PgPool, vendor: &str) {
    let (_app, rt, env, bot) = live_bot(&pool, vendor).await;
    // The first send's answer is lost (after a retransmission, on Tradovate).
    sandbox_broker_fault(&env, vendor, json!("lost_ack"), Some(1)).await;
    if vendor == "tradovate" {
        sandbox_broker_fault(&env, vendor, json!("duplicate_submit"), Some(1)).await;
    }

    let start = session_start();
    let mut n = 0;
    loop {
        n += 1;
        assert!(n <= 240, "no LIVE round trip within 4 hours of bars");
        tick(&rt, &pool, bot, start + Duration::minutes(n)).await;
        let closed: i64 = scalar(
            &pool,
            "SELECT count(*) FROM trades WHERE bot_id = $1 AND closed_at IS NOT NULL",
            bot,
        )
        .await;
        if closed >= 1 {
            break;
        }
    }

    // The last evaluation's send may still be in flight: wait for its answer.
    until("no order left SENDING", async || {
        let n: i64 = scalar(
            &pool,
            "SELECT count(*) FROM orders WHERE bot_id = $1 AND status = 'SENDING'",
            bot,
        )
        .await;
        (n == 0).then_some(())
    })
    .await;

    // Every LIVE order reached the broker once, under the broker's id.
    let ours: Vec<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT status, broker_order_id, broker FROM orders WHERE bot_id = $1 AND stage = 'LIVE' \
         ORDER BY created_at",
    )
    .bind(bot)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(ours.len() >= 2, "{ours:?}");
    assert!(ours.iter().all(|(_, _, b)| b == vendor), "{ours:?}");
    let book = sandbox_broker_book(&env, vendor).await;
    let at_broker = book["orders"].as_array().unwrap();
    assert_eq!(
        at_broker.len(),
        ours.iter().filter(|(_, id, _)| id.is_some()).count(),
        "one broker order per sent order, no duplicate: {ours:?} {book}"
    );
    let ids: Vec<&str> = ours.iter().filter_map(|(_, id, _)| id.as_deref()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    // The first order (its answer lost) was resolved from the broker's orders.
    assert_eq!(ours[0].0, "FILLED", "{ours:?}");
    // One login (no login loop).
    assert_eq!(book["logins"], 1, "{book}");

    // Fills came from the broker: one per broker fill id of each order we hold FILLED (an order
    // still WORKING here is read at the bot's next bar, or on the stream). An order's state and
    // its fills are booked one after the other as they arrive: both sides are read until they
    // agree (the last fill may still be on its way when the last send's answer is in).
    let broker_id = |order: &Value| match vendor {
        "tradovate" => order.to_string(),
        _ => format!("5100001-{order}"),
    };
    let fill_id = |f: &Value| match vendor {
        "tradovate" => f["id"].to_string(),
        _ => format!("{}-{}", f["order_id"], f["id"]),
    };
    let settle = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let ours: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT status, broker_order_id FROM orders WHERE bot_id = $1 AND stage = 'LIVE'",
        )
        .bind(bot)
        .fetch_all(&pool)
        .await
        .unwrap();
        let book = sandbox_broker_book(&env, vendor).await;
        let filled: Vec<&str> = ours
            .iter()
            .filter(|(s, _)| s == "FILLED")
            .filter_map(|(_, id)| id.as_deref())
            .collect();
        let mut expected: Vec<String> = book["fills"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| filled.contains(&broker_id(&f["order_id"]).as_str()))
            .map(fill_id)
            .collect();
        let mut booked: Vec<String> = sqlx::query_scalar(
            "SELECT broker_fill_id FROM fills WHERE bot_id = $1 AND NOT simulated \
             AND broker_fill_id IS NOT NULL",
        )
        .bind(bot)
        .fetch_all(&pool)
        .await
        .unwrap();
        expected.sort();
        booked.sort();
        if booked == expected || std::time::Instant::now() > settle {
            assert!(!booked.is_empty());
            assert_eq!(booked, expected, "{ours:?} {book}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let simulated: i64 = scalar(
        &pool,
        "SELECT count(*) FROM fills WHERE bot_id = $1 AND simulated",
        bot,
    )
    .await;
    assert_eq!(simulated, 0);
    let entry: (Value,) = sqlx::query_as(
        "SELECT risk_snapshot FROM decision_traces WHERE bot_id = $1 ORDER BY created_at LIMIT 1",
    )
    .bind(bot)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(entry.0["execution"]["outcome"], "SEND", "{}", entry.0);

    // A refused order: REJECTED, the catalog code in its trace, nothing working.
    sandbox_broker_fault(&env, vendor, json!("reject_margin"), Some(1)).await;
    let placed = ours.len() as i64;
    loop {
        n += 1;
        assert!(n <= 480, "no further decision");
        tick(&rt, &pool, bot, start + Duration::minutes(n)).await;
        let count: i64 = scalar(&pool, "SELECT count(*) FROM orders WHERE bot_id = $1", bot).await;
        if count > placed {
            break;
        }
    }
    until("the refused send's answer", async || {
        let n: i64 = scalar(
            &pool,
            "SELECT count(*) FROM orders WHERE bot_id = $1 AND status = 'SENDING'",
            bot,
        )
        .await;
        (n == 0).then_some(())
    })
    .await;
    let (status, reason, snapshot): (String, Option<String>, Value) = sqlx::query_as(
        "SELECT o.status, o.reject_reason, d.risk_snapshot FROM orders o \
         JOIN decision_traces d ON d.id = o.decision_trace_id WHERE o.bot_id = $1 \
         ORDER BY o.created_at DESC LIMIT 1",
    )
    .bind(bot)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, "REJECTED");
    assert!(
        reason
            .as_deref()
            .is_some_and(|r| r.starts_with("BROKER_ORDER_REJECTED") && r.contains("margin")),
        "{reason:?}"
    );
    assert_eq!(
        snapshot["broker"]["code"], "BROKER_ORDER_REJECTED",
        "{snapshot}"
    );
}

#[sqlx::test]
async fn a_live_bot_places_fills_and_exits_at_the_tradovate_simulator(pool: PgPool) {
    live_round_trip(pool, "tradovate").await;
}

#[sqlx::test]
async fn a_live_bot_places_fills_and_exits_at_the_ironbeam_simulator(pool: PgPool) {
    live_round_trip(pool, "ironbeam").await;
}

/// A crash between send and answer: the order stays SENDING; a restarted runner takes it as
/// its working order, finds it at the broker (Ironbeam: no client id, by contract, side and
/// quantity), and re-evaluating the same boundary never sends it again.
#[sqlx::test]
async fn a_restart_after_a_lost_answer_resolves_the_order_and_never_sends_it_again(pool: PgPool) {
    let vendor = "ironbeam";
    // The REST resolution path: a synced stream could bring the order before the check below.
    let setup = LiveSetup {
        rest_only: true,
        ..LiveSetup::default()
    };
    let live = live_app(&pool, vendor, setup).await;
    let bot = live.live_bot(&pool, "live-restart", 1).await;
    let (rt, env) = (live.rt, live.env);
    sandbox_broker_fault(&env, vendor, json!("lost_ack"), Some(1)).await;
    let start = session_start();
    let mut n = 0;
    let decided_at = loop {
        n += 1;
        assert!(n <= 240, "no decision");
        let at = start + Duration::minutes(n);
        tick(&rt, &pool, bot, at).await;
        let orders: i64 = scalar(&pool, "SELECT count(*) FROM orders WHERE bot_id = $1", bot).await;
        if orders > 0 {
            break at;
        }
    };
    // The send's answer was lost: the order is at the broker, ours stays SENDING.
    until("the lost answer", async || {
        let book = sandbox_broker_book(&env, vendor).await;
        (book["orders"].as_array()?.len() == 1).then_some(())
    })
    .await;
    let status: String = scalar(&pool, "SELECT status FROM orders WHERE bot_id = $1", bot).await;
    assert_eq!(status, "SENDING");

    // The runner goes away and comes back (a crash of the runner, a restart).
    rt.stop_runner(bot).await.unwrap();
    rt.start_runner(
        bot,
        RunnerOptions {
            timeframe: Timeframe::M1,
            live: true,
        },
    )
    .await
    .unwrap();
    // The same boundary again: the decision is re-derived, found booked, not sent.
    tick(&rt, &pool, bot, decided_at).await;
    let (status, broker_id): (String, Option<String>) =
        sqlx::query_as("SELECT status, broker_order_id FROM orders WHERE bot_id = $1")
            .bind(bot)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(matches!(status.as_str(), "WORKING" | "FILLED"), "{status}");
    let book = sandbox_broker_book(&env, vendor).await;
    let at_broker = book["orders"].as_array().unwrap();
    assert_eq!(at_broker.len(), 1, "never sent twice: {book}");
    assert_eq!(
        broker_id.as_deref(),
        Some(format!("5100001-{}", at_broker[0]["id"]).as_str())
    );
    // And the re-derived decision booked nothing new (the order counted as working, or its
    // idempotency key already booked).
    let ours: i64 = scalar(&pool, "SELECT count(*) FROM orders WHERE bot_id = $1", bot).await;
    assert_eq!(ours, 1);
}

/// A broker answering slowly is not a stuck runner: while its evaluation waits on the send
/// (here 2 s, five times the harness's 400 ms heartbeat timeout), the runner keeps beating,
/// so it is neither restarted mid-send nor, as a LIVE bot, killed; the order is acknowledged.
#[sqlx::test]
async fn a_slow_broker_answer_does_not_make_the_live_runner_stuck(pool: PgPool) {
    let vendor = "ironbeam";
    let (_app, rt, env, bot) = live_bot(&pool, vendor).await;
    sandbox_broker_delayed_ack(&env, vendor, std::time::Duration::from_secs(2), 1).await;
    let start = session_start();
    let mut n = 0;
    loop {
        n += 1;
        assert!(n <= 240, "no decision");
        tick(&rt, &pool, bot, start + Duration::minutes(n)).await;
        let orders: i64 = scalar(&pool, "SELECT count(*) FROM orders WHERE bot_id = $1", bot).await;
        if orders > 0 {
            break;
        }
    }
    until("the delayed answer booked", async || {
        let status: String =
            scalar(&pool, "SELECT status FROM orders WHERE bot_id = $1", bot).await;
        matches!(status.as_str(), "WORKING" | "FILLED").then_some(())
    })
    .await;
    // Supervision events are written by the telemetry pipeline: give it a flush.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let timeouts: i64 = scalar(
        &pool,
        "SELECT count(*) FROM system_events WHERE bot_id = $1 AND code = 'HEARTBEAT_TIMEOUT'",
        bot,
    )
    .await;
    assert_eq!(
        timeouts, 0,
        "the runner was called stuck while its send was answered"
    );
    let status: String = scalar(&pool, "SELECT status FROM bots WHERE id = $1", bot).await;
    assert_ne!(status, "KILLED");
    let book = sandbox_broker_book(&env, vendor).await;
    assert_eq!(book["orders"].as_array().unwrap().len(), 1, "{book}");
}

/// The last look before a LIVE order leaves (issue 17 part 5): the kill switch pulled while a
/// decision's write-ahead waits (here behind a lock on `orders`) stops the send. The kill found
/// the order SENDING and could not cancel what no broker has; the order never reaches the
/// broker and is REJECTED with `KILL_SWITCH_ACTIVE`.
#[sqlx::test]
async fn a_kill_switch_pulled_during_the_write_ahead_stops_the_send(pool: PgPool) {
    let (_app, rt, env, bot) = live_bot(&pool, "ironbeam").await;
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let waiting_write_ahead = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO orders%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
            > 0
    };
    // Bar by bar until a decision's write-ahead waits for the lock.
    let start = session_start();
    let mut minute = 0;
    'bars: loop {
        minute += 1;
        assert!(minute <= 240, "no LIVE decision within 4 hours of bars");
        let before = evaluations(&pool, bot).await;
        rt.inject_tick(tradeplane::runtime::BarTick {
            timeframe: Timeframe::M1,
            bar_at: (start + Duration::minutes(minute)).into(),
            fired_at: crate::support::app::now().into(),
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "minute {minute} neither evaluated nor wrote ahead"
            );
            if waiting_write_ahead().await {
                break 'bars;
            }
            if evaluations(&pool, bot).await > before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    rt.apply_kill_switch(&tradeplane::store::settings::KillSwitch {
        active: true,
        reason: Some("pulled during the write-ahead".into()),
        changed_at: Some(crate::support::app::now()),
        changed_by: Some("test".into()),
    });
    lock.commit().await.unwrap();
    let (status, reason): (String, Option<String>) = until("the order refused", async || {
        sqlx::query_as(
            "SELECT status, reject_reason FROM orders WHERE bot_id = $1 AND status <> 'SENDING'",
        )
        .bind(bot)
        .fetch_optional(&pool)
        .await
        .unwrap()
    })
    .await;
    assert_eq!(status, "REJECTED");
    assert!(
        reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("KILL_SWITCH_ACTIVE"),
        "{reason:?}"
    );
    let book = sandbox_broker_book(&env, "ironbeam").await;
    assert_eq!(
        book["orders"],
        json!([]),
        "the order never reached the broker: {book}"
    );
}

/// Trading turned off through another node (its write, `flip`: its API could cancel nothing
/// of a bot whose lease is here): this node's next ownership round sees it and cancels the
/// bot's working LIVE order, at the broker and in the ledger, with a `TRADING_OFF` removal
/// event. Before, the order stayed working at the broker.
async fn turned_off_elsewhere_cancels_here(pool: PgPool, flip: &str) {
    let vendor = "ironbeam";
    let setup = LiveSetup {
        rest_only: true,
        // Rounds every ≈ 0.7 s.
        lease_ttl: Some(std::time::Duration::from_secs(2)),
        // Early in a minute: the rest fills at the next one, long after the round.
        start_at: Some(session_start() + Duration::hours(5) + Duration::seconds(5)),
        ..LiveSetup::default()
    };
    let (live, bot, order, rest_at) = half_filled(&pool, vendor, setup).await;
    sqlx::query(flip).bind(bot).execute(&pool).await.unwrap();
    until("the working LIVE order cancelled here", async || {
        let status: String = scalar(&pool, "SELECT status FROM orders WHERE id = $1", order).await;
        (status == "CANCELLED").then_some(())
    })
    .await;
    assert!(
        live.rt.clock().now() < rest_at,
        "cancelled before the broker's next minute"
    );
    let book = sandbox_broker_book(&live.env, vendor).await;
    assert_eq!(book["orders"][0]["status"], "CANCELLED", "{book}");
    assert_eq!(book["fills"].as_array().unwrap().len(), 1, "{book}");
    // The removal's event follows its cancels.
    let event: Value = until("the removal event", async || {
        sqlx::query_scalar(
            "SELECT metadata FROM system_events WHERE code = 'BOT_RISK_REMOVED' AND bot_id = $1 \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(bot)
        .fetch_optional(&pool)
        .await
        .unwrap()
    })
    .await;
    assert_eq!(event["source"], "TRADING_OFF", "{event}");
}

#[sqlx::test]
async fn the_global_switch_turned_off_through_another_node_cancels_live_orders_here(pool: PgPool) {
    turned_off_elsewhere_cancels_here(
        pool,
        "UPDATE settings SET trading_enabled = false, updated_at = now(), \
         updated_by = 'ops@other-node' WHERE $1::uuid IS NOT NULL",
    )
    .await;
}

#[sqlx::test]
async fn a_bots_switch_turned_off_through_another_node_cancels_its_live_orders_here(pool: PgPool) {
    turned_off_elsewhere_cancels_here(
        pool,
        "UPDATE bots SET is_trading_enabled = false WHERE id = $1",
    )
    .await;
}
