//! Job workers (runtime/jobs.rs) end to end: a real runtime, the sandbox's bars, the HTTP API.
//! Lifecycle with progress events, cancel (queued and running), a worker crash, a heartbeat
//! timeout, and claims that never hand one job to two workers.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use tradeplane::bus::{Delivery, Filter, LiveKind};
use tradeplane::runtime::{JobFault, JobsConfig, RuntimeConfig, jobs as job_workers};
use tradeplane::store::jobs::{self, JobRun, JobStatus, NewJob};

use crate::support::{
    TestApp, envelope, error_code,
    fixtures::{runtime_config, start_sandbox},
    spawn_app_with_runtime_config,
};

async fn app_with_workers(pool: PgPool, workers: usize) -> TestApp {
    let config = RuntimeConfig {
        provider_env: start_sandbox().await,
        jobs: JobsConfig {
            workers,
            poll_every: Duration::from_millis(50),
            heartbeat_every: Duration::from_millis(50),
        },
        ..runtime_config()
    };
    spawn_app_with_runtime_config(pool, config)
        .await
        .signed_in_as_admin()
        .await
}

/// A job that stores a day of ES 5-minute bars from the sandbox.
fn bar_job(day: u32, timeout_seconds: i32) -> NewJob {
    NewJob {
        kind: job_workers::BAR_HISTORY.into(),
        timeout_seconds,
        bot_id: None,
        payload: json!({
            "symbol": "ES", "timeframe": "5m",
            "from": format!("2026-11-{day:02}T00:00:00Z"), "to": format!("2026-11-{:02}T00:00:00Z", day + 1),
        }),
    }
}

async fn submit(app: &TestApp, job: NewJob) -> JobRun {
    job_workers::submit(&app.state.runtime, &app.pool, job)
        .await
        .unwrap()
}

