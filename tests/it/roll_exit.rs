//! A PAPER bot holding a position when its contract rolls (ESZ26 → ESH27 at 2026-12-09
//! 23:00 UTC), end to end on the sandbox: the runner's first evaluation on the new contract is
//! the roll exit (`domain::roll_exit`), an EXIT order decided on the old contract's last bar
//! and filled at its close moved by the fill model, booked through the ledger; the position is
//! flat and its trade closed before the strategy trades the new contract. LIVE: the exit is
//! sent to the broker (simulator) for the contract held, never for the new front one.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::domain::{
    execution::{OrderStatus, OrderType},
    instruments::Symbol,
    positions::Position,
    risk::Stage,
    side::Side,
    timeframe::Timeframe,
};
use tradeplane::runtime::RunnerOptions;
use tradeplane::store::{
    bot_leases,
    fills::{self, FillBooking},
    orders::{self, NewOrder},
};
use uuid::Uuid;

use crate::support::{
    TestApp,
    app::now,
    fixtures::{lease, sandbox_broker_book, set_stage, start_sandbox, until},
    live::{LiveSetup, live_app},
    paper::{config, tick},
    spawn_app_with_runtime_config,
};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Books a filled BUY of one ES on `decided` (so on the contract that was the front one then),
/// the way the runner books one, under a test lease released afterwards.
async fn seed_long(pool: &PgPool, bot: Uuid, decided: DateTime<Utc>, price: Decimal) {
    let fence = lease(pool, bot).await;
    let mut conn = pool.acquire().await.unwrap();
    let (order, _) = orders::insert_once(
        &mut conn,
        NewOrder {
            bot_id: bot,
            run_id: None,
            decision_trace_id: None,
            idempotency_key: "seeded-entry".into(),
            symbol: Symbol::Es,
            side: Side::Buy,
            quantity: 1,
            order_type: OrderType::Market,
            limit_price: None,
            stop_price: None,
            stage: Stage::Paper,
            status: OrderStatus::Working,
            decision_bar_at: Some(decided),
            reference_price: Some(price),
        },
        now(),
    )
    .await
    .unwrap();
    drop(conn);
    let before = Position::flat(Symbol::Es);
    let mut after = before.clone();
    let realized = after.apply_fill(Side::Buy, 1, price, dec!(2.25));
    fills::book(
        pool,
        FillBooking {
            fence: &fence,
            order: &order,
            side: Side::Buy,
            quantity: 1,
            price,
            commission: dec!(2.25),
            filled_at: decided + chrono::Duration::minutes(1),
            simulated: true,
            before: &before,
            after: &after,
            realized,
        },
    )
    .await
    .unwrap();
    assert!(bot_leases::release(pool, &fence, now()).await.unwrap());
}

/// An app on the sandbox (1m ticks replayed by the test) and a PAPER sma_crossover(2,4) ES 1m
/// bot created through the API, not started.
async fn paper_bot(pool: &PgPool, name: &str) -> (TestApp, Uuid) {
    let env = start_sandbox().await;
    let mut runtime = config(&env);
    runtime.runner.heartbeat_timeout = std::time::Duration::from_secs(10);
    // The roll is the point, not the tier: on a loaded machine the scorer's first pass could
    // land mid-test and lock the new bot (no evidence yet), so the exit was refused by the
    // autonomy gate (the full suite, 2026-12-08).
    runtime.autonomy.enabled = false;
    let app = spawn_app_with_runtime_config(pool.clone(), runtime)
        .await
        .signed_in_as_admin()
        .await;
    for provider in ["databento", "polygon"] {
        let (status, body) = app.verify_integration(provider).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = app
        .create_bot(json!({
            "name": name, "symbol": "ES", "timeframe": "1m", "stage": "LAB",
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4}},
            "risk": {"max_order_size": 1, "max_position": 1, "daily_loss_limit": 100000.0,
                     "max_drawdown": 100000.0}
        }))
        .await;
    assert_eq!(status, 201, "{body}");
    let bot: Uuid = body["bot"]["id"].as_str().unwrap().parse().unwrap();
    set_stage(pool, bot, "PAPER").await;
    (app, bot)
}

#[sqlx::test]
async fn a_paper_position_held_at_the_roll_is_closed_on_the_old_contract_first(pool: PgPool) {
    paper_held_at_the_roll(pool, false).await;
}

