//! Kill that removes risk (issue 17 parts 4, 5, 7) against the sandbox, with replayed bar
//! ticks: an operator kill cancels the bot's working orders and leaves its position as a SEV-1
//! `KILLED_WITH_EXPOSURE` blocker until kill-and-flatten closes it (or an admin acknowledges
//! it); a daily-loss kill trigger from the runner cancels the bot's working order; turning the
//! trading switch off gates a running LIVE bot at its next evaluation and cancels its LIVE
//! orders; a SHADOW bot books hypothetical fills, so a held signal enters once and exits once.

use chrono::Duration;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    domain::{
        execution::{OrderStatus, OrderType},
        instruments::Symbol,
        risk::{AutonomyTier, Stage},
        side::Side,
        timeframe::Timeframe,
    },
    runtime::{RunnerOptions, RuntimeHandle},
    store::orders::{self, NewOrder, Order},
};
use uuid::Uuid;

use crate::support::{
    TestApp, error_code,
    fixtures::{start_sandbox, until, working_order},
    now,
    paper::{config, session_start, started_bot, tick},
    spawn_app_with_runtime_config,
};

/// The app on the sandbox with replayed ticks (scorer off when the test sets tiers itself).
async fn app(pool: &PgPool, scorer: bool) -> (TestApp, RuntimeHandle) {
    app_on(pool, scorer, start_sandbox().await).await
}

/// The same without broker credentials: no broker session, so a LIVE order never leaves the
/// ledger (the broker simulator's own paths are tests/it/broker_live.rs).
async fn app_without_brokers(pool: &PgPool) -> (TestApp, RuntimeHandle) {
    let env = start_sandbox()
        .await
        .into_iter()
        .filter(|(k, _)| !k.starts_with("TRADOVATE_") && !k.starts_with("IRONBEAM_"))
        .collect();
    app_on(pool, false, env).await
}

async fn app_on(
    pool: &PgPool,
    scorer: bool,
    env: tradeplane::integrations::registry::EnvMap,
) -> (TestApp, RuntimeHandle) {
    let mut cfg = config(&env);
    cfg.autonomy.enabled = scorer;
    let app = spawn_app_with_runtime_config(pool.clone(), cfg)
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    (app, rt)
}

async fn scalar<T>(pool: &PgPool, sql: &str, bot: Uuid) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sql)
        .bind(bot)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn held(pool: &PgPool, bot: Uuid) -> i32 {
    scalar(
        pool,
        "SELECT COALESCE((SELECT quantity FROM positions WHERE bot_id = $1), 0)",
        bot,
    )
    .await
}

async fn working(pool: &PgPool, bot: Uuid) -> i64 {
    scalar(
        pool,
        "SELECT count(*) FROM orders WHERE bot_id = $1 \
         AND status IN ('NEW', 'WORKING', 'PARTIALLY_FILLED')",
        bot,
    )
    .await
}

async fn fills(pool: &PgPool, bot: Uuid) -> i64 {
    scalar(pool, "SELECT count(*) FROM fills WHERE bot_id = $1", bot).await
}

async fn status_of(pool: &PgPool, order: Uuid) -> String {
    scalar(pool, "SELECT status FROM orders WHERE id = $1", order).await
}

