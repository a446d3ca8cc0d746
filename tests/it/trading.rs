//! The trading core end to end against the sandbox: a PAPER bot started through the API runs
//! one evaluation per bar tick (ticks replayed over chosen historical bars, so the market's
//! hours never depend on when the test runs), every evaluation leaves exactly one trace, a
//! decision is linked to the trade its fill opened, a halt is explained as MARKET_CLOSED, bar
//! reads are usage events of the bot, and a crash in the middle books no order twice.

use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use tradeplane::domain::{
    execution::OrderStatus,
    instruments::Symbol,
    risk::Stage,
    side::{Side, TradeSide},
    timeframe::Timeframe,
};
use tradeplane::runtime::BarTick;
use uuid::Uuid;

use crate::support::{
    fixtures::{crashable_runtime, start_sandbox},
    paper::{config, evaluations, session_start, started_bot, tick},
    spawn_app_with_runtime_config,
};

async fn count(pool: &PgPool, sql: &str, bot: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bot)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_paper_bot_decides_fills_explains_halts_and_uses_its_data(pool: PgPool) {
    let env = start_sandbox().await;
    let app = spawn_app_with_runtime_config(pool.clone(), config(&env))
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let bot = started_bot(&app, "e2e-paper").await;
    let usage_before = count(
        &pool,
        "SELECT count(*) FROM integration_usage_events WHERE bot_id = $1",
        bot,
    )
    .await;

    // Minute ticks until a decision has been filled and linked to its trade.
    let start = session_start();
    let mut ticks = 0i64;
    let linked = loop {
        ticks += 1;
        assert!(ticks <= 240, "no filled decision within 4 hours of bars");
        tick(&rt, &pool, bot, start + chrono::Duration::minutes(ticks)).await;
        let linked: Option<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT id, trade_log_id FROM decision_traces WHERE bot_id = $1 AND trade_log_id IS NOT NULL \
             ORDER BY created_at LIMIT 1",
        )
        .bind(bot)
        .fetch_optional(&pool)
        .await
        .unwrap();
        if let Some(l) = linked {
            break l;
        }
    };
    // Exactly one trace per evaluation.
    assert_eq!(evaluations(&pool, bot).await, ticks);

    // The trade, its order and its fill agree: filled at the next bar's open, 1 tick against.
    let (decision_id, trade_id) = linked;
    let trade = tradeplane::store::trades::get(&pool, trade_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (trade.bot_id, trade.symbol, trade.stage),
        (bot, Symbol::Es, Stage::Paper)
    );
    let (side, status, bar_at, fill_price, commission, filled_at): (
        Side,
        OrderStatus,
        DateTime<Utc>,
        Decimal,
        Decimal,
        DateTime<Utc>,
    ) = sqlx::query_as(
        "SELECT o.side, o.status, o.decision_bar_at, f.price, f.commission, f.filled_at \
         FROM orders o JOIN fills f ON f.order_id = o.id WHERE o.decision_trace_id = $1",
    )
    .bind(decision_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, OrderStatus::Filled);
    assert_eq!(filled_at, bar_at + chrono::Duration::minutes(1));
    assert_eq!(trade.entry_price, fill_price);
    assert_eq!(trade.side, TradeSide::of(side.sign()));
    assert_eq!(commission, Decimal::new(225, 2));
    let next_open: Decimal = sqlx::query_scalar(
        "SELECT open FROM market_bars WHERE symbol = 'ES' AND timeframe = '1m' AND ts = $1 LIMIT 1",
    )
    .bind(filled_at)
    .fetch_one(&pool)
    .await
    .unwrap();
    let slip = Decimal::new(25, 2) * Decimal::from(side.sign());
    assert_eq!(fill_price, next_open + slip);
    let position = tradeplane::store::positions::get(&pool, bot, Symbol::Es)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(position.quantity.abs(), 1);
    assert_eq!(position.average_price, Some(fill_price));

    // The operator's view of the book.
    let (status, body) = app.bot_trades(&bot, "").await;
    assert_eq!(status, 200);
    assert_eq!(body["items"][0]["id"], trade_id.to_string(), "{body}");
    let (status, body) = app.bot_orders(&bot, "limit=5").await;
    assert_eq!(status, 200);
    assert!(
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["status"] == "FILLED"),
        "{body}"
    );
    let (status, body) = app.bot_position(&bot).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["position"]["quantity"].as_i64().map(i64::abs),
        Some(1),
        "{body}"
    );
    let mark: Decimal = body["mark"]["price"].as_str().unwrap().parse().unwrap();
    let unrealized: Decimal = body["unrealized_pnl"].as_str().unwrap().parse().unwrap();
    let held = Decimal::from(body["position"]["quantity"].as_i64().unwrap());
    assert_eq!(unrealized, (mark - fill_price) * held * Decimal::from(50));

    // The daily halt (Tuesday 16:30 CT): one no-trade trace naming MARKET_CLOSED.
    let halt = Utc.with_ymd_and_hms(2026, 11, 17, 22, 30, 0).unwrap();
    tick(&rt, &pool, bot, halt).await;
    let blocked: Value = sqlx::query_scalar(
        "SELECT blocked_by FROM no_trade_traces WHERE bot_id = $1 ORDER BY last_seen_at DESC LIMIT 1",
    )
    .bind(bot)
    .fetch_one(&pool)
    .await
    .unwrap();
    let codes: Vec<&str> = blocked
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["code"].as_str())
        .collect();
    assert!(codes.contains(&"MARKET_CLOSED"), "{blocked}");
    let (status, body) = app.no_trade_traces(&bot, "limit=1").await;
    assert_eq!(status, 200);
    assert!(
        body["items"][0]["blocked_by"]
            .to_string()
            .contains("MARKET_CLOSED"),
        "{body}"
    );

    // Every bar read is a usage event of this bot and run (written by the telemetry writer).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let usage_after = count(
            &pool,
            "SELECT count(*) FROM integration_usage_events WHERE bot_id = $1 AND run_id IS NOT NULL \
             AND action = 'bars.fetch' AND status = 'OK'",
            bot,
        )
        .await;
        if usage_after > usage_before + ticks {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{usage_before} → {usage_after} bar reads after {} ticks",
            ticks + 1
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn paper_1m() -> tradeplane::runtime::RunnerOptions {
    tradeplane::runtime::RunnerOptions {
        timeframe: Timeframe::M1,
        live: false,
    }
}

#[sqlx::test]
async fn a_crash_mid_run_books_no_order_twice(pool: PgPool) {
    let env = start_sandbox().await;
    // The API (to create and start the bot) on the test's runtime.
    let app = spawn_app_with_runtime_config(pool.clone(), config(&env))
        .await
        .signed_in_as_admin()
        .await;
    let bot = started_bot(&app, "e2e-crash").await;
    app.state.runtime.stop_runner(bot).await.unwrap();

    let start = session_start();
    let mut at = start;
    let (first, rt, first_pool) = crashable_runtime(&pool, config(&env)).await;
    rt.start_runner(bot, paper_1m()).await.unwrap();
    // Run until an order is working (decided, not yet filled), then crash right there.
    let mut n = 0;
    loop {
        n += 1;
        assert!(n <= 240, "no order within 4 hours of bars");
        at += chrono::Duration::minutes(1);
        tick(&rt, &pool, bot, at).await;
        if count(
            &pool,
            "SELECT count(*) FROM orders WHERE bot_id = $1 AND status = 'WORKING'",
            bot,
        )
        .await
            > 0
        {
            break;
        }
    }
    // The next bar (the fill) is in flight when the process dies.
    at += chrono::Duration::minutes(1);
    rt.inject_tick(BarTick {
        timeframe: Timeframe::M1,
        bar_at: SystemTime::from(at),
        fired_at: crate::support::now().into(),
    });
    tokio::time::sleep(Duration::from_millis(3)).await;
    first.shutdown_background();
    close_dead(first_pool).await;
    let orders_at_crash = count(&pool, "SELECT count(*) FROM orders WHERE bot_id = $1", bot).await;

    // A new process: the runner reloads its working order and position from Postgres and
    // replays the bar that was in flight.
    let (second, rt, second_pool) = crashable_runtime(&pool, config(&env)).await;
    rt.start_runner(bot, paper_1m()).await.unwrap();
    let replay_from = at;
    tick(&rt, &pool, bot, replay_from).await;
    // Whether the dead process got as far as deciding on the in-flight bar or not, that bar
    // has at most one order now.
    assert!(
        count(&pool, "SELECT count(*) FROM orders WHERE bot_id = $1", bot).await
            <= orders_at_crash + 1
    );
    for i in 1..=60 {
        tick(&rt, &pool, bot, replay_from + chrono::Duration::minutes(i)).await;
    }
    // Every order filled at most once; the position equals the sum of the fills.
    let twice = count(
        &pool,
        "SELECT count(*) FROM (SELECT order_id FROM fills WHERE bot_id = $1 GROUP BY order_id HAVING count(*) > 1) d",
        bot,
    )
    .await;
    assert_eq!(twice, 0);
    let keys = count(
        &pool,
        "SELECT count(*) - count(DISTINCT idempotency_key) FROM orders WHERE bot_id = $1",
        bot,
    )
    .await;
    assert_eq!(keys, 0);
    let per_bar = count(
        &pool,
        "SELECT count(*) - count(DISTINCT decision_bar_at) FROM orders WHERE bot_id = $1",
        bot,
    )
    .await;
    assert_eq!(per_bar, 0, "a bar was acted on twice");
    let filled_after_restart = count(
        &pool,
        "SELECT count(*) FROM orders WHERE bot_id = $1 AND status = 'FILLED'",
        bot,
    )
    .await;
    assert!(
        filled_after_restart >= 1,
        "the order working at the crash was never filled"
    );
    let net: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(CASE o.side WHEN 'BUY' THEN f.quantity ELSE -f.quantity END), 0)::int8 \
         FROM fills f JOIN orders o ON o.id = f.order_id WHERE f.bot_id = $1",
    )
    .bind(bot)
    .fetch_one(&pool)
    .await
    .unwrap();
    let position = tradeplane::store::positions::get(&pool, bot, Symbol::Es)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(i64::from(position.quantity), net);
    second.shutdown_background();
    close_dead(second_pool).await;
}

/// Drops the connections of a pool whose runtime is gone (they would hold server slots, and
/// keep the test database from being dropped, until the test process exits).
async fn close_dead(pool: PgPool) {
    let _ = tokio::time::timeout(Duration::from_secs(2), pool.close()).await;
}
