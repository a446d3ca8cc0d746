//! The desk's controls (issue 20 part 3) against the sandbox with replayed bar ticks: cancel
//! working orders and close the position of a running PAPER bot through the one risk-removal
//! path (the bot keeps running and evaluating); a LIVE close needs a 2FA step-up and, with no
//! broker session configured, answers BROKER_PENDING (nothing sent) like the kill's flatten; bulk start/stop reports each bot; archive hides a
//! stopped, flat bot from the default list (history kept) and blocks its start until
//! un-archived. Bad input and the wrong role change nothing.

use chrono::Duration;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    domain::{instruments::Symbol, positions::Position, risk::Stage, side::Side},
    runtime::RuntimeHandle,
    store::fills::{self, Booked, FillBooking},
};
use uuid::Uuid;

use crate::support::{
    TestApp, error_code,
    fixtures::{lease, set_stage, start_sandbox, until, working_order},
    now,
    paper::{config, session_start, started_bot, tick},
    spawn_app_with_runtime_config,
};

async fn app_on(pool: &PgPool, brokers: bool) -> (TestApp, RuntimeHandle) {
    let env: tradeplane::integrations::registry::EnvMap = start_sandbox()
        .await
        .into_iter()
        .filter(|(k, _)| brokers || (!k.starts_with("TRADOVATE_") && !k.starts_with("IRONBEAM_")))
        .collect();
    let mut cfg = config(&env);
    cfg.autonomy.enabled = false;
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

async fn open_orders(pool: &PgPool, bot: Uuid) -> i64 {
    scalar(
        pool,
        "SELECT count(*) FROM orders WHERE bot_id = $1 \
         AND status IN ('NEW', 'WORKING', 'PARTIALLY_FILLED')",
        bot,
    )
    .await
}

async fn fill_count(pool: &PgPool, bot: Uuid) -> i64 {
    scalar(pool, "SELECT count(*) FROM fills WHERE bot_id = $1", bot).await
}

/// The severity and metadata of the bot's newest `BOT_RISK_REMOVED` event.
async fn removal_event(pool: &PgPool, bot: Uuid) -> (String, Value) {
    sqlx::query_as(
        "SELECT severity, metadata FROM system_events WHERE code = 'BOT_RISK_REMOVED' \
         AND bot_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(bot)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn audited(pool: &PgPool, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1 AND outcome = 'SUCCESS'")
        .bind(action)
        .fetch_one(pool)
        .await
        .unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn post(app: &TestApp, path: String, body: Option<Value>) -> (u16, Value) {
    app.call("POST", &path, body).await
}

/// A PAPER bot created through the API (not started).
async fn new_bot(app: &TestApp, name: &str) -> Uuid {
    let (status, body) = app
        .create_bot(json!({
            "name": name, "symbol": "ES", "timeframe": "1m", "stage": "LAB",
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4}},
        }))
        .await;
    assert_eq!(status, 201, "{body}");
    let id: Uuid = body["bot"]["id"].as_str().unwrap().parse().unwrap();
    set_stage(&app.pool, id, "PAPER").await;
    id
}

