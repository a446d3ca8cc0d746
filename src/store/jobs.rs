//! `job_runs` + `job_run_events`: the job FSM of SPEC §2. Every transition is a conditional
//! update (`WHERE status = $from`) and writes its event row in the same transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::page::{Cursor, Page, TimeRange, push_window};
use crate::trace::TraceId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Timeout,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Timeout,
        JobStatus::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "QUEUED",
            JobStatus::Running => "RUNNING",
            JobStatus::Succeeded => "SUCCEEDED",
            JobStatus::Failed => "FAILED",
            JobStatus::Timeout => "TIMEOUT",
            JobStatus::Cancelled => "CANCELLED",
        }
    }

    /// SPEC §2: QUEUED → RUNNING → SUCCEEDED | FAILED | TIMEOUT | CANCELLED; QUEUED → CANCELLED.
    pub const fn can_become(self, to: JobStatus) -> bool {
        matches!(
            (self, to),
            (JobStatus::Queued, JobStatus::Running)
                | (JobStatus::Queued, JobStatus::Cancelled)
                | (
                    JobStatus::Running,
                    JobStatus::Succeeded
                        | JobStatus::Failed
                        | JobStatus::Timeout
                        | JobStatus::Cancelled
                )
        )
    }

    pub const fn is_terminal(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct JobRun {
    pub id: Uuid,
    pub kind: String,
    pub status: JobStatus,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub timeout_seconds: i32,
    pub bot_id: Option<Uuid>,
    pub payload: Value,
    pub result: Option<Value>,
    pub error: Option<String>,
    /// The code of a FAILED/TIMEOUT/CANCELLED job's reason (the catalog's, or a job reason).
    pub error_code: Option<String>,
    /// 0–100, reported by the worker running it.
    pub progress_pct: i16,
    /// How many times a worker claimed it.
    pub attempts: i32,
    /// The worker that claimed it (`<node>/<runtime>/<n>`).
    pub claimed_by: Option<String>,
    /// The parent job (a sweep's) of a child backtest job.
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct JobRunEvent {
    pub id: Uuid,
    pub job_id: Uuid,
    /// Absent on the creation event.
    pub from: Option<JobStatus>,
    pub to: JobStatus,
    pub reason_code: String,
    pub trace_id: String,
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("no job with id {0}")]
    NotFound(Uuid),
    #[error("job is {}; {} → {} is not allowed", actual.as_str(), from.as_str(), to.as_str())]
    InvalidTransition {
        actual: JobStatus,
        from: JobStatus,
        to: JobStatus,
    },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A job to create (QUEUED).
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub timeout_seconds: i32,
    pub bot_id: Option<Uuid>,
    pub payload: Value,
}

/// What a transition carries besides the new status.
#[derive(Debug, Clone, Default)]
pub struct TransitionDetails {
    pub metadata: Option<Value>,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub error_code: Option<String>,
}

async fn insert_event(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    job_id: Uuid,
    from: Option<JobStatus>,
    to: JobStatus,
    reason_code: &str,
    metadata: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO job_run_events (id, job_id, \"from\", \"to\", reason_code, trace_id, metadata) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(Uuid::now_v7())
    .bind(job_id)
    .bind(from.map(JobStatus::as_str))
    .bind(to.as_str())
    .bind(reason_code)
    .bind(TraceId::current().as_str())
    .bind(metadata)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Creates a QUEUED job and its creation event (`from` null, reason `CREATED`).
pub async fn create(pool: &PgPool, job: NewJob) -> Result<JobRun, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let run = create_in(&mut tx, job).await?;
    tx.commit().await?;
    Ok(run)
}

/// [`create`] inside the caller's transaction (a job and the row it works for land together).
pub async fn create_in(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    job: NewJob,
) -> Result<JobRun, sqlx::Error> {
    let run: JobRun = sqlx::query_as(
        "INSERT INTO job_runs (id, kind, status, timeout_seconds, bot_id, payload) \
         VALUES ($1, $2, 'QUEUED', $3, $4, $5) RETURNING *",
    )
    .bind(Uuid::now_v7())
    .bind(&job.kind)
    .bind(job.timeout_seconds)
    .bind(job.bot_id)
    .bind(&job.payload)
    .fetch_one(&mut **tx)
    .await?;
    insert_event(
        tx,
        run.id,
        None,
        JobStatus::Queued,
        "CREATED",
        Value::Object(Default::default()),
    )
    .await?;
    Ok(run)
}

/// Moves a job `from` → `to` atomically: refused (`InvalidTransition`) when the FSM forbids it
/// or when the job is no longer in `from` (another writer won). The event row is written in
/// the same transaction.
pub async fn transition(
    pool: &PgPool,
    id: Uuid,
    from: JobStatus,
    to: JobStatus,
    reason_code: &str,
    details: TransitionDetails,
) -> Result<JobRun, JobError> {
    let mut tx = pool.begin().await?;
    match transition_in(&mut tx, id, from, to, reason_code, details).await {
        Ok(run) => {
            tx.commit().await?;
            Ok(run)
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

/// [`transition`] inside the caller's transaction: what the job produced and its final
/// status commit together, or neither does.
pub async fn transition_in(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    id: Uuid,
    from: JobStatus,
    to: JobStatus,
    reason_code: &str,
    details: TransitionDetails,
) -> Result<JobRun, JobError> {
    let refused = |actual: JobStatus| JobError::InvalidTransition { actual, from, to };
    if !from.can_become(to) {
        let now = status_in(tx, id).await?.ok_or(JobError::NotFound(id))?;
        return Err(refused(now));
    }
    // A child (a sweep's backtest) succeeds only under a parent still running: the check
    // holds the parent's row (FOR SHARE) until this transaction ends, so a parent's cancel
    // either comes first and the child's result is refused (its children are cancelled next),
    // or waits for the child and finishes after it.
    if to == JobStatus::Succeeded {
        let parent_done: Option<bool> = sqlx::query_scalar(
            "SELECT p.status <> 'RUNNING' FROM job_runs c JOIN job_runs p ON p.id = c.parent_id \
             WHERE c.id = $1 FOR SHARE OF p",
        )
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
        if parent_done == Some(true) {
            let now = status_in(tx, id).await?.ok_or(JobError::NotFound(id))?;
            return Err(refused(now));
        }
    }
    // Finished at the moment the row is written (after any lock wait), not when the
    // transaction began: a parent cancelled after its child succeeded finishes after it.
    let updated: Option<JobRun> = sqlx::query_as(
        "UPDATE job_runs SET status = $3, \
             started_at   = CASE WHEN $3 = 'RUNNING' THEN now() ELSE started_at END, \
             heartbeat_at = CASE WHEN $3 = 'RUNNING' THEN now() ELSE heartbeat_at END, \
             finished_at  = CASE WHEN $3 IN ('SUCCEEDED', 'FAILED', 'TIMEOUT', 'CANCELLED') THEN clock_timestamp() ELSE finished_at END, \
             progress_pct = CASE WHEN $3 = 'SUCCEEDED' THEN 100 ELSE progress_pct END, \
             result = COALESCE($4, result), error = COALESCE($5, error), \
             error_code = COALESCE($6, error_code) \
         WHERE id = $1 AND status = $2 RETURNING *",
    )
    .bind(id)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(&details.result)
    .bind(&details.error)
    .bind(&details.error_code)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(run) = updated else {
        let now = status_in(tx, id).await?.ok_or(JobError::NotFound(id))?;
        return Err(refused(now));
    };
    insert_event(
        tx,
        id,
        Some(from),
        to,
        reason_code,
        details
            .metadata
            .unwrap_or_else(|| Value::Object(Default::default())),
    )
    .await?;
    Ok(run)
}

async fn status_in(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    id: Uuid,
) -> Result<Option<JobStatus>, sqlx::Error> {
    sqlx::query_scalar("SELECT status FROM job_runs WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// A RUNNING job reports progress. `false` when the job is not RUNNING (or unknown).
pub async fn heartbeat(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE job_runs SET heartbeat_at = now() WHERE id = $1 AND status = 'RUNNING'",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The timeout worker's sweep: every RUNNING job whose heartbeat is older than its timeout
/// becomes TIMEOUT with reason `HEARTBEAT_TIMEOUT`, with its event rows, in one transaction
/// (two statements). Returns the jobs timed out.
pub async fn time_out_stale(pool: &PgPool) -> Result<Vec<JobRun>, sqlx::Error> {
    let trace_id = TraceId::current();
    let mut tx = pool.begin().await?;
    let stale: Vec<JobRun> = sqlx::query_as(
        "UPDATE job_runs SET status = 'TIMEOUT', finished_at = now(), \
             error = COALESCE(error, 'no heartbeat within the job timeout'), \
             error_code = COALESCE(error_code, 'HEARTBEAT_TIMEOUT') \
         WHERE status = 'RUNNING' \
           AND COALESCE(heartbeat_at, started_at, created_at) \
               < now() - make_interval(secs => timeout_seconds) \
         RETURNING *",
    )
    .fetch_all(&mut *tx)
    .await?;
    if !stale.is_empty() {
        let ids: Vec<Uuid> = stale.iter().map(|_| Uuid::now_v7()).collect();
        let jobs: Vec<Uuid> = stale.iter().map(|j| j.id).collect();
        let metadata: Vec<Value> = stale
            .iter()
            .map(|j| {
                serde_json::json!({
                    "heartbeat_at": j.heartbeat_at,
                    "timeout_seconds": j.timeout_seconds,
                })
            })
            .collect();
        sqlx::query(
            "INSERT INTO job_run_events (id, job_id, \"from\", \"to\", reason_code, trace_id, metadata) \
             SELECT id, job_id, 'RUNNING', 'TIMEOUT', 'HEARTBEAT_TIMEOUT', $3, metadata \
             FROM UNNEST($1::uuid[], $2::uuid[], $4::jsonb[]) AS u(id, job_id, metadata)",
        )
        .bind(ids)
        .bind(jobs)
        .bind(trace_id.as_str())
        .bind(metadata)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(stale)
}

/// Claims the oldest QUEUED job of one of `kinds` for `worker`: RUNNING, `attempts` + 1, with
/// its event (`CLAIMED`, under the trace id the job was created with, which it returns).
/// `FOR UPDATE SKIP LOCKED`: concurrent claimers (any node) never take the same job and never
/// wait on each other. `None` when nothing is queued.
pub async fn claim(
    pool: &PgPool,
    kinds: &[&str],
    worker: &str,
) -> Result<Option<(JobRun, TraceId)>, sqlx::Error> {
    claim_where(pool, kinds, None, worker).await
}

/// [`claim`] limited to the QUEUED children of `parent` (a sweep's worker running its own
/// children; other workers may claim the same children through [`claim`]: SKIP LOCKED keeps
/// each with one of them).
pub async fn claim_child(
    pool: &PgPool,
    kinds: &[&str],
    parent: Uuid,
    worker: &str,
) -> Result<Option<(JobRun, TraceId)>, sqlx::Error> {
    claim_where(pool, kinds, Some(parent), worker).await
}

async fn claim_where(
    pool: &PgPool,
    kinds: &[&str],
    parent: Option<Uuid>,
    worker: &str,
) -> Result<Option<(JobRun, TraceId)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let claimed: Option<JobRun> = sqlx::query_as(
        "WITH next AS ( \
             SELECT id FROM job_runs WHERE status = 'QUEUED' AND kind = ANY($1) \
               AND ($3::uuid IS NULL OR parent_id = $3) \
             ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         UPDATE job_runs j SET status = 'RUNNING', started_at = now(), heartbeat_at = now(), \
             attempts = j.attempts + 1, claimed_by = $2, progress_pct = 0 \
         FROM next WHERE j.id = next.id RETURNING j.*",
    )
    .bind(kinds)
    .bind(worker)
    .bind(parent)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(job) = claimed else {
        tx.rollback().await?;
        return Ok(None);
    };
    let trace = trace_of(&mut *tx, job.id)
        .await?
        .unwrap_or_else(TraceId::generate);
    trace
        .clone()
        .scope(insert_event(
            &mut tx,
            job.id,
            Some(JobStatus::Queued),
            JobStatus::Running,
            "CLAIMED",
            serde_json::json!({ "worker": worker, "attempt": job.attempts }),
        ))
        .await?;
    tx.commit().await?;
    Ok(Some((job, trace)))
}

/// The trace id a job was created under (its creation event's): the one its work runs in.
pub async fn trace_of(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<TraceId>, sqlx::Error> {
    let created: Option<String> = sqlx::query_scalar(
        "SELECT trace_id FROM job_run_events WHERE job_id = $1 AND \"from\" IS NULL \
         ORDER BY created_at LIMIT 1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(created.as_deref().and_then(TraceId::from_hex))
}

/// A RUNNING job's heartbeat with its progress (never lowered). `None` when the job is no
/// longer RUNNING (cancelled, timed out): the worker stops it.
pub async fn report_progress(
    pool: &PgPool,
    id: Uuid,
    pct: i16,
) -> Result<Option<i16>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE job_runs SET heartbeat_at = now(), progress_pct = GREATEST(progress_pct, $2) \
         WHERE id = $1 AND status = 'RUNNING' RETURNING progress_pct",
    )
    .bind(id)
    .bind(pct.clamp(0, 100))
    .fetch_optional(pool)
    .await
}

/// The RUNNING jobs `worker` holds (after its restart: the jobs its crash left behind).
pub async fn running_claimed_by(pool: &PgPool, worker: &str) -> Result<Vec<JobRun>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM job_runs WHERE status = 'RUNNING' AND claimed_by = $1")
        .bind(worker)
        .fetch_all(pool)
        .await
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<JobRun>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM job_runs WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// A job's events, oldest first.
pub async fn events(pool: &PgPool, id: Uuid) -> Result<Vec<JobRunEvent>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM job_run_events WHERE job_id = $1 ORDER BY created_at, id")
        .bind(id)
        .fetch_all(pool)
        .await
}

#[derive(Debug, Default, Clone)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub kind: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Newest first; `after` continues from a previous page's cursor.
pub async fn list(
    pool: &PgPool,
    filter: &JobFilter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<JobRun>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT * FROM job_runs WHERE true");
    if let Some(status) = filter.status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(kind) = &filter.kind {
        q.push(" AND kind = ").push_bind(kind.clone());
    }
    push_window(
        &mut q,
        TimeRange {
            from: filter.from,
            to: filter.to,
        },
        after,
        limit,
    );
    let rows: Vec<JobRun> = q.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, |j| Cursor {
        created_at: j.created_at,
        id: j.id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_spec_transitions_are_legal() {
        use JobStatus::*;
        let all = [Queued, Running, Succeeded, Failed, Timeout, Cancelled];
        let legal: Vec<(JobStatus, JobStatus)> = all
            .iter()
            .flat_map(|f| all.iter().map(move |t| (*f, *t)))
            .filter(|(f, t)| f.can_become(*t))
            .collect();
        assert_eq!(
            legal,
            vec![
                (Queued, Running),
                (Queued, Cancelled),
                (Running, Succeeded),
                (Running, Failed),
                (Running, Timeout),
                (Running, Cancelled),
            ]
        );
    }
}
