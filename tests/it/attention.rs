//! The needs-attention queue (`GET /api/attention`, issue 20 part 2) on a real runtime and
//! Postgres: a KILLED bot holding a position is a SEV-1 item at the top, naming the bot with its
//! fix and link; a failed job appears (and leaves after 24 h); a failing provider and then its
//! open breaker appear; with everything verified and nothing wrong the queue is empty and the
//! system status OK.

use chrono::TimeZone;
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::store::jobs::{self, JobStatus, NewJob, TransitionDetails};
use uuid::Uuid;

use crate::support::{
    TestApp,
    fixtures::{bot_row, sandbox_fault, start_sandbox, ten_minutes_of_es, until},
    spawn_admin_app,
};

const EVERYTHING: [&str; 5] = ["databento", "polygon", "ironbeam", "tradovate", "openai"];

async fn queue(app: &TestApp) -> Value {
    let (code, body) = app.call("GET", "/api/attention", None).await;
    assert_eq!(code, 200, "{body}");
    body
}

fn items(body: &Value) -> Vec<Value> {
    body["items"].as_array().expect("items").clone()
}

/// Waits until the queue holds an item `code` that `pick` accepts; returns the body and it.
async fn until_item(app: &TestApp, code: &str, pick: impl Fn(&Value) -> bool) -> (Value, Value) {
    until(&format!("{code} in the queue"), async || {
        let body = queue(app).await;
        let item = items(&body)
            .into_iter()
            .find(|i| i["code"] == code && pick(i))?;
        Some((body, item))
    })
    .await
}

async fn verified_app(
    pool: &PgPool,
    providers: &[&str],
) -> (TestApp, tradeplane::integrations::registry::EnvMap) {
    let env = start_sandbox().await;
    let app = spawn_admin_app(pool.clone(), &env).await;
    for provider in providers {
        let (code, body) = app.verify_integration(provider).await;
        assert_eq!(code, 200, "{provider}: {body}");
    }
    (app, env)
}

async fn name_of(pool: &PgPool, bot: Uuid) -> String {
    sqlx::query_scalar("SELECT name FROM bots WHERE id = $1")
        .bind(bot)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn empty_when_healthy_and_a_killed_bot_with_exposure_is_sev1_first(pool: PgPool) {
    let (app, _env) = verified_app(&pool, &EVERYTHING).await;
    let rt = app.state.runtime.clone();

    // Everything verified, nothing wrong: the queue is empty and the status agrees.
    let body = until("an empty queue", async || {
        let body = queue(&app).await;
        items(&body).is_empty().then_some(body)
    })
    .await;
    assert_eq!(
        body["counts"],
        json!({"sev1": 0, "sev2": 0, "sev3": 0}),
        "{body}"
    );
    assert!(body["as_of"].is_string(), "{body}");
    let (_, status) = app.system_status().await;
    assert_eq!(status["system_status"], "OK", "{status}");

    // A PAPER bot holding one ES contract is killed (as its daily-loss trigger would).
    let bot = bot_row(&pool).await;
    let name = name_of(&pool, bot).await;
    sqlx::query(
        "INSERT INTO positions (bot_id, symbol, quantity, average_price) VALUES ($1, 'ES', 1, 6000)",
    )
    .bind(bot)
    .execute(&pool)
    .await
    .unwrap();
    rt.kill(bot, "daily loss 1650.00 USD breached the 1500.00 USD limit");
    let (body, item) = until_item(&app, "KILLED_WITH_EXPOSURE", |i| {
        i["subject"]["id"] == bot.to_string()
    })
    .await;
    assert_eq!(item["severity"], "SEV-1", "{item}");
    assert_eq!(items(&body)[0], item, "SEV-1 first: {body}");
    assert_eq!(item["subject"]["kind"], "bot");
    assert_eq!(item["subject"]["name"], name.as_str());
    assert_eq!(item["link"], format!("/bots/{bot}"));
    assert!(
        item["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "{name} is KILLED (daily loss 1650.00 USD breached the 1500.00 USD limit) and still holds 1 contract(s)"
            )),
        "{item}"
    );
    let fix = item["fix"].as_str().unwrap();
    assert!(fix.contains("acknowledge-exposure"), "{fix}");
    assert!(item["since"].is_string(), "{item}");
    assert!(body["counts"]["sev1"].as_u64().unwrap() >= 1, "{body}");
    // Counted once: the status's own KILLED_WITH_EXPOSURE blocker is not listed again.
    let killed: Vec<_> = items(&body)
        .into_iter()
        .filter(|i| i["code"] == "KILLED_WITH_EXPOSURE")
        .collect();
    assert_eq!(killed.len(), 1, "{body}");

    // Flat: SEV-2 BOT_KILLED (it still needs a re-arm).
    sqlx::query("UPDATE positions SET quantity = 0 WHERE bot_id = $1")
        .bind(bot)
        .execute(&pool)
        .await
        .unwrap();
    let (_, item) = until_item(&app, "BOT_KILLED", |i| {
        i["subject"]["id"] == bot.to_string()
    })
    .await;
    assert_eq!(item["severity"], "SEV-2", "{item}");
    assert!(item["message"].as_str().unwrap().contains("flat"), "{item}");

    // Re-armed: the queue is empty again.
    let (code, b) = app.rearm_bot(bot).await;
    assert_eq!(code, 200, "{b}");
    until("an empty queue after the re-arm", async || {
        items(&queue(&app).await).is_empty().then_some(())
    })
    .await;
}

