//! The supervision runtime against Postgres: job FSM + timeout worker + `/api/jobs`, runner
//! failures → backoff → breaker → refused restarts, stuck runners → kill latch → re-arm,
//! breaker persistence across a restart, the scheduler's bar clock.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::clock::Clock;
use tradeplane::domain::{bot::BotStatus, breaker::BreakerState, timeframe::Timeframe};
use tradeplane::runtime::lifecycle::Lifecycle;
use tradeplane::runtime::{
    Fault, LoopHealth, RunnerOptions, Runtime, RuntimeConfig, RuntimeError, RuntimeHandle,
    SchedulerConfig,
};
use tradeplane::store::jobs::{self, JobError, JobStatus, NewJob, TransitionDetails};
use tradeplane_actors::Backoff;
use uuid::Uuid;

use crate::support::{
    error_code,
    fixtures::{bot_row, runtime_config as test_config, until},
    spawn_app, spawn_app_with_runtime, spawn_app_with_runtime_config,
};

fn up_as(status: BotStatus, want: BotStatus) -> bool {
    status == want || (want == BotStatus::Running && status == BotStatus::Suspended)
}

/// Waits for `want`; RUNNING also accepts SUSPENDED (a runner that is up but gated: these
/// bots have no market data, so their evaluations are blocked).
async fn status_is(rt: &RuntimeHandle, bot: Uuid, want: BotStatus) {
    until(&format!("{bot} to be {want:?}"), || async {
        up_as(rt.runner(bot)?.status, want).then_some(())
    })
    .await
}