/// The runner is down across the roll: restored from its fills, the position is priced at
/// ESZ26's own last stored bar, not at the fill it started from nor at ESH27's bars.
#[sqlx::test]
async fn a_paper_position_restored_after_the_roll_exits_at_the_old_contracts_stored_close(
    pool: PgPool,
) {
    paper_held_at_the_roll(pool, true).await;
}

async fn paper_held_at_the_roll(pool: PgPool, restart: bool) {
    let (app, bot) = paper_bot(&pool, "held-at-roll").await;
    let rt = app.state.runtime.clone();
    seed_long(&pool, bot, t("2026-12-09T21:50:00Z"), dec!(6000)).await;
    let (status, body) = app.start_bot(bot).await;
    assert_eq!(status, 200, "{body}");

    // Before the roll the runner reads ESZ26 (its last bar before the halt opens 21:58).
    tick(&rt, &pool, bot, t("2026-12-09T21:59:00Z")).await;
    let decisions = |pool: PgPool| async move {
        sqlx::query_as::<_, (String, String, Value)>(
            "SELECT reason_code, decision_type, variables_snapshot FROM decision_traces \
             WHERE bot_id = $1 ORDER BY created_at",
        )
        .bind(bot)
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    assert!(
        decisions(pool.clone()).await.is_empty(),
        "the strategy kept the position on ESZ26's bars (the case needs it held at the roll)"
    );

    if restart {
        rt.stop_runner(bot).await.unwrap();
        let options = RunnerOptions {
            timeframe: Timeframe::M1,
            live: false,
        };
        rt.start_runner(bot, options).await.unwrap();
    }

    // The first evaluation on ESH27 closes the ESZ26 position.
    tick(&rt, &pool, bot, t("2026-12-09T23:02:00Z")).await;
    let d = decisions(pool.clone()).await;
    let suppressed = latest_no_trade(&pool, bot).await;
    assert_eq!(d.len(), 1, "{d:?} {suppressed:?}");
    let (code, kind, variables) = &d[0];
    assert_eq!((code.as_str(), kind.as_str()), ("ROLL_EXIT", "EXIT"));
    assert_eq!(variables["bar_contract"], "ESH27", "{variables}");
    // The window's roll marker names the contract the runner's previous evaluation read (a
    // restarted runner has none); the position's contract is in the decision's reason.
    let marker = if restart { Value::Null } else { json!("ESZ26") };
    assert_eq!(variables["rolled_from"], marker, "{variables}");
    // Its fill is booked right after the decision's trace is written.
    let (side, qty, decided, reference) = until("the roll exit filled", async || {
        sqlx::query_as::<_, (String, i32, DateTime<Utc>, Decimal)>(
            "SELECT side, quantity, decision_bar_at, reference_price FROM orders \
             WHERE bot_id = $1 AND idempotency_key <> 'seeded-entry' AND status = 'FILLED'",
        )
        .bind(bot)
        .fetch_optional(&pool)
        .await
        .unwrap()
    })
    .await;
    assert_eq!((side.as_str(), qty), ("SELL", 1));
    // Decided on ESZ26's last bar the runner saw: the order is on the contract held.
    assert_eq!(decided, t("2026-12-09T21:58:00Z"));
    let stored_close: Decimal = sqlx::query_scalar(
        "SELECT close FROM market_bars WHERE contract = 'ESZ26' AND timeframe = '1m' \
         AND ts = $1 LIMIT 1",
    )
    .bind(decided)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(reference, stored_close);
    let (price, commission, filled_at): (Decimal, Decimal, DateTime<Utc>) = sqlx::query_as(
        "SELECT f.price, f.commission, f.filled_at FROM fills f JOIN orders o ON o.id = f.order_id \
         WHERE f.bot_id = $1 AND o.idempotency_key <> 'seeded-entry'",
    )
    .bind(bot)
    .fetch_one(&pool)
    .await
    .unwrap();
    // ESZ26's last close, one tick against the sell, at the evaluation's boundary.
    assert_eq!(price, reference - dec!(0.25));
    assert_eq!(commission, dec!(2.25));
    assert_eq!(filled_at, t("2026-12-09T23:02:00Z"));
    let position: i32 = sqlx::query_scalar("SELECT quantity FROM positions WHERE bot_id = $1")
        .bind(bot)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(position, 0);
    let (open, exit_price): (i64, Option<Decimal>) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE closed_at IS NULL), max(exit_price) FROM trades \
         WHERE bot_id = $1",
    )
    .bind(bot)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((open, exit_price), (0, Some(price)));

    // Flat: the next evaluation is the strategy's own on ESH27 again.
    tick(&rt, &pool, bot, t("2026-12-09T23:03:00Z")).await;
    let d = decisions(pool.clone()).await;
    assert!(d.iter().skip(1).all(|(c, ..)| c != "ROLL_EXIT"), "{d:?}");
    let not_a_roll: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM no_trade_traces WHERE bot_id = $1 AND reason_code LIKE 'ROLL_EXIT%'",
    )
    .bind(bot)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(not_a_roll, 0);
}