#[sqlx::test]
async fn cancel_and_close_remove_a_running_paper_bots_risk_and_it_keeps_running(pool: PgPool) {
    let (app, rt) = app_on(&pool, true).await;
    let bot = started_bot(&app, "desk-paper").await;
    let mut minute = 0;
    while held(&pool, bot).await == 0 {
        minute += 1;
        assert!(minute <= 240, "no position within 240 ticks");
        tick(&rt, &pool, bot, session_start() + Duration::minutes(minute)).await;
    }
    let position = held(&pool, bot).await;
    let order = working_order(&pool, bot, "tp1-desk-working", Side::Sell, 1).await;

    // A viewer may not act; nothing changes.
    let admin = app.admin_client().await;
    let viewer = app
        .user_with_role(&admin, "viewer@example.com", "viewer")
        .await;
    let viewer = app.as_user(&viewer);
    let (status, body) = post(&viewer, format!("/api/bots/{bot}/cancel-orders"), None).await;
    assert_eq!((status, error_code(&body)), (403, "FORBIDDEN"), "{body}");
    let (status, body) = post(&viewer, format!("/api/bots/{bot}/close-position"), None).await;
    assert_eq!((status, error_code(&body)), (403, "FORBIDDEN"), "{body}");
    assert_eq!(open_orders(&pool, bot).await, 1);
    let unknown = Uuid::now_v7();
    let (status, body) = post(&app, format!("/api/bots/{unknown}/cancel-orders"), None).await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "BOT_NOT_FOUND"),
        "{body}"
    );
    let (status, body) = post(&app, format!("/api/bots/{unknown}/close-position"), None).await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "BOT_NOT_FOUND"),
        "{body}"
    );

    // Cancel: the working order is cancelled, the position stays, the bot stays RUNNING.
    let (status, body) = post(&app, format!("/api/bots/{bot}/cancel-orders"), None).await;
    assert_eq!(status, 200, "{body}");
    let removal = &body["removal"];
    assert_eq!(removal["source"], "OPERATOR_CANCEL", "{body}");
    assert!(
        ids(&removal["cancelled"]).contains(&order.id.to_string()),
        "{removal}"
    );
    assert_eq!(removal["position_after"], position, "{removal}");
    assert_eq!(removal["flatten"], Value::Null, "{removal}");
    assert_eq!(removal["not_done"], Value::Null, "{removal}");
    assert_eq!(body["bot"]["status"], "RUNNING", "{body}");
    assert_eq!(open_orders(&pool, bot).await, 0);
    assert_eq!(held(&pool, bot).await, position);
    let (severity, meta) = removal_event(&pool, bot).await;
    assert_eq!(
        (severity.as_str(), &meta["source"]),
        ("INFO", &json!("OPERATOR_CANCEL"))
    );
    assert_eq!(audited(&pool, "bot.cancel_orders").await, 1);
    // The runner was started again: the next boundary is evaluated.
    minute += 1;
    tick(&rt, &pool, bot, session_start() + Duration::minutes(minute)).await;

    // Close: one market order at the newest stored bar's close moved one tick against it.
    let position = held(&pool, bot).await;
    assert_ne!(
        position, 0,
        "the strategy closed it on its own; pick another seed"
    );
    let fills_before = fill_count(&pool, bot).await;
    let close: Decimal = sqlx::query_scalar(
        "SELECT close FROM market_bars WHERE symbol = 'ES' AND timeframe = '1m' AND ts <= $1 \
         ORDER BY ts DESC LIMIT 1",
    )
    .bind(now())
    .fetch_one(&pool)
    .await
    .unwrap();
    let (status, body) = post(&app, format!("/api/bots/{bot}/close-position"), None).await;
    assert_eq!(status, 200, "{body}");
    let removal = &body["removal"];
    assert_eq!(removal["source"], "OPERATOR_CLOSE", "{body}");
    assert_eq!(removal["flatten"]["status"], "FILLED", "{body}");
    assert_eq!(removal["position_after"], 0, "{body}");
    let slip = dec!(0.25) * Decimal::from(if position > 0 { -1 } else { 1 });
    assert_eq!(
        removal["flatten"]["price"],
        json!((close + slip).to_string())
    );
    assert_eq!(
        removal["flatten"]["side"],
        if position > 0 { "SELL" } else { "BUY" }
    );
    assert_eq!(body["bot"]["status"], "RUNNING", "{body}");
    assert_eq!(held(&pool, bot).await, 0);
    assert_eq!(fill_count(&pool, bot).await, fills_before + 1);
    let (severity, meta) = removal_event(&pool, bot).await;
    assert_eq!(
        (severity.as_str(), &meta["source"]),
        ("INFO", &json!("OPERATOR_CLOSE"))
    );
    assert_eq!(audited(&pool, "bot.close_position").await, 1);
    let runner = rt.runner(bot).expect("the runner is back");
    assert!(runner.status.is_live(), "{runner:?}");

    // A retried close never doubles the order.
    let (status, body) = post(&app, format!("/api/bots/{bot}/close-position"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["removal"]["flatten"]["status"], "FLAT", "{body}");
    assert_eq!(fill_count(&pool, bot).await, fills_before + 1);
}