/// `(code, metadata)` of a bot's system events, oldest first.
async fn bot_events(pool: &PgPool, bot: Uuid) -> Vec<(String, Value)> {
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

fn opts() -> RunnerOptions {
    RunnerOptions {
        timeframe: Timeframe::S1,
        live: false,
    }
}

// ---- job FSM ----

#[sqlx::test]
async fn job_fsm_allows_spec_transitions_and_rejects_others(pool: PgPool) {
    let new = || NewJob {
        kind: "backtest".into(),
        timeout_seconds: 60,
        bot_id: None,
        payload: json!({ "bars": 100 }),
    };
    let job = jobs::create(&pool, new()).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    // QUEUED → SUCCEEDED is not in the FSM.
    let err = jobs::transition(
        &pool,
        job.id,
        JobStatus::Queued,
        JobStatus::Succeeded,
        "X",
        Default::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, JobError::InvalidTransition { .. }), "{err}");
    let running = jobs::transition(
        &pool,
        job.id,
        JobStatus::Queued,
        JobStatus::Running,
        "STARTED",
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(running.status, JobStatus::Running);
    assert!(running.started_at.is_some() && running.heartbeat_at.is_some());
    // A stale `from` loses: the job is RUNNING now.
    let err = jobs::transition(
        &pool,
        job.id,
        JobStatus::Queued,
        JobStatus::Cancelled,
        "X",
        Default::default(),
    )
    .await
    .unwrap_err();
    match err {
        JobError::InvalidTransition { actual, .. } => assert_eq!(actual, JobStatus::Running),
        other => panic!("{other}"),
    }
    let done = jobs::transition(
        &pool,
        job.id,
        JobStatus::Running,
        JobStatus::Succeeded,
        "COMPLETED",
        TransitionDetails {
            result: Some(json!({ "pnl": 12 })),
            metadata: Some(json!({ "worker": "w1" })),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert!(done.finished_at.is_some());
    assert_eq!(done.result, Some(json!({ "pnl": 12 })));
    // Terminal states go nowhere.
    for to in [JobStatus::Running, JobStatus::Failed, JobStatus::Cancelled] {
        let err = jobs::transition(
            &pool,
            job.id,
            JobStatus::Succeeded,
            to,
            "X",
            Default::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, JobError::InvalidTransition { .. }));
    }
    let unknown = jobs::transition(
        &pool,
        Uuid::now_v7(),
        JobStatus::Queued,
        JobStatus::Running,
        "X",
        Default::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(unknown, JobError::NotFound(_)));
    // QUEUED → CANCELLED is legal.
    let other = jobs::create(&pool, new()).await.unwrap();
    jobs::transition(
        &pool,
        other.id,
        JobStatus::Queued,
        JobStatus::Cancelled,
        "USER_CANCELLED",
        Default::default(),
    )
    .await
    .unwrap();

    let events = jobs::events(&pool, job.id).await.unwrap();
    let steps: Vec<(Option<JobStatus>, JobStatus, &str)> = events
        .iter()
        .map(|e| (e.from, e.to, e.reason_code.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (None, JobStatus::Queued, "CREATED"),
            (Some(JobStatus::Queued), JobStatus::Running, "STARTED"),
            (Some(JobStatus::Running), JobStatus::Succeeded, "COMPLETED"),
        ]
    );
    assert_eq!(events[2].metadata, json!({ "worker": "w1" }));
    assert!(events.iter().all(|e| e.trace_id.len() == 32));
}

#[sqlx::test]
async fn timeout_worker_times_out_stale_running_jobs(pool: PgPool) {
    let app = spawn_app_with_runtime(pool.clone())
        .await
        .signed_in_as_admin()
        .await;
    // A kind no worker serves: this runtime's backtest workers would claim a `backtest` job
    // between its creation and the test's own QUEUED → RUNNING (seen once in a full run).
    let mk = |timeout_seconds| NewJob {
        kind: "test.hold".into(),
        timeout_seconds,
        bot_id: None,
        payload: json!({}),
    };
    let stale = jobs::create(&pool, mk(5)).await.unwrap();
    let fresh = jobs::create(&pool, mk(3600)).await.unwrap();
    for id in [stale.id, fresh.id] {
        jobs::transition(
            &pool,
            id,
            JobStatus::Queued,
            JobStatus::Running,
            "STARTED",
            Default::default(),
        )
        .await
        .unwrap();
    }
    sqlx::query("UPDATE job_runs SET heartbeat_at = now() - interval '10 seconds' WHERE id = $1")
        .bind(stale.id)
        .execute(&pool)
        .await
        .unwrap();
    // The runtime's scheduler sweeps every 200 ms in tests.
    let body = until("the stale job to time out", || async {
        let (status, body) = app.get_job(&stale.id).await;
        assert_eq!(status, 200);
        (body["job"]["status"] == "TIMEOUT").then_some(body)
    })
    .await;
    let last = body["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["from"], "RUNNING");
    assert_eq!(last["to"], "TIMEOUT");
    assert_eq!(last["reason_code"], "HEARTBEAT_TIMEOUT");
    assert!(body["job"]["finished_at"].is_string());
    let (_, body) = app.get_job(&fresh.id).await;
    assert_eq!(body["job"]["status"], "RUNNING");
    // Written through the batching writer: it lands shortly after.
    until("the JOB_TIMEOUT system event", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM system_events WHERE code = 'JOB_TIMEOUT' AND metadata->>'job_id' = $1",
        )
        .bind(stale.id.to_string())
        .fetch_one(&pool)
        .await
        .unwrap();
        (n == 1).then_some(())
    })
    .await;
    assert!(app.state.runtime.scheduler_health().jobs_timed_out >= 1);
    let (status, body) = app.runtime_status().await;
    assert_eq!(status, 200);
    assert!(body["scheduler"]["jobs_timed_out"].as_u64().unwrap() >= 1);
    assert!(body["telemetry"]["written_system"].as_u64().unwrap() >= 1);
}

#[sqlx::test]
async fn runtime_status_shows_runners_and_unknown_without_a_runtime(pool: PgPool) {
    let detached = spawn_app(pool.clone()).await.signed_in_as_admin().await;
    let (status, body) = detached.runtime_status().await;
    assert_eq!(status, 200);
    assert_eq!(body["scheduler"]["loop_health"], "UNKNOWN");
    assert_eq!(body["runners"], json!([]));

    let app = spawn_app_with_runtime(pool.clone())
        .await
        .signed_in_as_admin()
        .await;
    let bot = bot_row(&pool).await;
    app.state.runtime.start_runner(bot, opts()).await.unwrap();
    status_is(&app.state.runtime, bot, BotStatus::Running).await;
    let body = until("a tick and a heartbeat", || async {
        let (_, body) = app.runtime_status().await;
        (body["scheduler"]["loop_health"] != "UNKNOWN"
            && body["runners"][0]["last_heartbeat_at"].is_string())
        .then_some(body)
    })
    .await;
    let runner = &body["runners"][0];
    assert_eq!(runner["bot_id"], bot.to_string());
    assert!(
        matches!(runner["status"].as_str(), Some("RUNNING" | "SUSPENDED")),
        "{runner}"
    );
    assert_eq!(runner["timeframe"], "1s");
    assert_eq!(runner["breaker_state"], "CLOSED");
    assert_eq!(body["breakers"][0]["scope"], format!("bot:{bot}"));
    assert!(
        matches!(
            body["scheduler"]["loop_health"].as_str(),
            Some("OK" | "LAGGING")
        ),
        "{body}"
    );
}

#[sqlx::test]
async fn jobs_endpoints_paginate_filter_and_report_unknown_ids(pool: PgPool) {
    for i in 0..5 {
        let job = jobs::create(
            &pool,
            NewJob {
                kind: if i % 2 == 0 { "backtest" } else { "scoring" }.into(),
                timeout_seconds: 60,
                bot_id: None,
                payload: json!({ "i": i }),
            },
        )
        .await
        .unwrap();
        if i == 4 {
            jobs::transition(
                &pool,
                job.id,
                JobStatus::Queued,
                JobStatus::Running,
                "STARTED",
                Default::default(),
            )
            .await
            .unwrap();
        }
    }
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=2&cursor={c}"),
            None => "limit=2".into(),
        };
        let (status, body) = app.list_jobs(&query).await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|j| j["payload"]["i"].as_i64().unwrap()));
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, vec![4, 3, 2, 1, 0], "newest first, each once");

    let (_, body) = app.list_jobs("kind=backtest").await;
    assert_eq!(body["items"].as_array().unwrap().len(), 3);
    let (_, body) = app.list_jobs("status=RUNNING").await;
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["payload"]["i"], 4);
    let (_, body) = app
        .list_jobs("from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z")
        .await;
    assert!(body["items"].as_array().unwrap().is_empty());

    let (status, body) = app.list_jobs("status=EXPLODED").await;
    assert_eq!(status, 422);
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    let (status, body) = app.list_jobs("limit=0").await;
    assert_eq!(status, 422, "{body}");

    let (status, body) = app.get_job(Uuid::now_v7()).await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "JOB_NOT_FOUND");
    let (status, body) = app.get_job("not-a-uuid").await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"]["field"], "id");
}