#[sqlx::test]
async fn a_failed_job_appears_for_a_day(pool: PgPool) {
    let (app, _env) = verified_app(&pool, &[]).await;
    let job = jobs::create(
        &pool,
        NewJob {
            kind: "backtest".into(),
            timeout_seconds: 60,
            bot_id: None,
            payload: json!({}),
        },
    )
    .await
    .unwrap();
    jobs::transition(
        &pool,
        job.id,
        JobStatus::Queued,
        JobStatus::Running,
        "CLAIMED",
        TransitionDetails::default(),
    )
    .await
    .unwrap();
    jobs::transition(
        &pool,
        job.id,
        JobStatus::Running,
        JobStatus::Failed,
        "FAILED",
        TransitionDetails {
            error: Some("no bars in the range".into()),
            error_code: Some("DATA_UNAVAILABLE".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (_, item) = until_item(&app, "JOB_FAILED", |i| {
        i["subject"]["id"] == job.id.to_string()
    })
    .await;
    assert_eq!(item["severity"], "SEV-3", "{item}");
    assert_eq!(item["subject"]["kind"], "job");
    assert_eq!(item["subject"]["name"], "backtest");
    assert_eq!(item["link"], "/jobs?status=FAILED");
    let message = item["message"].as_str().unwrap();
    assert!(
        message.contains("ended FAILED: DATA_UNAVAILABLE: no bars in the range"),
        "{message}"
    );

    // Finished more than 24 hours ago: no longer in the queue.
    sqlx::query("UPDATE job_runs SET finished_at = now() - interval '25 hours' WHERE id = $1")
        .bind(job.id)
        .execute(&pool)
        .await
        .unwrap();
    let body = queue(&app).await;
    assert!(
        !items(&body).iter().any(|i| i["code"] == "JOB_FAILED"),
        "{body}"
    );
}

#[sqlx::test]
async fn a_failing_provider_then_its_open_breaker_appear(pool: PgPool) {
    let (app, env) = verified_app(&pool, &["databento", "polygon"]).await;
    let rt = app.state.runtime.clone();
    let polygon = |i: &Value| i["subject"]["id"] == "polygon";
    let body = queue(&app).await;
    assert!(!items(&body).iter().any(polygon), "{body}");

    // Two failed reads after its verify: most of its calls fail, its breaker still CLOSED.
    sandbox_fault(&env["POLYGON_BASE_URL"], "polygon", json!("outage"), None).await;
    for _ in 0..2 {
        rt.fetch_bars("polygon", ten_minutes_of_es())
            .await
            .unwrap_err();
    }
    let (_, item) = until_item(&app, "PROVIDER_FAILING", polygon).await;
    assert_eq!(item["severity"], "SEV-2", "{item}");
    assert_eq!(item["subject"]["kind"], "provider");
    assert_eq!(item["link"], "/connections");
    assert_eq!(
        item["message"],
        "polygon is failing: breaker CLOSED, 1/3 calls ok in 15 min, last error PROVIDER_HTTP_5XX."
    );

    // The third failure opens the breaker: one CIRCUIT_BREAKER_OPEN item replaces it.
    rt.fetch_bars("polygon", ten_minutes_of_es())
        .await
        .unwrap_err();
    let (body, item) = until_item(&app, "CIRCUIT_BREAKER_OPEN", polygon).await;
    assert_eq!(item["severity"], "SEV-2", "{item}");
    assert_eq!(item["link"], "/connections");
    assert!(item["since"].is_string(), "{item}");
    assert!(
        item["message"]
            .as_str()
            .unwrap()
            .contains("provider polygon is OPEN"),
        "{item}"
    );
    let about_polygon: Vec<_> = items(&body).into_iter().filter(|i| polygon(i)).collect();
    assert_eq!(about_polygon.len(), 1, "{body}");
}

/// A position still on a contract the bots' feed rolled away from (its roll exit held by a
/// gate): SEV-2 `POSITION_PAST_ROLL` naming the contract, SEV-1 once the bot is LIVE, gone when
/// the position is flat.
#[sqlx::test]
async fn a_position_past_its_roll_is_in_the_queue_until_flat(pool: PgPool) {
    let (app, _env) = verified_app(&pool, &[]).await;
    let bot = bot_row(&pool).await;
    // Bought in August, on ESU26 (rolled to ESZ26 on September 10th).
    let decided = chrono::Utc.with_ymd_and_hms(2026, 8, 20, 15, 0, 0).unwrap();
    let order = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO orders (id, bot_id, idempotency_key, symbol, side, quantity, order_type, \
         stage, status, decision_bar_at, created_at, updated_at) \
         VALUES ($1, $2, 'past-roll', 'ES', 'BUY', 2, 'MARKET', 'PAPER', 'FILLED', $3, $3, $3)",
    )
    .bind(order)
    .bind(bot)
    .bind(decided)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO fills (id, order_id, bot_id, quantity, price, commission, simulated, filled_at, created_at) \
         VALUES ($1, $2, $3, 2, 6400, 2, true, $4, $4)",
    )
    .bind(Uuid::now_v7())
    .bind(order)
    .bind(bot)
    .bind(decided)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO positions (bot_id, symbol, quantity, average_price) VALUES ($1, 'ES', 2, 6400)",
    )
    .bind(bot)
    .execute(&pool)
    .await
    .unwrap();
    let past_roll = |body: &Value| -> Vec<Value> {
        items(body)
            .into_iter()
            .filter(|i| i["code"] == "POSITION_PAST_ROLL")
            .collect()
    };

    let body = queue(&app).await;
    let found = past_roll(&body);
    assert_eq!(found.len(), 1, "{body}");
    assert_eq!(found[0]["severity"], "SEV-2", "{body}");
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("holds 2 ESU26 past its roll"), "{message}");
    assert_eq!(found[0]["link"], format!("/bots/{bot}"));
    assert!(!found[0]["fix"].as_str().unwrap().is_empty());

    sqlx::query("UPDATE bots SET stage = 'LIVE' WHERE id = $1")
        .bind(bot)
        .execute(&pool)
        .await
        .unwrap();
    let body = queue(&app).await;
    assert_eq!(past_roll(&body)[0]["severity"], "SEV-1", "{body}");

    sqlx::query("UPDATE positions SET quantity = 0 WHERE bot_id = $1")
        .bind(bot)
        .execute(&pool)
        .await
        .unwrap();
    let body = queue(&app).await;
    assert!(past_roll(&body).is_empty(), "{body}");
}