/// No order of `bot` is still on its way to, or working at, the broker.
async fn settled(pool: &PgPool, bot: Uuid) {
    until("the bot's orders settled", async || {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE bot_id = $1 \
             AND status IN ('SENDING', 'NEW', 'WORKING', 'PARTIALLY_FILLED')",
        )
        .bind(bot)
        .fetch_one(pool)
        .await
        .unwrap();
        (open == 0).then_some(())
    })
    .await;
}

/// The bot's latest no-trade row: reason code, human reason, blockers.
async fn latest_no_trade(pool: &PgPool, bot: Uuid) -> Option<(String, String, Value)> {
    sqlx::query_as(
        "SELECT reason_code, reason_human, blocked_by FROM no_trade_traces WHERE bot_id = $1 \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(bot)
    .fetch_optional(pool)
    .await
    .unwrap()
}

/// The bot's `POSITION_PAST_ROLL` system events: severity and metadata.
async fn past_roll_events(pool: &PgPool, bot: Uuid) -> Vec<(String, Value)> {
    sqlx::query_as(
        "SELECT severity, metadata FROM system_events WHERE bot_id = $1 \
         AND code = 'POSITION_PAST_ROLL'",
    )
    .bind(bot)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn position(pool: &PgPool, bot: Uuid) -> i32 {
    sqlx::query_scalar("SELECT COALESCE(max(quantity), 0) FROM positions WHERE bot_id = $1")
        .bind(bot)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_live_position_held_at_the_roll_is_sent_out_on_the_contract_held(pool: PgPool) {
    // The runtime's and the simulator's clock just after the roll; the bar ticks replayed are
    // ESZ26's afternoon, then ESH27's first minutes.
    let setup = LiveSetup {
        start_at: Some(t("2026-12-09T23:05:30Z")),
        ..LiveSetup::default()
    };
    let live = live_app(&pool, "tradovate", setup).await;
    let bot = live.live_bot(&pool, "live-roll", 1).await;
    let mut at = t("2026-12-09T20:00:00Z");
    loop {
        at += chrono::Duration::minutes(1);
        assert!(
            at < t("2026-12-09T22:00:00Z"),
            "no LIVE entry on ESZ26's afternoon"
        );
        tick(&live.rt, &pool, bot, at).await;
        settled(&pool, bot).await;
        if until("the entry's fill", async || {
            let orders: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM orders WHERE bot_id = $1 AND status = 'FILLED'",
            )
            .bind(bot)
            .fetch_one(&pool)
            .await
            .unwrap();
            let held = position(&pool, bot).await;
            (orders == 0 || held != 0).then_some(held != 0)
        })
        .await
        {
            break;
        }
    }
    let held = position(&pool, bot).await;

    // The trading switch is off at the first evaluation on ESH27: the exit is held by its
    // gate, and the position left on ESZ26 is named once, SEV-1 (LIVE).
    let (status, body) = live.app.set_trading_switch(json!({"enabled": false})).await;
    assert_eq!(status, 200, "{body}");
    tick(&live.rt, &pool, bot, t("2026-12-09T23:02:00Z")).await;
    let (reason, _, blocked) = latest_no_trade(&pool, bot).await.unwrap();
    assert_eq!(reason, "LIVE_TRADING_DISABLED", "{blocked}");
    assert!(blocked.to_string().contains("\"ROLL_EXIT\""), "{blocked}");
    let (severity, metadata) = until("the position past its roll named", async || {
        past_roll_events(&pool, bot).await.into_iter().next()
    })
    .await;
    assert_eq!(severity, "SEV-1");
    assert_eq!(
        (
            &metadata["contract"],
            &metadata["front"],
            &metadata["quantity"]
        ),
        (&json!("ESZ26"), &json!("ESH27"), &json!(held)),
        "{metadata}"
    );

    // Switched on: the next evaluation sends the exit for ESZ26.
    let (status, body) = live.app.set_trading_switch(json!({"enabled": true})).await;
    assert_eq!(status, 200, "{body}");
    tick(&live.rt, &pool, bot, t("2026-12-09T23:03:00Z")).await;
    settled(&pool, bot).await;
    let (code, side, status, decided): (String, String, String, DateTime<Utc>) = sqlx::query_as(
        "SELECT d.reason_code, o.side, o.status, o.decision_bar_at FROM orders o \
         JOIN decision_traces d ON d.id = o.decision_trace_id WHERE o.bot_id = $1 \
         ORDER BY o.created_at DESC LIMIT 1",
    )
    .bind(bot)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(code, "ROLL_EXIT");
    assert_eq!(side, if held > 0 { "SELL" } else { "BUY" });
    assert_eq!(status, "FILLED");
    assert_eq!(decided, at - chrono::Duration::minutes(1));
    until("the exit's fill booked", async || {
        (position(&pool, bot).await == 0).then_some(())
    })
    .await;

    // At the broker: every order was on ESZ6 (Tradovate's spelling), none on ESH7, and the
    // ESZ6 position is flat again.
    let book = sandbox_broker_book(&live.env, "tradovate").await;
    let orders = book["orders"].as_array().unwrap();
    assert!(orders.len() >= 2, "{book}");
    assert!(orders.iter().all(|o| o["symbol"] == "ESZ6"), "{book}");
    let net: i64 = book["fills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let q = f["quantity"].as_i64().unwrap();
            if f["side"] == "BUY" { q } else { -q }
        })
        .sum();
    assert_eq!(net, 0, "{book}");

    // Flat: the next evaluation is the strategy's own on ESH27; the position was named once.
    tick(&live.rt, &pool, bot, t("2026-12-09T23:04:00Z")).await;
    assert_eq!(past_roll_events(&pool, bot).await.len(), 1);
    let rolls: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM decision_traces WHERE bot_id = $1 AND reason_code = 'ROLL_EXIT'",
    )
    .bind(bot)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(rolls, 1);
}