// ---- runners ----

#[sqlx::test]
async fn a_start_past_max_bots_is_refused_and_the_bot_shows_why(pool: PgPool) {
    let config = RuntimeConfig {
        max_bots: Some(1),
        ..test_config()
    };
    let runtime = Runtime::start(pool.clone(), config).await.unwrap();
    let rt = runtime.handle();
    let (first, second) = (bot_row(&pool).await, bot_row(&pool).await);
    rt.start_runner(first, opts()).await.unwrap();
    status_is(&rt, first, BotStatus::Running).await;
    match rt.start_runner(second, opts()).await {
        Err(RuntimeError::Supervisor(e)) => assert!(e.to_string().contains("limit of 1"), "{e}"),
        other => panic!("{other:?}"),
    }
    let refused = rt.runner(second).unwrap();
    assert_eq!(refused.status, BotStatus::Error);
    assert!(refused.last_error.unwrap().contains("limit of 1"));
    // Room again once the first stops.
    rt.stop_runner(first).await.unwrap();
    rt.start_runner(second, opts()).await.unwrap();
    status_is(&rt, second, BotStatus::Running).await;
}

#[sqlx::test]
async fn failing_runner_backs_off_then_breaker_opens_and_restarts_are_refused(pool: PgPool) {
    let runtime = Runtime::start(pool.clone(), test_config()).await.unwrap();
    let rt = runtime.handle();
    let bot = bot_row(&pool).await;
    rt.start_runner(bot, opts()).await.unwrap();
    status_is(&rt, bot, BotStatus::Running).await;
    assert!(matches!(
        rt.start_runner(bot, opts()).await,
        Err(RuntimeError::AlreadyRunning(_))
    ));

    for n in 1..=3u32 {
        rt.inject_fault(bot, Fault::Fail(format!("injected failure {n}")))
            .await
            .unwrap();
        if n < 3 {
            until("the restart", || async {
                let r = rt.runner(bot)?;
                (up_as(r.status, BotStatus::Running) && r.restart_count == n).then_some(())
            })
            .await;
        }
    }
    status_is(&rt, bot, BotStatus::Error).await;
    let runner = rt.runner(bot).unwrap();
    assert_eq!(runner.breaker_state, BreakerState::Open);
    assert_eq!(runner.restart_count, 2);
    assert!(runner.last_error.unwrap().contains("restart refused"));
    // A manual start is refused too while the breaker is open.
    match rt.start_runner(bot, opts()).await {
        Err(RuntimeError::BreakerOpen(b, retry)) => {
            assert_eq!(b, bot);
            assert!(retry > Duration::ZERO);
        }
        other => panic!("{other:?}"),
    }
    // Nothing restarts it behind our back.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rt.runner(bot).unwrap().status, BotStatus::Error);
    assert_eq!(rt.runner(bot).unwrap().restart_count, 2);

    runtime.shutdown().await;
    let events = bot_events(&pool, bot).await;
    let codes: Vec<&str> = events.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(count(&events, "SUPERVISION_CHILD_STARTED"), 1, "{codes:?}");
    assert_eq!(count(&events, "SUPERVISION_CHILD_FAILED"), 3, "{codes:?}");
    assert_eq!(
        count(&events, "SUPERVISION_CHILD_RESTARTED"),
        2,
        "{codes:?}"
    );
    assert_eq!(count(&events, "CIRCUIT_BREAKER_OPENED"), 1, "{codes:?}");
    assert_eq!(count(&events, "BOT_RESTART_REFUSED"), 1, "{codes:?}");
    // Backoff grows: 100 ms, then 200 ms.
    let delays: Vec<u64> = events
        .iter()
        .filter(|(c, _)| c == "SUPERVISION_RESTART_SCHEDULED")
        .map(|(_, m)| m["backoff_ms"].as_u64().unwrap())
        .collect();
    assert!(delays.len() >= 2, "{codes:?}");
    assert_eq!(&delays[..2], &[100, 200]);
    // The breaker opened on the third failure, and nothing restarted after it.
    let opened = codes
        .iter()
        .position(|c| *c == "CIRCUIT_BREAKER_OPENED")
        .unwrap();
    let third_failure = codes
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == "SUPERVISION_CHILD_FAILED")
        .nth(2)
        .unwrap()
        .0;
    assert!(opened > third_failure, "{codes:?}");
    assert!(
        !codes[opened..].contains(&"SUPERVISION_CHILD_RESTARTED"),
        "{codes:?}"
    );
    let opened_meta = &events[opened].1;
    assert_eq!(opened_meta["to"], "open");
    let traces: Vec<String> =
        sqlx::query_scalar("SELECT trace_id FROM system_events WHERE bot_id = $1")
            .bind(bot)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(traces.iter().all(|t| t.len() == 32));

    // Mirrored in Postgres.
    let (status, restarts, error): (String, i32, Option<String>) = sqlx::query_as(
        "SELECT status, restart_count, last_error FROM bot_instances WHERE bot_id = $1",
    )
    .bind(bot)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), restarts), ("ERROR", 2));
    assert!(error.unwrap().contains("restart refused"));
    let state: String = sqlx::query_scalar("SELECT state FROM circuit_breakers WHERE scope = $1")
        .bind(format!("bot:{bot}"))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "OPEN");
}

