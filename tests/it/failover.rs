//! Bar feed failover end to end on the sandbox: a PAPER bot reads Databento (primary); a
//! Databento outage moves the very next boundary to Polygon (secondary), recorded as a SEV-2
//! `DATA_FAILOVER` carrying the evaluation's trace id, and the trace's variables name the
//! source; once Databento is healthy for the (short, configured) hysteresis the feed goes
//! back, recorded as INFO `DATA_FAILBACK`. An OPEN primary breaker is not health: its refused
//! probes keep the series on the secondary. A primary whose bars fall behind past the freshness
//! limit fails over at the first boundary they are too old, and its late bars fill in once it
//! catches up. The failover state outlives a restart (`feed_sources`).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::runtime::feed::FeedConfig;
use uuid::Uuid;

use crate::support::{
    app::now,
    fixtures::{sandbox_fault, start_sandbox, start_sandbox_with_clock},
    paper::{config, session_start, started_bot, tick},
    spawn_app_with_runtime_config,
};
use tradeplane::{
    clock::Clock,
    domain::{instruments::Symbol, risk::Stage, timeframe::Timeframe},
    runtime::{RunnerOptions, Runtime},
    store::bots::{self, NewBot},
};

/// The variables and trace id of the bot's newest trace row (decision or no-trade).
async fn newest_trace(pool: &PgPool, bot: Uuid) -> (Value, String) {
    sqlx::query_as(
        "SELECT variables_snapshot, trace_id FROM ( \
           SELECT variables_snapshot, trace_id, created_at FROM decision_traces WHERE bot_id = $1 \
           UNION ALL \
           SELECT variables_snapshot, trace_id, created_at FROM no_trade_traces WHERE bot_id = $1 \
         ) t ORDER BY created_at DESC LIMIT 1",
    )
    .bind(bot)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The system events with `code` (severity, trace id, metadata), oldest first, once at least
/// `n` are written (the telemetry writer batches them).
async fn events(pool: &PgPool, code: &str, n: usize) -> Vec<(String, String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows: Vec<(String, String, Value)> = sqlx::query_as(
            "SELECT severity, trace_id, metadata FROM system_events WHERE code = $1 \
             ORDER BY created_at",
        )
        .bind(code)
        .fetch_all(pool)
        .await
        .unwrap();
        if rows.len() >= n {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "{code}: {} of {n} events",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn source(v: &Value) -> (&str, bool) {
    (
        v["bar_source"].as_str().unwrap_or("<none>"),
        v["mixed_sources"].as_bool().unwrap_or(true),
    )
}

#[sqlx::test]
async fn a_primary_outage_fails_over_within_the_bar_and_fails_back_after_the_hysteresis(
    pool: PgPool,
) {
    let env = start_sandbox().await;
    let mut runtime = config(&env);
    runtime.feed = FeedConfig {
        failback_after: chrono::Duration::minutes(2),
        ..FeedConfig::default()
    };
    // Databento's client retries a 503 twice (about a second in all): the harness's 400 ms
    // heartbeat timeout would call that runner stuck; production allows 10 s.
    runtime.runner.heartbeat_timeout = Duration::from_secs(10);
    let app = spawn_app_with_runtime_config(pool.clone(), runtime)
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let bot = started_bot(&app, "failover").await;
    let at = |m: i64| -> DateTime<Utc> { session_start() + chrono::Duration::minutes(m) };

    // Healthy: Databento serves, the trace says so with the contract.
    tick(&rt, &pool, bot, at(1)).await;
    let (v, _) = newest_trace(&pool, bot).await;
    assert_eq!(source(&v), ("databento", false), "{v}");
    assert_eq!(v["bar_contract"], "ESZ26", "{v}");

    // Databento goes down: the next boundary is evaluated on Polygon's bars.
    sandbox_fault(&env["POLYGON_BASE_URL"], "databento", json!("outage"), None).await;
    tick(&rt, &pool, bot, at(2)).await;
    let (v, trace) = newest_trace(&pool, bot).await;
    assert_eq!(source(&v), ("polygon", false), "{v}");
    assert_eq!(v["bar_contract"], "ESZ26", "{v}");
    let failover = events(&pool, "DATA_FAILOVER", 1).await;
    let (severity, event_trace, meta) = &failover[0];
    assert_eq!(severity, "SEV-2");
    assert_eq!(
        event_trace, &trace,
        "the event carries the evaluation's trace id"
    );
    assert_eq!(
        (&meta["from"], &meta["to"], &meta["reason"]["code"]),
        (
            &json!("databento"),
            &json!("polygon"),
            &json!("PRIMARY_FAILED")
        ),
        "{meta}"
    );
    assert_eq!(meta["error_code"], "PROVIDER_HTTP_5XX", "{meta}");

    // Databento is back: healthy at 3 and 4 (less than the 2 min hysteresis), Polygon stays.
    sandbox_fault(&env["POLYGON_BASE_URL"], "databento", Value::Null, None).await;
    for m in [3, 4] {
        tick(&rt, &pool, bot, at(m)).await;
        let (v, _) = newest_trace(&pool, bot).await;
        assert_eq!(source(&v).0, "polygon", "minute {m}: {v}");
    }
    assert_eq!(events(&pool, "DATA_FAILBACK", 0).await.len(), 0);

    // Healthy for 2 min at 5: back to Databento, within that boundary.
    tick(&rt, &pool, bot, at(5)).await;
    let (v, trace) = newest_trace(&pool, bot).await;
    assert_eq!(source(&v), ("databento", false), "{v}");
    let failback = events(&pool, "DATA_FAILBACK", 1).await;
    let (severity, event_trace, meta) = &failback[0];
    assert_eq!(severity, "INFO");
    assert_eq!(event_trace, &trace);
    assert_eq!(
        (&meta["from"], &meta["to"], &meta["reason"]["code"]),
        (&json!("polygon"), &json!("databento"), &json!("RECOVERED")),
        "{meta}"
    );
    // One switch each way, no flapping.
    assert_eq!(events(&pool, "DATA_FAILOVER", 1).await.len(), 1);
}

#[sqlx::test]
async fn an_open_primary_breaker_keeps_the_series_on_the_secondary_and_refuses_its_probes(
    pool: PgPool,
) {
    let env = start_sandbox().await;
    let mut runtime = config(&env);
    runtime.feed = FeedConfig {
        failback_after: chrono::Duration::zero(),
        ..FeedConfig::default()
    };
    runtime.runner.heartbeat_timeout = Duration::from_secs(10);
    let app = spawn_app_with_runtime_config(pool.clone(), runtime)
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let bot = started_bot(&app, "failover-breaker").await;
    let at = |m: i64| -> DateTime<Utc> { session_start() + chrono::Duration::minutes(m) };

    // Down from the first boundary: the read and the next two probes are Databento's three
    // failures, which open its breaker; every boundary is evaluated on Polygon.
    sandbox_fault(&env["POLYGON_BASE_URL"], "databento", json!("outage"), None).await;
    for m in 1..=3 {
        tick(&rt, &pool, bot, at(m)).await;
        let (v, _) = newest_trace(&pool, bot).await;
        assert_eq!(source(&v).0, "polygon", "minute {m}: {v}");
    }
    let open = || {
        rt.providers_health()
            .into_iter()
            .find(|p| p.provider_id == "databento")
            .map(|p| p.breaker_state)
    };
    assert_eq!(
        open(),
        Some(tradeplane::domain::breaker::BreakerState::Open)
    );

    // The vendor is back but the breaker is still cooling down: the probe is refused without a
    // request, which is not health, so even a zero hysteresis does not fail back.
    sandbox_fault(&env["POLYGON_BASE_URL"], "databento", Value::Null, None).await;
    tick(&rt, &pool, bot, at(4)).await;
    let (v, _) = newest_trace(&pool, bot).await;
    assert_eq!(source(&v).0, "polygon", "{v}");
    // The refused probe is on the bot's record (usage events are written in batches).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let refused: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM integration_usage_events WHERE provider_id = 'databento' \
             AND bot_id = $1 AND error_code = 'CIRCUIT_BREAKER_OPEN'",
        )
        .bind(bot)
        .fetch_one(&pool)
        .await
        .unwrap();
        if refused >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no refused probe recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(events(&pool, "DATA_FAILBACK", 0).await.len(), 0);
    let failover = events(&pool, "DATA_FAILOVER", 1).await;
    assert_eq!(failover.len(), 1, "one switch, however many failed probes");
    assert_eq!(failover[0].2["reason"]["code"], "PRIMARY_FAILED");
}

/// A vendor that stops answering (the sandbox holds the request for a minute): the boundary
/// is evaluated on the secondary once the primary's deadline has passed, not after the
/// call's whole time box.
#[sqlx::test]
async fn a_hanging_primary_fails_over_after_its_deadline_not_its_time_box(pool: PgPool) {
    let env = start_sandbox().await;
    let mut runtime = config(&env);
    let deadline = Duration::from_secs(1);
    runtime.feed = FeedConfig {
        failback_after: chrono::Duration::minutes(2),
        primary_deadline: deadline,
    };
    runtime.runner.heartbeat_timeout = Duration::from_secs(10);
    let app = spawn_app_with_runtime_config(pool.clone(), runtime)
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let bot = started_bot(&app, "failover-hang").await;
    let at = |m: i64| -> DateTime<Utc> { session_start() + chrono::Duration::minutes(m) };
    tick(&rt, &pool, bot, at(1)).await;
    assert_eq!(source(&newest_trace(&pool, bot).await.0).0, "databento");

    sandbox_fault(
        &env["POLYGON_BASE_URL"],
        "databento",
        json!("timeout"),
        None,
    )
    .await;
    let started = Instant::now();
    tick(&rt, &pool, bot, at(2)).await;
    let took = started.elapsed();
    let (v, trace) = newest_trace(&pool, bot).await;
    assert_eq!(source(&v), ("polygon", false), "{v}");
    assert!(
        took >= deadline && took < deadline + Duration::from_secs(5),
        "evaluated after {took:?} (deadline {deadline:?}, the sandbox hangs 60 s)"
    );
    let failover = events(&pool, "DATA_FAILOVER", 1).await;
    let (_, event_trace, meta) = &failover[0];
    assert_eq!(event_trace, &trace);
    assert_eq!(meta["reason"]["code"], "PRIMARY_FAILED", "{meta}");
    assert_eq!(meta["error_code"], "TIMEOUT", "{meta}");
}

/// Sets a `late` fault: `vendor` serves only bars that ended `seconds` before the sandbox clock.
async fn sandbox_late(
    env: &tradeplane::integrations::registry::EnvMap,
    vendor: &str,
    seconds: u32,
) {
    let root = env["POLYGON_BASE_URL"]
        .trim_end_matches("/polygon")
        .to_owned();
    let res = reqwest::Client::new()
        .post(format!("{root}/_sandbox/faults"))
        .json(&json!({"vendor": vendor, "fault": "late", "seconds": seconds}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[sqlx::test]
async fn a_late_primary_fails_over_at_the_first_boundary_past_the_freshness_limit(pool: PgPool) {
    // The sandbox's clock is the replayed market's: 5 s after each boundary, as a live tick is.
    let at = |m: i64| -> DateTime<Utc> { session_start() + chrono::Duration::minutes(m) };
    let market = Clock::manual(at(1) + chrono::Duration::seconds(5));
    let env = start_sandbox_with_clock(market.clone()).await;
    let mut runtime = config(&env);
    runtime.feed = FeedConfig {
        failback_after: chrono::Duration::minutes(2),
        ..FeedConfig::default()
    };
    runtime.runner.heartbeat_timeout = Duration::from_secs(10);
    let app = spawn_app_with_runtime_config(pool.clone(), runtime)
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let bot = started_bot(&app, "failover-late").await;
    let step = |m: i64| {
        market.set(at(m) + chrono::Duration::seconds(5));
        tick(&rt, &pool, bot, at(m))
    };
    step(1).await;
    assert_eq!(source(&newest_trace(&pool, bot).await.0).0, "databento");

    // Databento falls 3 minutes behind: its newest bar (closed at 1) ages a minute a boundary.
    // At 2 and 3 it is 60 s and 120 s old, inside the 1m limit (125 s): still Databento.
    sandbox_late(&env, "databento", 180).await;
    for m in [2, 3] {
        step(m).await;
        let (v, _) = newest_trace(&pool, bot).await;
        assert_eq!(source(&v).0, "databento", "minute {m}: {v}");
    }
    assert_eq!(events(&pool, "DATA_FAILOVER", 0).await.len(), 0);
    // At 4 it is 180 s old: that very boundary is evaluated on Polygon's bar.
    step(4).await;
    let (v, trace) = newest_trace(&pool, bot).await;
    assert_eq!(source(&v), ("polygon", false), "{v}");
    let failover = events(&pool, "DATA_FAILOVER", 1).await;
    let (severity, event_trace, meta) = &failover[0];
    assert_eq!((severity.as_str(), event_trace), ("SEV-2", &trace));
    assert_eq!(
        meta["reason"],
        json!({"code": "PRIMARY_LATE", "lag_seconds": 180, "limit_seconds": 125}),
        "{meta}"
    );

    // Databento catches up: its late bars fill in (no hole in the store), and after the
    // hysteresis the series is back on it.
    sandbox_fault(&env["POLYGON_BASE_URL"], "databento", Value::Null, None).await;
    for m in 5..=7 {
        step(m).await;
    }
    let (v, _) = newest_trace(&pool, bot).await;
    assert_eq!(source(&v), ("databento", false), "{v}");
    assert_eq!(events(&pool, "DATA_FAILBACK", 1).await.len(), 1);
    let stored: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT ts FROM market_bars WHERE provider_id = 'databento' AND symbol = 'ES' \
         AND timeframe = '1m' AND ts >= $1 AND ts < $2 ORDER BY ts",
    )
    .bind(at(0))
    .bind(at(7))
    .fetch_all(&pool)
    .await
    .unwrap();
    let expected: Vec<DateTime<Utc>> = (0..7).map(at).collect();
    assert_eq!(stored, expected, "every minute of Databento's, once");
}

#[sqlx::test]
async fn a_restarted_node_continues_on_the_secondary_until_the_failback(pool: PgPool) {
    let env = start_sandbox().await;
    let runtime_config = || {
        let mut runtime = config(&env);
        runtime.feed = FeedConfig {
            failback_after: chrono::Duration::minutes(2),
            ..FeedConfig::default()
        };
        runtime.runner.heartbeat_timeout = Duration::from_secs(10);
        runtime
    };
    let bot = bots::insert(
        &pool,
        NewBot {
            name: "failover-restart".into(),
            symbol: Symbol::Es,
            timeframe: Timeframe::M1,
            stage: Stage::Paper,
            strategy: json!({"kind": "sma_crossover", "params": {"fast": 2, "slow": 4, "average": "sma"}}),
            risk_limits: json!({}),
            created_by: None,
        },
        now(),
    )
    .await
    .unwrap()
    .id;
    let opts = RunnerOptions {
        timeframe: Timeframe::M1,
        live: false,
    };
    let at = |m: i64| -> DateTime<Utc> { session_start() + chrono::Duration::minutes(m) };

    // First run: healthy at 1, Databento down at 2 → Polygon.
    let first = Runtime::start(pool.clone(), runtime_config())
        .await
        .unwrap();
    let rt = first.handle();
    rt.start_runner(bot, opts).await.unwrap();
    tick(&rt, &pool, bot, at(1)).await;
    assert_eq!(source(&newest_trace(&pool, bot).await.0).0, "databento");
    sandbox_fault(&env["POLYGON_BASE_URL"], "databento", json!("outage"), None).await;
    tick(&rt, &pool, bot, at(2)).await;
    assert_eq!(source(&newest_trace(&pool, bot).await.0).0, "polygon");
    first.shutdown().await;
    let recorded: (String, Option<DateTime<Utc>>, DateTime<Utc>) = sqlx::query_as(
        "SELECT provider_id, healthy_since, observed_at FROM feed_sources \
         WHERE symbol = 'ES' AND timeframe = '1m'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(recorded, ("polygon".into(), None, at(2)));

    // Restarted, Databento still down: the series stays on Polygon, no second switch event.
    let second = Runtime::start(pool.clone(), runtime_config())
        .await
        .unwrap();
    let rt = second.handle();
    rt.start_runner(bot, opts).await.unwrap();
    tick(&rt, &pool, bot, at(3)).await;
    let (v, _) = newest_trace(&pool, bot).await;
    assert_eq!(source(&v).0, "polygon", "{v}");
    // Databento back at 4: the restarted node honours the hysteresis (2 min) before failing
    // back, at 6, with the one INFO event.
    sandbox_fault(&env["POLYGON_BASE_URL"], "databento", Value::Null, None).await;
    for m in [4, 5] {
        tick(&rt, &pool, bot, at(m)).await;
        let (v, _) = newest_trace(&pool, bot).await;
        assert_eq!(source(&v).0, "polygon", "minute {m}: {v}");
    }
    second.shutdown().await;

    // A third run picks up the streak (healthy since 4) rather than starting it again.
    let third = Runtime::start(pool.clone(), runtime_config())
        .await
        .unwrap();
    let rt = third.handle();
    rt.start_runner(bot, opts).await.unwrap();
    tick(&rt, &pool, bot, at(6)).await;
    let (v, _) = newest_trace(&pool, bot).await;
    assert_eq!(source(&v).0, "databento", "{v}");
    third.shutdown().await;
    assert_eq!(events(&pool, "DATA_FAILOVER", 1).await.len(), 1);
    let failback = events(&pool, "DATA_FAILBACK", 1).await;
    assert_eq!(failback.len(), 1);
    assert_eq!(failback[0].2["reason"]["code"], "RECOVERED");
    let (provider, healthy_since): (String, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT provider_id, healthy_since FROM feed_sources WHERE symbol = 'ES' AND timeframe = '1m'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((provider.as_str(), healthy_since), ("databento", None));
}

/// A roll in the live feed: the first evaluation on the new contract says so in its variables
/// (`rolled_from`), and its window is the new contract's own bars (no splice of two contracts).
#[sqlx::test]
async fn a_roll_is_marked_in_the_trace_and_the_window_is_the_new_contracts(pool: PgPool) {
    let env = start_sandbox().await;
    let mut runtime = config(&env);
    runtime.runner.heartbeat_timeout = Duration::from_secs(10);
    let app = spawn_app_with_runtime_config(pool.clone(), runtime)
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let bot = started_bot(&app, "roll-marker").await;
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    // ESZ26 rolls into ESH27 at the 2026-12-10 trade date's open, 2026-12-09 23:00 UTC.
    for at in ["2026-12-09T21:58:00Z", "2026-12-09T21:59:00Z"] {
        tick(&rt, &pool, bot, t(at)).await;
        let (v, _) = newest_trace(&pool, bot).await;
        assert_eq!(v["bar_contract"], "ESZ26", "{at}: {v}");
        assert!(v.get("rolled_from").is_none(), "{at}: {v}");
    }
    tick(&rt, &pool, bot, t("2026-12-09T23:02:00Z")).await;
    let (v, _) = newest_trace(&pool, bot).await;
    // The roll follows the daily halt: twice the lookback in time ends inside the halt, so the
    // fresh ESH27 window reaches further back for ESH27's own bars before the halt, and the
    // evaluated window is ESH27's alone (no splice of the two contracts), marked as a roll.
    assert_eq!(
        (&v["bar_contract"], &v["rolled_from"], &v["mixed_contracts"]),
        (&json!("ESH27"), &json!("ESZ26"), &json!(false)),
        "{v}"
    );
    tick(&rt, &pool, bot, t("2026-12-09T23:03:00Z")).await;
    let (v, _) = newest_trace(&pool, bot).await;
    assert_eq!(v["bar_contract"], "ESH27", "{v}");
    assert!(
        v.get("rolled_from").is_none(),
        "the marker is on the first evaluation only: {v}"
    );
}