/// Books a one-contract LONG for `bot` as a runner would (a lease taken and let go again).
async fn long_one(pool: &PgPool, bot: Uuid) {
    let order = working_order(pool, bot, "tp1-desk-live-entry", Side::Buy, 1).await;
    let before = Position::flat(Symbol::Es);
    let mut after = before.clone();
    let realized = after.apply_fill(Side::Buy, 1, dec!(5000), dec!(2.25));
    let fence = lease(pool, bot).await;
    let booked = fills::book(
        pool,
        FillBooking {
            fence: &fence,
            order: &order,
            side: Side::Buy,
            quantity: 1,
            price: dec!(5000),
            commission: dec!(2.25),
            filled_at: now(),
            simulated: true,
            before: &before,
            after: &after,
            realized,
        },
    )
    .await
    .unwrap();
    assert!(matches!(booked, Booked::Filled { .. }));
    sqlx::query("DELETE FROM bot_leases WHERE bot_id = $1")
        .bind(bot)
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test]
async fn a_live_close_needs_a_step_up_and_is_broker_pending_like_the_kill_flatten(pool: PgPool) {
    let (app, _rt) = app_on(&pool, false).await;
    let bot = new_bot(&app, "desk-live").await;
    sqlx::query("UPDATE bots SET stage = $2, is_trading_enabled = true WHERE id = $1")
        .bind(bot)
        .bind(Stage::Live)
        .execute(&pool)
        .await
        .unwrap();
    long_one(&pool, bot).await;
    assert_eq!(held(&pool, bot).await, 1);

    // An operator whose 2FA verification is stale: the close is refused, nothing changes;
    // cancelling (which only removes risk, sending nothing new) needs no step-up.
    let admin = app.admin_client().await;
    let operator = app
        .user_with_role(&admin, "op@example.com", "operator")
        .await;
    sqlx::query(
        "UPDATE sessions SET step_up_at = step_up_at - interval '11 minutes' \
         WHERE user_id = (SELECT id FROM users WHERE email = 'op@example.com')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let operator = app.as_user(&operator);
    let fills_before = fill_count(&pool, bot).await;
    let (status, body) = post(&operator, format!("/api/bots/{bot}/close-position"), None).await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "TWO_FACTOR_REQUIRED"),
        "{body}"
    );
    assert_eq!(held(&pool, bot).await, 1);
    assert_eq!(fill_count(&pool, bot).await, fills_before);
    let (status, body) = post(&operator, format!("/api/bots/{bot}/cancel-orders"), None).await;
    assert_eq!(status, 200, "{body}");

    // Freshly verified: the close is pending at the broker, exactly as the kill's flatten.
    let (status, body) = post(&app, format!("/api/bots/{bot}/close-position"), None).await;
    assert_eq!(status, 200, "{body}");
    let flatten = &body["removal"]["flatten"];
    assert_eq!(flatten["status"], "BROKER_PENDING", "{body}");
    assert_eq!(
        (flatten["side"].clone(), flatten["quantity"].clone()),
        (json!("SELL"), json!(1))
    );
    assert_eq!(body["removal"]["position_after"], 1, "{body}");
    assert_eq!(held(&pool, bot).await, 1);
    assert_eq!(fill_count(&pool, bot).await, fills_before);
    let (severity, meta) = removal_event(&pool, bot).await;
    assert_eq!(
        (severity.as_str(), &meta["source"]),
        ("SEV-2", &json!("OPERATOR_CLOSE"))
    );
    let (status, body) = app
        .kill_bot(bot, json!({"reason": "compare", "flatten": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["removal"]["flatten"]["status"], "BROKER_PENDING",
        "{body}"
    );
}

async fn list_names(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = app.list_bots(query).await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn bulk(app: &TestApp, body: Value) -> (u16, Value) {
    app.call("POST", "/api/bots/bulk", Some(body)).await
}

#[sqlx::test]
async fn bulk_start_stop_reports_each_bot_and_archive_hides_a_stopped_flat_bot(pool: PgPool) {
    let (app, _rt) = app_on(&pool, false).await;
    for provider in ["databento", "polygon"] {
        let (status, body) = app.verify_integration(provider).await;
        assert_eq!(status, 200, "{body}");
    }
    let a = new_bot(&app, "fleet-a").await;
    let b = new_bot(&app, "fleet-b").await;
    let unknown = Uuid::now_v7();

    // Bad input: structured errors, nothing started.
    for body in [
        json!({"action": "start", "bot_ids": []}),
        json!({"action": "pause", "bot_ids": [a]}),
        json!({"action": "start", "bot_ids": (0..201).map(|_| Uuid::now_v7()).collect::<Vec<_>>()}),
        json!({"action": "start", "bot_ids": ["not-a-uuid"]}),
    ] {
        let (status, reply) = bulk(&app, body.clone()).await;
        assert_eq!(
            (status, error_code(&reply)),
            (422, "VALIDATION_FAILED"),
            "{body} {reply}"
        );
    }
    let admin = app.admin_client().await;
    let viewer = app
        .user_with_role(&admin, "viewer@example.com", "viewer")
        .await;
    let (status, body) = bulk(
        &app.as_user(&viewer),
        json!({"action": "start", "bot_ids": [a]}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let running: i64 = sqlx::query_scalar("SELECT count(*) FROM bots WHERE status = 'RUNNING'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(running, 0);

    // Start a selection: each bot's own outcome, a repeated id acted on once.
    let (status, body) = bulk(
        &app,
        json!({"action": "start", "bot_ids": [a, b, unknown, a]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["succeeded"].clone(), body["failed"].clone()),
        (json!(2), json!(1)),
        "{body}"
    );
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["bot"]["status"], "RUNNING", "{body}");
    assert_eq!(items[1]["ok"], true);
    assert_eq!(items[2]["bot_id"], json!(unknown));
    assert_eq!(items[2]["error"]["code"], "BOT_NOT_FOUND", "{body}");
    assert!(items[2]["bot"].is_null());

    // A running bot cannot be archived.
    let (status, body) = post(&app, format!("/api/bots/{a}/archive"), None).await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "INVALID_STATE_TRANSITION"),
        "{body}"
    );

    // Stop all: both stopped.
    let (status, body) = bulk(&app, json!({"action": "stop", "bot_ids": [a, b]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["succeeded"], 2, "{body}");
    assert!(
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["bot"]["status"] == "STOPPED")
    );
    assert_eq!(audited(&pool, "bot.bulk_stop").await, 1);

    // A stopped bot with an open order is not archived (that would hide exposure).
    working_order(&pool, b, "tp1-fleet-b-working", Side::Buy, 1).await;
    let (status, body) = post(&app, format!("/api/bots/{b}/archive"), None).await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "INVALID_STATE_TRANSITION"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 open order"),
        "{body}"
    );

    // Archive: gone from the default list, shown on request, history kept.
    let (status, body) = post(&app, format!("/api/bots/{a}/archive"), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["bot"]["archived_at"].is_string(), "{body}");
    assert_eq!(body["bot"]["archived_by"], "admin@example.com");
    let again = post(&app, format!("/api/bots/{a}/archive"), None).await;
    assert_eq!(again.0, 200);
    assert_eq!(again.1["bot"]["archived_at"], body["bot"]["archived_at"]);
    assert_eq!(list_names(&app, "").await, ["fleet-b"]);
    assert_eq!(list_names(&app, "archived=exclude").await, ["fleet-b"]);
    assert_eq!(list_names(&app, "archived=only").await, ["fleet-a"]);
    let mut all = list_names(&app, "archived=include").await;
    all.sort();
    assert_eq!(all, ["fleet-a", "fleet-b"]);
    let (status, body) = app.list_bots("archived=maybe").await;
    assert_eq!(
        (status, error_code(&body)),
        (422, "VALIDATION_FAILED"),
        "{body}"
    );
    let (status, body) = app.get_bot(a).await;
    assert_eq!(status, 200, "{body}");
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM system_events WHERE bot_id = $1 AND code = 'BOT_ARCHIVED'",
    )
    .bind(a)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(events, 1);

    // An archived bot does not start, alone or in a selection.
    let (status, body) = app.start_bot(a).await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "INVALID_STATE_TRANSITION"),
        "{body}"
    );
    assert!(
        body["error"]["suggested_fix"]
            .as_str()
            .unwrap()
            .contains("unarchive")
    );
    let (status, body) = bulk(&app, json!({"action": "start", "bot_ids": [a]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["items"][0]["error"]["code"], "INVALID_STATE_TRANSITION",
        "{body}"
    );
    assert_eq!(body["items"][0]["bot"]["status"], "STOPPED", "{body}");

    // Un-archived: listed and startable again.
    let (status, body) = post(&app, format!("/api/bots/{a}/unarchive"), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["bot"]["archived_at"].is_null(), "{body}");
    let mut listed = list_names(&app, "").await;
    listed.sort();
    assert_eq!(listed, ["fleet-a", "fleet-b"]);
    let (status, body) = app.start_bot(a).await;
    assert_eq!(status, 200, "{body}");
    until("audit rows", async || {
        (audited(&pool, "bot.archive").await == 2 && audited(&pool, "bot.unarchive").await == 1)
            .then_some(())
    })
    .await;
}