#[sqlx::test]
async fn open_breaker_survives_a_restart(pool: PgPool) {
    let bot = bot_row(&pool).await;
    let first = Runtime::start(pool.clone(), test_config()).await.unwrap();
    let rt = first.handle();
    rt.start_runner(bot, opts()).await.unwrap();
    for n in 1..=3u32 {
        status_is(&rt, bot, BotStatus::Running).await;
        rt.inject_fault(bot, Fault::Fail(format!("boom {n}")))
            .await
            .unwrap();
        if n < 3 {
            until("the restart", || async {
                (rt.runner(bot)?.restart_count == n).then_some(())
            })
            .await;
        }
    }
    status_is(&rt, bot, BotStatus::Error).await;
    first.shutdown().await;

    // A new process on the same database.
    let second = Runtime::start(pool.clone(), test_config()).await.unwrap();
    let rt = second.handle();
    let breaker = rt
        .breakers()
        .into_iter()
        .find(|b| b.scope == format!("bot:{bot}"))
        .expect("restored breaker");
    assert_eq!(breaker.state, BreakerState::Open);
    assert_eq!(breaker.failures_in_window, 3);
    assert!(matches!(
        rt.start_runner(bot, opts()).await,
        Err(RuntimeError::BreakerOpen(..))
    ));
    // Another bot is unaffected.
    let other = bot_row(&pool).await;
    rt.start_runner(other, opts()).await.unwrap();
    status_is(&rt, other, BotStatus::Running).await;
    second.shutdown().await;
}