/// The metadata of the bot's newest `BOT_RISK_REMOVED` event.
async fn removal_event(pool: &PgPool, bot: Uuid) -> Option<Value> {
    sqlx::query_scalar(
        "SELECT metadata FROM system_events WHERE code = 'BOT_RISK_REMOVED' AND bot_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(bot)
    .fetch_optional(pool)
    .await
    .unwrap()
}

/// The system status and the message of its blocker `code` at `severity`, once it shows.
async fn blocker(app: &TestApp, code: &str, severity: &str) -> (Value, String) {
    until(&format!("{code} at {severity}"), async || {
        let (status, body) = app.system_status().await;
        assert_eq!(status, 200, "{body}");
        let message = body["blockers"]
            .as_array()?
            .iter()
            .find(|b| b["code"] == code && b["severity"] == severity)?["message"]
            .as_str()?
            .to_owned();
        Some((body, message))
    })
    .await
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Replays minute ticks from the session start until `done` (at most `max` ticks); returns
/// the minute it stopped at.
async fn tick_until(
    rt: &RuntimeHandle,
    pool: &PgPool,
    bot: Uuid,
    max: i64,
    mut done: impl AsyncFnMut() -> bool,
) -> i64 {
    for minute in 1..=max {
        tick(rt, pool, bot, session_start() + Duration::minutes(minute)).await;
        if done().await {
            return minute;
        }
    }
    panic!("not done within {max} ticks");
}

/// A bot created through the API (in LAB), moved to `stage` in its row.
async fn bot(app: &TestApp, name: &str, stage: Stage, daily_loss_limit: f64) -> Uuid {
    for provider in ["databento", "polygon"] {
        let (status, body) = app.verify_integration(provider).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = app
        .create_bot(json!({
            "name": name, "symbol": "ES", "timeframe": "1m", "stage": "LAB",
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4}},
            "risk": {"max_order_size": 1, "max_position": 1,
                     "daily_loss_limit": daily_loss_limit, "max_drawdown": 100000.0}
        }))
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    let id: Uuid = body["bot"]["id"].as_str().unwrap().parse().unwrap();
    sqlx::query("UPDATE bots SET stage = $2, is_trading_enabled = $3 WHERE id = $1")
        .bind(id)
        .bind(stage)
        .bind(stage == Stage::Live)
        .execute(&app.pool)
        .await
        .unwrap();
    id
}

/// A working order of `stage` for `bot`, written as a runner writes it.
async fn order_of(pool: &PgPool, bot: Uuid, key: &str, stage: Stage) -> Order {
    let mut conn = pool.acquire().await.unwrap();
    orders::insert_once(
        &mut conn,
        NewOrder {
            bot_id: bot,
            run_id: None,
            decision_trace_id: None,
            idempotency_key: key.into(),
            symbol: Symbol::Es,
            side: Side::Buy,
            quantity: 1,
            order_type: OrderType::Market,
            limit_price: None,
            stop_price: None,
            stage,
            status: OrderStatus::Working,
            decision_bar_at: None,
            reference_price: None,
        },
        now(),
    )
    .await
    .unwrap()
    .0
}

#[sqlx::test]
async fn an_operator_kill_cancels_orders_and_a_kill_with_flatten_leaves_the_bot_flat(pool: PgPool) {
    let (app, rt) = app(&pool, true).await;
    let bot = started_bot(&app, "kill-exposure").await;
    tick_until(&rt, &pool, bot, 240, async || held(&pool, bot).await != 0).await;
    let position = held(&pool, bot).await;
    let order = working_order(&pool, bot, "tp1-kill-exposure-working", Side::Sell, 1).await;

    // Kill: every working order cancelled, the position kept (no flatten asked).
    let (status, body) = app.kill_bot(bot, json!({"reason": "drill"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bot"]["status"], "KILLED");
    let removal = &body["removal"];
    assert!(
        ids(&removal["cancelled"]).contains(&order.id.to_string()),
        "{removal}"
    );
    assert_eq!(removal["position_after"], position, "{removal}");
    assert_eq!(removal["not_done"], Value::Null, "{removal}");
    assert_eq!(working(&pool, bot).await, 0);
    assert_eq!(held(&pool, bot).await, position);
    let event = removal_event(&pool, bot).await.expect("a removal event");
    assert_eq!(event["source"], "OPERATOR");
    assert!(
        ids(&event["removal"]["cancelled"]).contains(&order.id.to_string()),
        "{event}"
    );

    // Killed with a position: SEV-1 naming the bot, the system BLOCKED.
    let (body, message) = blocker(&app, "KILLED_WITH_EXPOSURE", "SEV-1").await;
    assert_eq!(body["system_status"], "BLOCKED", "{body}");
    assert!(message.contains("kill-exposure"), "{message}");
    assert!(
        message.contains(&format!("{} contract(s)", position.abs())),
        "{message}"
    );

    // Acknowledged by an admin: still named, as SEV-2.
    let (status, body) = app.acknowledge_exposure(bot).await;
    assert_eq!(status, 200, "{body}");
    let (_, message) = blocker(&app, "KILLED_WITH_EXPOSURE", "SEV-2").await;
    assert!(message.contains("acknowledged by"), "{message}");

    // Bad input: structured errors, nothing changed.
    let (orders_before, fills_before) = (
        scalar::<i64>(&pool, "SELECT count(*) FROM orders WHERE bot_id = $1", bot).await,
        fills(&pool, bot).await,
    );
    let (status, body) = app.kill_bot(bot, json!({"flatten": "yes"})).await;
    assert_eq!(
        (status, error_code(&body)),
        (422, "VALIDATION_FAILED"),
        "{body}"
    );
    let unknown = Uuid::now_v7();
    let (status, body) = app.kill_bot(unknown, json!({"flatten": true})).await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "BOT_NOT_FOUND"),
        "{body}"
    );
    let (status, body) = app.acknowledge_exposure(unknown).await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "BOT_NOT_FOUND"),
        "{body}"
    );
    assert_eq!(
        scalar::<i64>(&pool, "SELECT count(*) FROM orders WHERE bot_id = $1", bot).await,
        orders_before
    );
    assert_eq!(fills(&pool, bot).await, fills_before);
    assert_eq!(held(&pool, bot).await, position);

    // Kill and flatten: one market order, filled at the newest stored bar's close moved one
    // tick against it, booked through the ledger.
    let close: Decimal = sqlx::query_scalar(
        "SELECT close FROM market_bars WHERE symbol = 'ES' AND timeframe = '1m' AND ts <= $1 \
         ORDER BY ts DESC LIMIT 1",
    )
    .bind(now())
    .fetch_one(&pool)
    .await
    .unwrap();
    let (status, body) = app
        .kill_bot(bot, json!({"reason": "flatten it", "flatten": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    let flatten = &body["removal"]["flatten"];
    assert_eq!(flatten["status"], "FILLED", "{body}");
    assert_eq!(body["removal"]["position_after"], 0, "{body}");
    let side = if position > 0 { "SELL" } else { "BUY" };
    assert_eq!(flatten["side"], side);
    let slip = Decimal::new(25, 2) * Decimal::from(if position > 0 { -1 } else { 1 });
    assert_eq!(
        flatten["price"],
        json!((close + slip).to_string()),
        "{flatten}"
    );
    assert_eq!(held(&pool, bot).await, 0);
    assert_eq!(fills(&pool, bot).await, fills_before + 1);
    let flatten_order: Uuid = flatten["order_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(status_of(&pool, flatten_order).await, "FILLED");
    let open_trades: i64 = scalar(
        &pool,
        "SELECT count(*) FROM trades WHERE bot_id = $1 AND closed_at IS NULL",
        bot,
    )
    .await;
    assert_eq!(open_trades, 0);

    // A retried kill and flatten never doubles it.
    let (status, body) = app.kill_bot(bot, json!({"flatten": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["removal"]["flatten"]["status"], "FLAT", "{body}");
    assert_eq!(fills(&pool, bot).await, fills_before + 1);

    // Flat: the exposure blocker is gone; the kill itself stays visible (SEV-2).
    let (body, message) = blocker(&app, "BOT_KILLED", "SEV-2").await;
    assert!(message.contains("flat"), "{message}");
    assert!(
        !body["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["code"] == "KILLED_WITH_EXPOSURE"),
        "{body}"
    );
}

#[sqlx::test]
async fn a_daily_loss_kill_trigger_from_the_runner_cancels_its_working_order(pool: PgPool) {
    let (app, rt) = app(&pool, true).await;
    // Any loss (a commission is one) trips the trigger.
    let bot = bot(&app, "daily-loss", Stage::Paper, 1.0).await;
    let (status, body) = app.start_bot(bot).await;
    assert_eq!(status, 200, "{body}");
    // Left WORKING behind the runner's back (as in the incident: no runner manages it after).
    let order = working_order(&pool, bot, "tp1-daily-loss-working", Side::Buy, 1).await;
    let killed = async || rt.runner(bot).and_then(|r| r.kill_reason).is_some();
    tick_until(&rt, &pool, bot, 240, killed).await;
    let reason = rt.runner(bot).and_then(|r| r.kill_reason).unwrap();
    assert!(reason.contains("Daily loss"), "{reason}");

    until("the working order cancelled", async || {
        (status_of(&pool, order.id).await == "CANCELLED").then_some(())
    })
    .await;
    assert_eq!(working(&pool, bot).await, 0);
    let event = until("the removal event", async || {
        removal_event(&pool, bot).await
    })
    .await;
    assert_eq!(event["source"], "RUNTIME_KILL", "{event}");
    assert!(
        ids(&event["removal"]["cancelled"]).contains(&order.id.to_string()),
        "{event}"
    );
    let kill_triggers: i64 = scalar(
        &pool,
        "SELECT count(*) FROM system_events WHERE bot_id = $1 AND code = 'RISK_KILL_TRIGGER'",
        bot,
    )
    .await;
    assert_eq!(kill_triggers, 1);
}

/// The `blocked_by` of the bot's newest no-trade trace.
async fn latest_blocked_by(pool: &PgPool, bot: Uuid) -> Vec<(String, String)> {
    let v: Value = scalar(
        pool,
        "SELECT blocked_by FROM no_trade_traces WHERE bot_id = $1 \
         ORDER BY last_seen_at DESC, created_at DESC LIMIT 1",
        bot,
    )
    .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["gate"].as_str().unwrap().to_owned(),
                b["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A LIVE bot's runner with the global trading switch on (safe start would refuse the
/// sandbox broker; the gates are the point).
async fn running_live_bot(pool: &PgPool, name: &str) -> (TestApp, RuntimeHandle, Uuid) {
    let (app, rt) = app_without_brokers(pool).await;
    let (status, body) = app.set_trading_switch(json!({"enabled": true})).await;
    assert_eq!(status, 200, "{body}");
    let bot = bot(&app, name, Stage::Live, 100000.0).await;
    rt.tiers().set(bot, AutonomyTier::FullAutonomy);
    rt.start_runner(
        bot,
        RunnerOptions {
            timeframe: Timeframe::M1,
            live: true,
        },
    )
    .await
    .unwrap();
    (app, rt, bot)
}

/// Evaluates the bot bar after bar from `minute` on (half a second apart: a change made
/// through another node arrives with an ownership round) until `gate` blocks it.
async fn until_gated(
    rt: &RuntimeHandle,
    pool: &PgPool,
    bot: Uuid,
    gate: &(String, String),
    minute: &mut i64,
) {
    until(&format!("the {gate:?} gate"), async || {
        tick(rt, pool, bot, session_start() + Duration::minutes(*minute)).await;
        *minute += 1;
        if latest_blocked_by(pool, bot).await.contains(gate) {
            return Some(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        None
    })
    .await;
}

#[sqlx::test]
async fn trading_switched_off_gates_a_running_live_bot_at_its_next_evaluation(pool: PgPool) {
    let (app, rt, bot) = running_live_bot(&pool, "live-switch").await;
    let at = |m| session_start() + Duration::minutes(m);
    tick(&rt, &pool, bot, at(1)).await;
    let gate = (
        "trading_switch".to_owned(),
        "LIVE_TRADING_DISABLED".to_owned(),
    );
    assert!(!latest_blocked_by(&pool, bot).await.contains(&gate));
    let live = order_of(&pool, bot, "tp1-live-switch-working", Stage::Live).await;
    let paper = working_order(&pool, bot, "tp1-live-switch-paper", Side::Buy, 1).await;

    // Off: LIVE orders are cancelled at their broker first; this one never reached a broker
    // (no broker id, no session), so its cancel cannot be sent: it stays open in the ledger and
    // is named pending (exposure left), never marked cancelled on our side only. Others kept.
    let (status, body) = app.set_trading_switch(json!({"enabled": false})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(status_of(&pool, live.id).await, "WORKING");
    assert_eq!(status_of(&pool, paper.id).await, "WORKING");
    let event = removal_event(&pool, bot).await.expect("a removal event");
    assert_eq!(event["source"], "TRADING_OFF", "{event}");
    assert_eq!(
        event["removal"]["broker_cancels_pending"],
        json!([live.id]),
        "{event}"
    );

    // The running bot's next evaluation is refused by the gate, named in its trace; it keeps
    // running (the switch fenced nothing off).
    tick(&rt, &pool, bot, at(2)).await;
    let blocked = latest_blocked_by(&pool, bot).await;
    assert!(blocked.contains(&gate), "{blocked:?}");
    tick(&rt, &pool, bot, at(3)).await;
    assert!(rt.runner(bot).unwrap().kill_reason.is_none());

    // Back on: the gate lifts at the next evaluation.
    let (status, body) = app.set_trading_switch(json!({"enabled": true})).await;
    assert_eq!(status, 200, "{body}");
    tick(&rt, &pool, bot, at(4)).await;
    assert!(!latest_blocked_by(&pool, bot).await.contains(&gate));

    // Turned off through another node (its write, not this API): this node's next ownership
    // round mirrors it, and the following evaluation is gated.
    sqlx::query("UPDATE settings SET trading_enabled = false, updated_at = now(), updated_by = 'other-node'")
        .execute(&pool)
        .await
        .unwrap();
    let mut minute = 5;
    until_gated(&rt, &pool, bot, &gate, &mut minute).await;

    // The kill switch pulled through another node (its write, not this API): this node's
    // runners are gated by the next ownership round too, and its status names the switch.
    assert!(!rt.kill_switch_active());
    sqlx::query(
        "UPDATE settings SET kill_switch_active = true, kill_switch_reason = 'other node', \
         kill_switch_changed_at = now(), kill_switch_changed_by = 'other-node'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let kill = ("kill_switch".to_owned(), "KILL_SWITCH_ACTIVE".to_owned());
    until_gated(&rt, &pool, bot, &kill, &mut minute).await;
    assert!(rt.kill_switch_active());
}

/// A LIVE bot's own trading switch turned off through another node (that node's write: its
/// API tells only its own runners) reaches this node's runner at its next ownership round: the
/// next evaluation is refused by the `stage` gate with `LIVE_TRADING_DISABLED`.
#[sqlx::test]
async fn a_bots_switch_turned_off_through_another_node_gates_its_runner_here(pool: PgPool) {
    let (_app, rt, bot) = running_live_bot(&pool, "live-own-switch").await;
    let at = |m| session_start() + Duration::minutes(m);
    let gate = ("stage".to_owned(), "LIVE_TRADING_DISABLED".to_owned());
    tick(&rt, &pool, bot, at(1)).await;
    assert!(!latest_blocked_by(&pool, bot).await.contains(&gate));
    sqlx::query("UPDATE bots SET is_trading_enabled = false WHERE id = $1")
        .bind(bot)
        .execute(&pool)
        .await
        .unwrap();
    until_gated(&rt, &pool, bot, &gate, &mut 2).await;
}

/// The bot's orders with their decision: type, side, status, stage; oldest first.
async fn decisions(pool: &PgPool, bot: Uuid) -> Vec<(String, String, String, String)> {
    sqlx::query_as(
        "SELECT d.decision_type, o.side, o.status, o.stage FROM orders o \
         JOIN decision_traces d ON d.id = o.decision_trace_id \
         WHERE o.bot_id = $1 ORDER BY o.created_at, o.id",
    )
    .bind(bot)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn a_shadow_bot_with_a_held_signal_enters_once_and_exits_once(pool: PgPool) {
    let (app, rt) = app(&pool, false).await;
    let bot = bot(&app, "shadow-book", Stage::Shadow, 100000.0).await;
    rt.tiers().set(bot, AutonomyTier::FullAutonomy);
    rt.start_runner(
        bot,
        RunnerOptions {
            timeframe: Timeframe::M1,
            live: false,
        },
    )
    .await
    .unwrap();
    tick_until(&rt, &pool, bot, 400, async || {
        decisions(&pool, bot).await.iter().any(|d| d.0 == "EXIT")
    })
    .await;
    let list = decisions(&pool, bot).await;
    let first_exit = list.iter().position(|d| d.0 == "EXIT").unwrap();
    // Exactly one ENTRY, held (filled hypothetically) until its EXIT.
    assert_eq!(first_exit, 1, "{list:?}");
    let (entry, exit) = (&list[0], &list[1]);
    assert_eq!(entry.0, "ENTRY");
    assert_ne!(entry.1, exit.1, "{list:?}");
    assert_eq!(entry.2, "FILLED", "{list:?}");
    assert!(list.iter().all(|d| d.3 == "SHADOW"), "{list:?}");
    // The SHADOW book: simulated fills, a SHADOW trade and position (never PAPER).
    let simulated: i64 = scalar(
        &pool,
        "SELECT count(*) FROM fills WHERE bot_id = $1 AND simulated",
        bot,
    )
    .await;
    assert!(simulated >= 1);
    let stages: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT stage FROM trades WHERE bot_id = $1")
            .bind(bot)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(stages, ["SHADOW"]);
    let (status, body) = app.bot_position(bot).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["position"]["stage"], "SHADOW", "{body}");
}