/// Kill and flatten without a runner's window (`runtime::safety`): a position on ESU26 after
/// its roll into ESZ26 is priced at ESU26's newest stored bar, never at ESZ26's (50 points
/// away here), and its closing order names ESU26's bar.
#[sqlx::test]
async fn a_flatten_after_the_roll_prices_the_position_on_its_own_contract(pool: PgPool) {
    let (app, bot) = paper_bot(&pool, "flatten-after-roll").await;
    // ESU26 rolled into ESZ26 at 2026-09-09 22:00 UTC.
    seed_long(&pool, bot, t("2026-09-09T19:00:00Z"), dec!(5000)).await;
    let store = |contract: &'static str, ts: &'static str, close: Decimal| {
        sqlx::query(
            "INSERT INTO market_bars (provider_id, symbol, contract, timeframe, ts, open, high, \
             low, close, volume) VALUES ('databento', 'ES', $1, '1m', $2, $3, $3, $3, $3, 10)",
        )
        .bind(contract)
        .bind(t(ts))
        .bind(close)
        .execute(&pool)
    };
    store("ESU26", "2026-09-09T20:59:00Z", dec!(5010))
        .await
        .unwrap();
    store("ESZ26", "2026-12-04T20:00:00Z", dec!(5060))
        .await
        .unwrap();
    let (status, body) = app.start_bot(bot).await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = app
        .kill_bot(bot, json!({"reason": "flatten it", "flatten": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    let flatten = &body["removal"]["flatten"];
    assert_eq!(flatten["status"], "FILLED", "{body}");
    assert_eq!(flatten["price"], "5009.75", "{flatten}");
    let decided: DateTime<Utc> = sqlx::query_scalar(
        "SELECT decision_bar_at FROM orders WHERE bot_id = $1 AND idempotency_key <> 'seeded-entry'",
    )
    .bind(bot)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(decided, t("2026-09-09T20:59:00Z"));
    assert_eq!(body["removal"]["position_after"], 0, "{body}");
}