#[sqlx::test]
async fn a_restarted_runner_breaker_keeps_its_failure_window(pool: PgPool) {
    let runtime = Runtime::start(pool.clone(), test_config()).await.unwrap();
    let rt = runtime.handle();
    let bot = bot_row(&pool).await;
    rt.start_runner(bot, opts()).await.unwrap();
    for n in 1..=2u32 {
        status_is(&rt, bot, BotStatus::Running).await;
        rt.inject_fault(bot, Fault::Fail(format!("boom {n}")))
            .await
            .unwrap();
        until("the restart", || async {
            (rt.runner(bot)?.restart_count == n).then_some(())
        })
        .await;
    }
    let scope = format!("bot:{bot}");
    let breaker = || {
        rt.breakers()
            .into_iter()
            .find(|b| b.scope == scope)
            .expect("the bot's breaker")
    };
    until("two failures in the window", || async {
        (breaker().failures_in_window == 2).then_some(())
    })
    .await;

    assert!(rt.kill_breaker(&scope), "the bot's breaker actor runs");
    until("the breaker actor's restart", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM system_events WHERE code = 'SUPERVISION_CHILD_RESTARTED'
             AND metadata->>'child' = $1",
        )
        .bind(format!("breaker:{scope}"))
        .fetch_one(&pool)
        .await
        .unwrap();
        (n == 1).then_some(())
    })
    .await;
    // Neither the window nor the runner were touched by the breaker's restart.
    let after = breaker();
    assert_eq!(
        (after.state.as_str(), after.failures_in_window),
        ("CLOSED", 2)
    );
    status_is(&rt, bot, BotStatus::Running).await;
    assert_eq!(rt.runner(bot).unwrap().restart_count, 2);

    // One more failure opens it.
    rt.inject_fault(bot, Fault::Fail("boom 3".into()))
        .await
        .unwrap();
    status_is(&rt, bot, BotStatus::Error).await;
    let runner = rt.runner(bot).unwrap();
    assert_eq!(runner.breaker_state, BreakerState::Open);
    assert_eq!(runner.restart_count, 2);
    assert!(matches!(
        rt.start_runner(bot, opts()).await,
        Err(RuntimeError::BreakerOpen(..))
    ));
    runtime.shutdown().await;
    let events = bot_events(&pool, bot).await;
    assert_eq!(count(&events, "CIRCUIT_BREAKER_OPENED"), 1);
    assert_eq!(count(&events, "BOT_RESTART_REFUSED"), 1);
}