async fn wait_for(app: &TestApp, id: Uuid, status: JobStatus) -> JobRun {
    for _ in 0..400 {
        let job = jobs::get(&app.pool, id).await.unwrap().unwrap();
        if job.status == status {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let job = jobs::get(&app.pool, id).await.unwrap().unwrap();
    panic!("job {id} never became {status:?}: {job:?}");
}

/// `(from, to, reason_code)` of each event, oldest first, and their trace ids.
async fn events(
    app: &TestApp,
    id: Uuid,
) -> (Vec<(Option<String>, String, String)>, HashSet<String>) {
    let (code, body) = app.call("GET", &format!("/api/jobs/{id}"), None).await;
    assert_eq!(code, 200, "{body}");
    let list = body["events"].as_array().unwrap().clone();
    let rows = list
        .iter()
        .map(|e| {
            (
                e["from"].as_str().map(str::to_owned),
                e["to"].as_str().unwrap().to_owned(),
                e["reason_code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let traces = list
        .iter()
        .map(|e| e["trace_id"].as_str().unwrap().to_owned())
        .collect();
    (rows, traces)
}

fn ev(from: Option<&str>, to: &str, reason: &str) -> (Option<String>, String, String) {
    (from.map(str::to_owned), to.to_owned(), reason.to_owned())
}

#[sqlx::test]
async fn a_job_runs_to_success_with_its_progress_on_the_stream(pool: PgPool) {
    let app = app_with_workers(pool, 2).await;
    let bus = app.state.runtime.bus().clone();
    let mark = bus.last_id();
    let job = submit(&app, bar_job(24, 60)).await;
    assert_eq!(job.status, JobStatus::Queued);
    let done = wait_for(&app, job.id, JobStatus::Succeeded).await;
    assert_eq!((done.progress_pct, done.attempts), (100, 1));
    assert!(
        done.claimed_by.as_deref().unwrap().ends_with("/0")
            || done.claimed_by.as_deref().unwrap().ends_with("/1")
    );
    let result = done.result.unwrap();
    // Tuesday 24 Nov: 23 trading hours of 5-minute bars.
    assert_eq!(result["bars"], 23 * 12, "{result}");
    assert_eq!(result["provider"], "databento");
    let (rows, traces) = events(&app, job.id).await;
    assert_eq!(
        rows,
        [
            ev(None, "QUEUED", "CREATED"),
            ev(Some("QUEUED"), "RUNNING", "CLAIMED"),
            ev(Some("RUNNING"), "SUCCEEDED", "COMPLETED"),
        ]
    );
    assert_eq!(traces.len(), 1, "one trace id for the whole job");
    // The job's vendor call is a usage event naming the job as its run.
    let mut calls = 0i64;
    for _ in 0..200 {
        calls = sqlx::query_scalar(
            "SELECT count(*) FROM integration_usage_events WHERE run_id = $1 AND action = 'bars.fetch'",
        )
        .bind(job.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if calls > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(calls, 1);
    // The live stream carried the job from CREATED to COMPLETED.
    let mut sub = bus.subscribe(
        Some(mark),
        Filter {
            kinds: Some(HashSet::from([LiveKind::Job])),
            bot_id: None,
        },
    );
    let mut seen: Vec<Value> = Vec::new();
    while let Ok(Some(Delivery::Event(e))) =
        tokio::time::timeout(Duration::from_millis(100), sub.next()).await
    {
        seen.push(e.data.clone());
    }
    let reasons: Vec<&str> = seen
        .iter()
        .filter_map(|d| d["reason_code"].as_str())
        .collect();
    assert_eq!(reasons, ["CREATED", "CLAIMED", "COMPLETED"], "{seen:?}");
    assert_eq!(seen.last().unwrap()["progress_pct"], 100);
    assert!(seen.iter().all(|d| d["job_id"] == json!(job.id)));
}

#[sqlx::test]
async fn an_operator_cancels_a_queued_job_and_a_finished_one_stays_finished(pool: PgPool) {
    // No workers: jobs stay QUEUED.
    let mut app = app_with_workers(pool, 0).await;
    let viewer = app
        .user_with_role(&app.client, "viewer@example.com", "viewer")
        .await;
    // The viewer's sign-in went through the app's client and ended its session: a new one.
    app.client = app.admin_client().await;
    let admin = app.client.clone();
    let job = submit(&app, bar_job(24, 60)).await;
    let cancel = |client: &reqwest::Client, id: String| {
        let req = client.post(app.url(&format!("/api/jobs/{id}/cancel")));
        async move { envelope(req.send().await.unwrap()).await }
    };
    let (code, body) = cancel(&viewer.client, job.id.to_string()).await;
    assert_eq!((code, error_code(&body)), (403, "FORBIDDEN"), "{body}");
    let (code, body) = cancel(&admin, job.id.to_string()).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["job"]["status"], "CANCELLED");
    assert_eq!(body["job"]["error_code"], "CANCELLED_BY_OPERATOR");
    let (rows, _) = events(&app, job.id).await;
    assert_eq!(
        rows,
        [
            ev(None, "QUEUED", "CREATED"),
            ev(Some("QUEUED"), "CANCELLED", "CANCELLED_BY_OPERATOR"),
        ]
    );
    // Again: it already ended.
    let (code, body) = cancel(&admin, job.id.to_string()).await;
    assert_eq!(
        (code, error_code(&body)),
        (409, "INVALID_STATE_TRANSITION"),
        "{body}"
    );
    assert_eq!(body["error"]["details"]["status"], "CANCELLED", "{body}");
    let (code, body) = cancel(&admin, Uuid::now_v7().to_string()).await;
    assert_eq!((code, error_code(&body)), (404, "JOB_NOT_FOUND"), "{body}");
    let (code, body) = cancel(&admin, "nope".into()).await;
    assert_eq!(
        (code, error_code(&body)),
        (422, "VALIDATION_FAILED"),
        "{body}"
    );
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'job.cancel'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
}

#[sqlx::test]
async fn a_running_job_is_cancelled_and_its_worker_takes_the_next(pool: PgPool) {
    let app = app_with_workers(pool, 1).await;
    let admin = app.client.clone();
    app.state.runtime.inject_job_fault(JobFault::Hang);
    let stuck = submit(&app, bar_job(24, 60)).await;
    wait_for(&app, stuck.id, JobStatus::Running).await;
    let res = admin
        .post(app.url(&format!("/api/jobs/{}/cancel", stuck.id)))
        .send()
        .await
        .unwrap();
    let (code, body) = envelope(res).await;
    assert_eq!(code, 200, "{body}");
    let (rows, _) = events(&app, stuck.id).await;
    assert_eq!(
        rows.last().unwrap(),
        &ev(Some("RUNNING"), "CANCELLED", "CANCELLED_BY_OPERATOR")
    );
    // The only worker dropped it and runs the next job.
    let next = submit(&app, bar_job(25, 60)).await;
    wait_for(&app, next.id, JobStatus::Succeeded).await;
    let cancelled = jobs::get(&app.pool, stuck.id).await.unwrap().unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert_eq!(cancelled.result, None);
}

#[sqlx::test]
async fn a_job_without_heartbeat_times_out(pool: PgPool) {
    let app = app_with_workers(pool, 1).await;
    app.state.runtime.inject_job_fault(JobFault::Hang);
    let stuck = submit(&app, bar_job(24, 1)).await;
    let timed_out = wait_for(&app, stuck.id, JobStatus::Timeout).await;
    assert_eq!(timed_out.error_code.as_deref(), Some("HEARTBEAT_TIMEOUT"));
    let (rows, _) = events(&app, stuck.id).await;
    assert_eq!(
        rows.last().unwrap(),
        &ev(Some("RUNNING"), "TIMEOUT", "HEARTBEAT_TIMEOUT")
    );
    // The worker let go of it.
    let next = submit(&app, bar_job(25, 60)).await;
    wait_for(&app, next.id, JobStatus::Succeeded).await;
}

#[sqlx::test]
async fn a_crashed_workers_job_fails_with_a_code_and_the_worker_comes_back(pool: PgPool) {
    let app = app_with_workers(pool, 1).await;
    app.state.runtime.inject_job_fault(JobFault::Crash);
    let crashed = submit(&app, bar_job(24, 60)).await;
    let failed = wait_for(&app, crashed.id, JobStatus::Failed).await;
    assert_eq!(failed.error_code.as_deref(), Some("JOB_WORKER_CRASHED"));
    assert!(failed.error.unwrap().contains("crashed"));
    let (rows, traces) = events(&app, crashed.id).await;
    assert_eq!(
        rows,
        [
            ev(None, "QUEUED", "CREATED"),
            ev(Some("QUEUED"), "RUNNING", "CLAIMED"),
            ev(Some("RUNNING"), "FAILED", "JOB_WORKER_CRASHED"),
        ]
    );
    assert_eq!(
        traces.len(),
        1,
        "the recovery writes under the job's trace id too"
    );
    // The restarted worker runs the next job.
    let next = submit(&app, bar_job(25, 60)).await;
    wait_for(&app, next.id, JobStatus::Succeeded).await;
}

#[sqlx::test]
async fn concurrent_claims_never_share_a_job(pool: PgPool) {
    for n in 0..5 {
        jobs::create(&pool, bar_job(20 + n, 60)).await.unwrap();
    }
    let claims = (0..12).map(|w| {
        let pool = pool.clone();
        tokio::spawn(async move {
            jobs::claim(&pool, &[job_workers::BAR_HISTORY], &format!("w{w}"))
                .await
                .unwrap()
        })
    });
    let mut won: Vec<Uuid> = Vec::new();
    for c in claims {
        if let Some((job, _)) = c.await.unwrap() {
            assert_eq!((job.status, job.attempts), (JobStatus::Running, 1));
            won.push(job.id);
        }
    }
    assert_eq!(won.len(), 5);
    assert_eq!(won.iter().collect::<HashSet<_>>().len(), 5);
    // Kinds nobody runs are never claimed.
    jobs::create(
        &pool,
        NewJob {
            kind: "other".into(),
            timeout_seconds: 60,
            bot_id: None,
            payload: json!({}),
        },
    )
    .await
    .unwrap();
    assert!(
        jobs::claim(&pool, &[job_workers::BAR_HISTORY], "w")
            .await
            .unwrap()
            .is_none()
    );
}

#[sqlx::test]
async fn a_pool_of_workers_runs_each_job_once(pool: PgPool) {
    let app = app_with_workers(pool, 3).await;
    let mut ids = Vec::new();
    for n in 0..9 {
        ids.push(submit(&app, bar_job(16 + n, 60)).await.id);
    }
    let mut workers: HashMap<String, usize> = HashMap::new();
    for id in &ids {
        let job = wait_for(&app, *id, JobStatus::Succeeded).await;
        assert_eq!(job.attempts, 1);
        *workers.entry(job.claimed_by.unwrap()).or_default() += 1;
        let (rows, _) = events(&app, *id).await;
        assert_eq!(rows.iter().filter(|r| r.2 == "CLAIMED").count(), 1);
    }
    assert!(workers.len() <= 3);
    assert_eq!(app.state.runtime.jobs_claimed(), 9);
}

/// A child and its parent's cancel, serialized on the parent's row: a child finishing after
/// its parent was cancelled is refused (its result is dropped; the cancel cancels it next), and
/// a parent cancelled after its child succeeded finishes after it.
#[sqlx::test]
async fn a_child_never_succeeds_after_its_parent_finished(pool: PgPool) {
    use jobs::TransitionDetails as D;
    let running = async |job: &NewJob, parent: Option<Uuid>| {
        let run = jobs::create(&pool, job.clone()).await.unwrap();
        sqlx::query("UPDATE job_runs SET parent_id = $2 WHERE id = $1")
            .bind(run.id)
            .bind(parent)
            .execute(&pool)
            .await
            .unwrap();
        let (from, to) = (JobStatus::Queued, JobStatus::Running);
        jobs::transition(&pool, run.id, from, to, "CLAIMED", D::default())
            .await
            .unwrap()
    };
    let (running_, done) = (JobStatus::Running, JobStatus::Succeeded);
    let job = bar_job(20, 60);

    let parent = running(&job, None).await;
    let child = running(&job, Some(parent.id)).await;
    jobs::transition(
        &pool,
        parent.id,
        running_,
        JobStatus::Cancelled,
        "CANCELLED_BY_OPERATOR",
        D::default(),
    )
    .await
    .unwrap();
    let late = jobs::transition(&pool, child.id, running_, done, "COMPLETED", D::default()).await;
    assert!(
        matches!(
            late,
            Err(jobs::JobError::InvalidTransition {
                actual: JobStatus::Running,
                ..
            })
        ),
        "{late:?}"
    );
    assert_eq!(
        jobs::get(&pool, child.id).await.unwrap().unwrap().status,
        running_
    );

    // The cancel's transaction began before the child's success, which holds the parent's
    // row: the cancel waits for it and is stamped when it writes, after the child.
    let parent = running(&job, None).await;
    let child = running(&job, Some(parent.id)).await;
    let mut cancel_tx = pool.begin().await.unwrap();
    sqlx::query("SELECT now()")
        .execute(&mut *cancel_tx)
        .await
        .unwrap();
    let mut child_tx = pool.begin().await.unwrap();
    let child = jobs::transition_in(
        &mut child_tx,
        child.id,
        running_,
        done,
        "COMPLETED",
        D::default(),
    )
    .await
    .unwrap();
    let cancel = tokio::spawn(async move {
        let run = jobs::transition_in(
            &mut cancel_tx,
            parent.id,
            JobStatus::Running,
            JobStatus::Cancelled,
            "CANCELLED_BY_OPERATOR",
            D::default(),
        )
        .await
        .unwrap();
        cancel_tx.commit().await.unwrap();
        run
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !cancel.is_finished(),
        "the cancel waits for the child holding the parent's row"
    );
    child_tx.commit().await.unwrap();
    let parent = cancel.await.unwrap();
    assert!(
        parent.finished_at > child.finished_at,
        "{parent:?} {child:?}"
    );
    // A job without a parent succeeds as before.
    let lone = running(&job, None).await;
    jobs::transition(&pool, lone.id, running_, done, "COMPLETED", D::default())
        .await
        .unwrap();
}
