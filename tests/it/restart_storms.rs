//! Issue 21 part 6: restart policy that ends. A runner that keeps failing to start opens its
//! breaker within the documented limit (3 failures in 30 min) and stops being restarted; during
//! a database outage runners wait on one readiness signal instead of burning restarts.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use tradeplane::domain::{bot::BotStatus, breaker::BreakerState, timeframe::Timeframe};
use tradeplane::runtime::{Fault, RunnerOptions, Runtime, RuntimeConfig, RuntimeHandle};
use uuid::Uuid;

use crate::support::{
    db_proxy::DbProxy,
    fixtures::{bot_row, runtime_config, until},
};

fn opts() -> RunnerOptions {
    RunnerOptions {
        timeframe: Timeframe::S1,
        live: false,
    }
}

async fn codes(pool: &PgPool, bot: Uuid) -> Vec<(String, Value)> {
    sqlx::query_as(
        "SELECT code, metadata FROM system_events WHERE bot_id = $1 ORDER BY created_at, id",
    )
    .bind(bot)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn count(events: &[(String, Value)], code: &str) -> usize {
    events.iter().filter(|(c, _)| c == code).count()
}

async fn running(rt: &RuntimeHandle, bot: Uuid) {
    until("the runner to run", || async {
        let r = rt.runner(bot)?;
        matches!(r.status, BotStatus::Running | BotStatus::Suspended).then_some(())
    })
    .await;
}

#[sqlx::test]
async fn a_runner_that_keeps_failing_to_start_opens_its_breaker_and_stops(pool: PgPool) {
    let runtime = Runtime::start(pool.clone(), runtime_config())
        .await
        .unwrap();
    let rt = runtime.handle();
    let bot = bot_row(&pool).await;
    rt.start_runner(bot, opts()).await.unwrap();
    running(&rt, bot).await;
    // From now on the bot cannot be loaded (its strategy is unknown): every restart fails to
    // start.
    sqlx::query("UPDATE bots SET strategy = '{\"kind\": \"no_such_strategy\"}' WHERE id = $1")
        .bind(bot)
        .execute(&pool)
        .await
        .unwrap();
    rt.inject_fault(bot, Fault::Fail("crash".into()))
        .await
        .unwrap();
    until("the breaker to open", || async {
        let r = rt.runner(bot)?;
        (r.breaker_state == BreakerState::Open && r.status == BotStatus::Error).then_some(())
    })
    .await;
    // Nothing tries again behind the breaker.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    runtime.shutdown().await;
    let events = codes(&pool, bot).await;
    let names: Vec<&str> = events.iter().map(|(c, _)| c.as_str()).collect();
    // One crash, then two failed starts: the third failure opens the breaker (3 in 30 min).
    assert_eq!(count(&events, "SUPERVISION_CHILD_FAILED"), 1, "{names:?}");
    assert_eq!(count(&events, "SUPERVISION_START_FAILED"), 2, "{names:?}");
    assert_eq!(count(&events, "CIRCUIT_BREAKER_OPENED"), 1, "{names:?}");
    assert_eq!(
        count(&events, "SUPERVISION_CHILD_RESTARTED"),
        0,
        "{names:?}"
    );
    // The backoff kept growing through the failed starts (attempt 1, 2 …, never back to 1).
    let scheduled: Vec<(u64, u64)> = events
        .iter()
        .filter(|(c, _)| c == "SUPERVISION_RESTART_SCHEDULED")
        .map(|(_, m)| {
            (
                m["attempt"].as_u64().unwrap(),
                m["backoff_ms"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(&scheduled[..2], &[(1, 100), (2, 200)], "{names:?}");
}

#[sqlx::test]
async fn during_a_database_outage_runners_wait_instead_of_restarting(pool: PgPool) {
    let proxy = DbProxy::start(&pool).await;
    let through = proxy.pool(&pool, Duration::from_millis(300)).await;
    let mut config = RuntimeConfig {
        db_probe_every: Duration::from_millis(100),
        ..runtime_config()
    };
    // Writes during the outage wait up to the pool's acquire timeout: the heartbeat allows it.
    config.runner.heartbeat_timeout = Duration::from_secs(3);
    let runtime = Runtime::start(through, config).await.unwrap();
    let rt = runtime.handle();
    let ready = rt.db_readiness().unwrap();
    let bot = bot_row(&pool).await;
    let late = bot_row(&pool).await;
    rt.start_runner(bot, opts()).await.unwrap();
    running(&rt, bot).await;
    until("an evaluation", || async {
        (rt.trading_stats().evaluations > 0).then_some(())
    })
    .await;

    proxy.cut();
    // The runner re-reads its bot (a settings change) and finds the database gone.
    rt.bot_changed(bot).await;
    until("the readiness signal to drop", || async {
        (!ready.is_ready()).then_some(())
    })
    .await;
    // A start during the outage is refused, not half-done: a runner needs its bot's lease, and
    // only the database can grant it.
    let refused = rt.start_runner(late, opts()).await;
    assert!(
        matches!(refused, Err(tradeplane::runtime::RuntimeError::Database(_))),
        "{refused:?}"
    );
    assert!(
        rt.runner(late).is_none_or(|r| !r.status.is_live()),
        "{:?}",
        rt.runner(late)
    );
    let before = rt.trading_stats().evaluations;
    until("ticks to be waited out", || async {
        (ready.waits() >= 4).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let r = rt.runner(bot).unwrap();
        assert!(
            matches!(r.status, BotStatus::Running | BotStatus::Suspended),
            "{r:?}"
        );
        assert_eq!(r.restart_count, 0, "{r:?}");
        assert_eq!(r.breaker_state, BreakerState::Closed, "{r:?}");
    }
    assert_eq!(rt.trading_stats().evaluations, before, "nothing evaluates");
    assert_eq!(ready.outages(), 1);

    proxy.restore();
    until("the database to be ready", || async {
        ready.is_ready().then_some(())
    })
    .await;
    rt.start_runner(late, opts()).await.unwrap();
    running(&rt, late).await;
    until("both runners to evaluate again", || async {
        (rt.trading_stats().evaluations >= before + 4).then_some(())
    })
    .await;
    runtime.shutdown().await;
    for id in [bot, late] {
        let events = codes(&pool, id).await;
        let names: Vec<&str> = events.iter().map(|(c, _)| c.as_str()).collect();
        for code in [
            "SUPERVISION_CHILD_FAILED",
            "SUPERVISION_START_FAILED",
            "SUPERVISION_CHILD_RESTARTED",
            "CIRCUIT_BREAKER_OPENED",
        ] {
            assert_eq!(count(&events, code), 0, "{code}: {names:?}");
        }
    }
}