#[sqlx::test]
async fn stuck_runner_is_restarted_then_killed_latched_and_rearmed(pool: PgPool) {
    let runtime = Runtime::start(pool.clone(), test_config()).await.unwrap();
    let rt = runtime.handle();
    let bot = bot_row(&pool).await;
    rt.start_runner(bot, opts()).await.unwrap();
    status_is(&rt, bot, BotStatus::Running).await;
    // Heartbeat written by the batched flush.
    until("a heartbeat in bot_instances", || async {
        let at: Option<Option<chrono::DateTime<chrono::Utc>>> =
            sqlx::query_scalar("SELECT last_heartbeat_at FROM bot_instances WHERE bot_id = $1")
                .bind(bot)
                .fetch_optional(&pool)
                .await
                .unwrap();
        at.flatten()
    })
    .await;

    // Stops beating (and stays that way across restarts).
    rt.inject_fault(bot, Fault::Mute(true)).await.unwrap();
    status_is(&rt, bot, BotStatus::Killed).await;
    let runner = rt.runner(bot).unwrap();
    assert_eq!(runner.restart_count, 1, "restarted once before the kill");
    assert!(runner.kill_reason.unwrap().contains("stuck"));
    match rt.start_runner(bot, opts()).await {
        Err(RuntimeError::Killed(..)) => {}
        other => panic!("{other:?}"),
    }
    until("the KILLED latch in bot_instances", || async {
        let s: Option<String> =
            sqlx::query_scalar("SELECT status FROM bot_instances WHERE bot_id = $1")
                .bind(bot)
                .fetch_optional(&pool)
                .await
                .unwrap();
        (s.as_deref() == Some("KILLED")).then_some(())
    })
    .await;
    // It stays killed.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rt.runner(bot).unwrap().status, BotStatus::Killed);

    rt.rearm(bot, "test-operator").await.unwrap();
    assert!(matches!(
        rt.rearm(bot, "again").await,
        Err(RuntimeError::NotKilled(_))
    ));
    assert_eq!(rt.runner(bot).unwrap().status, BotStatus::Stopped);
    rt.start_runner(bot, opts()).await.unwrap();
    status_is(&rt, bot, BotStatus::Running).await;
    rt.stop_runner(bot).await.unwrap();
    status_is(&rt, bot, BotStatus::Stopped).await;

    runtime.shutdown().await;
    let events = bot_events(&pool, bot).await;
    let codes: Vec<&str> = events.iter().map(|(c, _)| c.as_str()).collect();
    assert!(count(&events, "HEARTBEAT_TIMEOUT") >= 2, "{codes:?}");
    assert_eq!(count(&events, "BOT_KILLED"), 1, "{codes:?}");
    assert_eq!(count(&events, "BOT_REARMED"), 1, "{codes:?}");
    let killed = codes.iter().position(|c| *c == "BOT_KILLED").unwrap();
    let first_restart = codes
        .iter()
        .position(|c| *c == "SUPERVISION_CHILD_RESTARTED")
        .unwrap();
    assert!(first_restart < killed, "{codes:?}");
    let severity: String = sqlx::query_scalar(
        "SELECT severity FROM system_events WHERE bot_id = $1 AND code = 'BOT_KILLED'",
    )
    .bind(bot)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(severity, "SEV-1");
}

/// The flaky "start after re-arm" (409 "The bot is KILLED"): a writer pass that read a KILLED
/// slot and is still writing when an operator re-arms the bot must not mirror KILLED back over
/// the re-arm's STOPPED. The pass is held mid-write by a lock on `bot_instances`; the re-arm's
/// row write waits for it, so KILLED lands first and STOPPED last.
#[sqlx::test]
async fn a_writer_pass_holding_a_stale_killed_status_cannot_undo_a_rearm(pool: PgPool) {
    let runtime = Runtime::start(pool.clone(), test_config()).await.unwrap();
    let rt = runtime.handle();
    let lifecycle = Lifecycle::new(pool.clone(), rt.clone(), rt.integrations());
    let bot = bot_row(&pool).await;
    let killed = lifecycle.kill(bot, Some("drill"), "test").await.unwrap();
    assert_eq!(killed.bot.status, BotStatus::Killed);
    let instance_status = |pool: PgPool| async move {
        sqlx::query_scalar::<_, BotStatus>("SELECT status FROM bot_instances WHERE bot_id = $1")
            .bind(bot)
            .fetch_optional(&pool)
            .await
            .unwrap()
    };
    until("the KILLED latch in bot_instances", || async {
        (instance_status(pool.clone()).await == Some(BotStatus::Killed)).then_some(())
    })
    .await;

    // The writer's next pass reads the KILLED slot, then waits on the lock to write it.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE bot_instances IN EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    rt.kill(bot, "again"); // already latched: only queues the bot's row again
    until("the writer's pass to wait on bot_instances", || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO bot_instances%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (waiting == 1).then_some(())
    })
    .await;

    let rearm = tokio::spawn({
        let lifecycle = lifecycle.clone();
        async move { lifecycle.rearm(bot, "ops").await }
    });
    // The runtime is re-armed at once; its row write waits for the pass in flight.
    until("the slot to be re-armed", || async {
        (rt.runner(bot)?.status == BotStatus::Stopped).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !rearm.is_finished(),
        "the re-arm wrote bots.status while a pass holding KILLED was still writing"
    );
    blocker.commit().await.unwrap();
    let rearmed = rearm.await.unwrap().unwrap();
    assert_eq!(rearmed.status, BotStatus::Stopped);

    // The stale pass is done once a later one has written the STOPPED instance.
    until("the STOPPED instance in bot_instances", || async {
        (instance_status(pool.clone()).await == Some(BotStatus::Stopped)).then_some(())
    })
    .await;
    let row = tradeplane::store::bots::get(&pool, bot)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.status,
        BotStatus::Stopped,
        "the mirror put a stale status back"
    );
    runtime.shutdown().await;
}