#[sqlx::test]
async fn the_queue_needs_a_session(pool: PgPool) {
    let app = crate::support::spawn_app(pool).await;
    let (code, body) = app.call("GET", "/api/attention", None).await;
    assert_eq!(code, 401, "{body}");
}

#[sqlx::test]
async fn the_fleet_grid_reads_todays_pnl_series_and_the_position(pool: PgPool) {
    let (app, _env) = verified_app(&pool, &[]).await;
    let bot = bot_row(&pool).await;
    let now = crate::support::now();
    // Two round trips closed today (net +100 − 2, then −30 − 2), one yesterday (not today's).
    for (minutes_ago, pnl) in [(30, "100"), (10, "-30"), (60 * 30, "500")] {
        let closed = now - chrono::Duration::minutes(minutes_ago);
        sqlx::query(
            "INSERT INTO trades (id, bot_id, symbol, side, quantity, entry_price, exit_price, \
             opened_at, closed_at, realized_pnl, commission, stage) \
             VALUES ($1, $2, 'ES', 'LONG', 1, 6000, 6002, $3, $3, $4::numeric, 2, 'PAPER')",
        )
        .bind(Uuid::now_v7())
        .bind(bot)
        .bind(closed)
        .bind(pnl)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO positions (bot_id, symbol, quantity, average_price) VALUES ($1, 'ES', -2, 6000)",
    )
    .bind(bot)
    .execute(&pool)
    .await
    .unwrap();

    let (code, body) = app.call("GET", "/api/fleet/pnl-today", None).await;
    assert_eq!(code, 200, "{body}");
    // A bot without a close today has no series (the trade date may have begun minutes ago).
    let series = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["bot_id"] == bot.to_string())
        .cloned()
        .unwrap_or_else(|| json!({"bot_id": bot, "points": []}));
    let start = chrono::DateTime::parse_from_rfc3339(body["trade_date_start"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    // Today's closes only (the trade date may have begun less than 30 minutes ago).
    let cumulative: Vec<&str> = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["cumulative"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = match (
        now - chrono::Duration::minutes(30) >= start,
        now - chrono::Duration::minutes(10) >= start,
    ) {
        (true, _) => vec!["98", "66"],
        (false, true) => vec!["-32"],
        (false, false) => vec![],
    };
    assert_eq!(cumulative, expected, "{series}");
    assert_eq!(body["truncated"], false);

    let (code, body) = app.call("GET", &format!("/api/bots/{bot}"), None).await;
    assert_eq!(code, 200, "{body}");
    let today = &body["summary"]["today_pnl"];
    assert_eq!(today["position_quantity"], -2, "{body}");
}
