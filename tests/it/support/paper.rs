//! A PAPER bot on the sandbox with its bar ticks replayed by the test (the trading and
//! engine-parity cases): the runtime config, the session the replay starts in, a started bot,
//! and one replayed tick.

use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    domain::timeframe::Timeframe,
    integrations::registry::EnvMap,
    runtime::{BarTick, RuntimeConfig, RuntimeHandle, SchedulerConfig},
};
use uuid::Uuid;

use super::{
    app::{TestApp, now},
    fixtures::{runtime_config, set_stage},
    requests::Reply,
};

/// The runtime with providers pointed at the sandbox and no clock ticks on 1m bars: the test
/// replays every tick itself.
pub fn config(env: &EnvMap) -> RuntimeConfig {
    RuntimeConfig {
        provider_env: env.clone(),
        scheduler: SchedulerConfig {
            timeframes: vec![Timeframe::D1],
            ..runtime_config().scheduler
        },
        ..runtime_config()
    }
}

/// Tuesday 2026-11-17 09:00 CT (15:00 UTC): an ordinary session.
pub fn session_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0).unwrap()
}

/// Asserts a 2xx answer and returns its body.
fn ok((status, body): Reply, what: &str) -> Value {
    assert!((200..300).contains(&status), "{what}: {status} {body}");
    body
}

/// A PAPER sma_crossover(2,4) bot on ES 1m, verified providers, started through the API.
pub async fn started_bot(app: &TestApp, name: &str) -> Uuid {
    for provider in ["databento", "polygon"] {
        ok(app.verify_integration(provider).await, "verify");
    }
    let body = ok(
        app.create_bot(json!({
            "name": name, "symbol": "ES", "timeframe": "1m", "stage": "LAB",
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4}},
            "risk": {"max_order_size": 1, "max_position": 1, "daily_loss_limit": 100000.0,
                     "max_drawdown": 100000.0}
        }))
        .await,
        "create",
    );
    let id: Uuid = body["bot"]["id"].as_str().unwrap().parse().unwrap();
    set_stage(&app.pool, id, "PAPER").await;
    let body = ok(app.start_bot(id).await, "start");
    assert_eq!(body["bot"]["status"], "RUNNING", "{body}");
    id
}

/// Evaluations on record: decisions plus (folded) suppressions.
pub async fn evaluations(pool: &PgPool, bot: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM decision_traces WHERE bot_id = $1) + \
                (SELECT COALESCE(sum(count), 0) FROM no_trade_traces WHERE bot_id = $1)",
    )
    .bind(bot)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Replays the boundary `at` and waits until its evaluation is on record.
pub async fn tick(rt: &RuntimeHandle, pool: &PgPool, bot: Uuid, at: DateTime<Utc>) {
    let before = evaluations(pool, bot).await;
    let sent = rt.inject_tick(BarTick {
        timeframe: Timeframe::M1,
        bar_at: SystemTime::from(at),
        fired_at: now().into(),
    });
    assert!(sent > 0, "no runner subscribed");
    let deadline = Instant::now() + Duration::from_secs(15);
    while evaluations(pool, bot).await < before + 1 {
        assert!(Instant::now() < deadline, "tick {at} left no trace");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