#[sqlx::test]
async fn hung_runner_is_killed_and_risk_kill_latches(pool: PgPool) {
    let runtime = Runtime::start(pool.clone(), test_config()).await.unwrap();
    let rt = runtime.handle();
    // A runner blocked in a handler ignores its stop: killed at once.
    let hung = bot_row(&pool).await;
    rt.start_runner(hung, opts()).await.unwrap();
    status_is(&rt, hung, BotStatus::Running).await;
    rt.inject_fault(hung, Fault::Hang(Duration::from_secs(30)))
        .await
        .unwrap();
    status_is(&rt, hung, BotStatus::Killed).await;
    assert!(
        rt.runner(hung)
            .unwrap()
            .kill_reason
            .unwrap()
            .contains("ignored its stop")
    );

    // The risk hook: a running bot is stopped and latched.
    let risky = bot_row(&pool).await;
    rt.start_runner(risky, opts()).await.unwrap();
    status_is(&rt, risky, BotStatus::Running).await;
    rt.kill(risky, "daily loss limit breached");
    assert_eq!(rt.runner(risky).unwrap().status, BotStatus::Killed);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rt.runner(risky).unwrap().status, BotStatus::Killed);
    assert!(matches!(
        rt.inject_fault(risky, Fault::Fail("x".into())).await,
        Err(RuntimeError::NotFound(_))
    ));
    runtime.shutdown().await;

    // The latch survives a restart.
    let again = Runtime::start(pool.clone(), test_config()).await.unwrap();
    let rt = again.handle();
    assert_eq!(rt.runner(risky).unwrap().status, BotStatus::Killed);
    assert!(matches!(
        rt.start_runner(risky, opts()).await,
        Err(RuntimeError::Killed(..))
    ));
    rt.rearm(risky, "ops").await.unwrap();
    rt.start_runner(risky, opts()).await.unwrap();
    status_is(&rt, risky, BotStatus::Running).await;
    again.shutdown().await;
}

#[sqlx::test]
async fn scheduler_ticks_on_bar_boundaries_and_reports_health(pool: PgPool) {
    let runtime = Runtime::start(pool, test_config()).await.unwrap();
    let rt = runtime.handle();
    let mut ticks = rt.ticks();
    let tick = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            let t = ticks.recv().await.unwrap();
            if t.timeframe == Timeframe::S1 {
                return t;
            }
        }
    })
    .await
    .unwrap();
    let ms = tick
        .bar_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert_eq!(ms % 1000, 0, "aligned to the second");
    assert!(tick.fired_at >= tick.bar_at);
    let health = rt.scheduler_health();
    assert!(health.ticks >= 1);
    assert!(health.last_tick_at.is_some());
    assert!(
        matches!(health.loop_health, LoopHealth::Ok | LoopHealth::Lagging),
        "{health:?}"
    );
    runtime.shutdown().await;
}

/// One clock for the tree and the API: a manual one moves the bar clock (the first boundary
/// it passes ticks, the skipped ones count as missed), stamps the events and the sessions.
#[sqlx::test]
async fn the_bar_clock_and_every_stamp_follow_the_injected_clock(pool: PgPool) {
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let clock = Clock::manual(at("2026-11-25T15:00:00.500Z"));
    let config = RuntimeConfig {
        clock: clock.clone(),
        scheduler: SchedulerConfig {
            timeframes: vec![Timeframe::M1],
            ..test_config().scheduler
        },
        ..test_config()
    };
    let app = spawn_app_with_runtime_config(pool.clone(), config)
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let mut ticks = rt.ticks();
    let mut next_tick = async || {
        let t = tokio::time::timeout(Duration::from_secs(3), ticks.recv())
            .await
            .expect("a tick")
            .unwrap();
        (
            DateTime::<Utc>::from(t.bar_at),
            DateTime::<Utc>::from(t.fired_at),
        )
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rt.scheduler_health().ticks, 0, "ticked on a frozen clock");

    clock.advance(TimeDelta::minutes(1));
    assert_eq!(
        next_tick().await,
        (at("2026-11-25T15:01:00Z"), at("2026-11-25T15:01:00.500Z"))
    );
    // A jump over ten boundaries: one tick for the first, nine missed, none replayed.
    clock.advance(TimeDelta::minutes(10));
    assert_eq!(next_tick().await.0, at("2026-11-25T15:02:00Z"));
    clock.advance(TimeDelta::minutes(1));
    assert_eq!(next_tick().await.0, at("2026-11-25T15:12:00Z"));
    let h = rt.scheduler_health();
    assert_eq!((h.ticks, h.missed_ticks), (3, 9));
    assert_eq!(h.last_tick_at, Some(at("2026-11-25T15:12:00.500Z")));

    // The API reads the same clock: its status shows the manual tick time, and the runtime's
    // own events are stamped on it.
    let (_, body) = app.runtime_status().await;
    assert_eq!(
        body["scheduler"]["last_tick_at"],
        "2026-11-25T15:12:00.500Z"
    );
    let started: DateTime<Utc> = until("RUNTIME_STARTED written", || async {
        sqlx::query_scalar("SELECT created_at FROM system_events WHERE code = 'RUNTIME_STARTED'")
            .fetch_optional(&pool)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(started, at("2026-11-25T15:00:00.500Z"));
    assert_eq!(app.state.clock.now(), clock.now());
}

#[sqlx::test]
async fn without_backoff_a_restart_racing_the_refusal_starts_nothing(pool: PgPool) {
    // Backoff::NONE restarts inline, before the refusal reaches the supervisor: the start
    // function's own admission check must refuse it.
    let mut config = test_config();
    config.runner.backoff = Backoff::NONE;
    let runtime = Runtime::start(pool.clone(), config).await.unwrap();
    let rt = runtime.handle();
    let bot = bot_row(&pool).await;
    rt.start_runner(bot, opts()).await.unwrap();
    for n in 1..=3u32 {
        status_is(&rt, bot, BotStatus::Running).await;
        rt.inject_fault(bot, Fault::Fail(format!("boom {n}")))
            .await
            .unwrap();
        if n < 3 {
            until("the restart", || async {
                (rt.runner(bot)?.restart_count >= n).then_some(())
            })
            .await;
        }
    }
    status_is(&rt, bot, BotStatus::Error).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let runner = rt.runner(bot).unwrap();
    assert_eq!(runner.status, BotStatus::Error);
    assert_eq!(runner.breaker_state, BreakerState::Open);
    assert_eq!(
        runner.restart_count, 2,
        "the refused stand-in is not a restart"
    );
    assert!(matches!(
        rt.inject_fault(bot, Fault::Fail("x".into())).await,
        Err(RuntimeError::NotFound(_))
    ));
    runtime.shutdown().await;
}

#[sqlx::test]
async fn an_opening_breaker_kills_a_live_bot(pool: PgPool) {
    let runtime = Runtime::start(pool.clone(), test_config()).await.unwrap();
    let rt = runtime.handle();
    let bot = bot_row(&pool).await;
    let live = RunnerOptions {
        timeframe: Timeframe::M1,
        live: true,
    };
    rt.start_runner(bot, live).await.unwrap();
    for n in 1..=3u32 {
        status_is(&rt, bot, BotStatus::Running).await;
        rt.inject_fault(bot, Fault::Fail(format!("broker rejected {n}")))
            .await
            .unwrap();
        if n < 3 {
            until("the restart", || async {
                (rt.runner(bot)?.restart_count == n).then_some(())
            })
            .await;
        }
    }
    status_is(&rt, bot, BotStatus::Killed).await;
    let runner = rt.runner(bot).unwrap();
    assert!(runner.kill_reason.unwrap().contains("LIVE"));
    assert!(runner.live);
    runtime.shutdown().await;
    let events = bot_events(&pool, bot).await;
    assert_eq!(count(&events, "BOT_KILLED"), 1);
    assert_eq!(count(&events, "BOT_RESTART_REFUSED"), 0);
    assert_eq!(count(&events, "CIRCUIT_BREAKER_OPENED"), 1);
}
