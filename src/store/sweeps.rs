//! `backtest_sweeps`: a parameter sweep (or walk-forward) as a parent job (kind `sweep`) with
//! one child `backtest` job per combination and window. The sweep, its parent job, every child
//! job (with its creation event) and every child backtest are inserted in one transaction;
//! cancelling the parent cancels its QUEUED and RUNNING children in another. Status and
//! progress are the parent job's (joined on read).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::backtests::NewBacktest;
use super::jobs::{self, JobRun, JobStatus, NewJob};
use super::page::{Cursor, Page, TimeRange, push_window};
use crate::domain::{instruments::Symbol, timeframe::Timeframe};
use crate::trace::TraceId;

/// A sweep to create, checked.
#[derive(Debug, Clone)]
pub struct NewSweep {
    pub bot_id: Option<Uuid>,
    pub strategy_kind: String,
    pub base_params: Value,
    pub space: Value,
    pub mode: String,
    pub samples: Option<i32>,
    pub seed: Option<i64>,
    pub walk_forward: Option<Value>,
    pub folds: Option<Value>,
    pub objective: String,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub combinations: i32,
    pub skipped: i32,
    pub created_by: Option<String>,
}

/// One child backtest of a sweep: its inputs and place (combination, fold, window).
#[derive(Debug, Clone)]
pub struct NewChild {
    pub backtest: NewBacktest,
    pub combination: i32,
    pub fold: Option<i32>,
    /// `FULL`, `IN_SAMPLE` or `OUT_OF_SAMPLE`.
    pub window: &'static str,
}

/// A sweep with its parent job's state.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Sweep {
    pub id: Uuid,
    /// The parent job (`POST /api/jobs/{id}/cancel` cancels it and its children).
    pub job_id: Uuid,
    pub bot_id: Option<Uuid>,
    pub strategy_kind: String,
    #[schema(value_type = Object)]
    pub base_params: Value,
    /// `[[name, [values…]], …]`: the swept axes, in name order.
    #[schema(value_type = Vec<Object>)]
    pub space: Value,
    /// `grid` or `random`.
    pub mode: String,
    pub samples: Option<i32>,
    pub seed: Option<i64>,
    /// `{folds, out_of_sample_pct}` (walk-forward) or null.
    #[schema(value_type = Option<Object>)]
    pub walk_forward: Option<Value>,
    /// `[{index, is_from, is_to, oos_to}]` or null.
    #[schema(value_type = Option<Vec<Object>>)]
    pub folds: Option<Value>,
    /// The sort key in-sample optimisation picks by.
    pub objective: String,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    #[sqlx(rename = "range_from")]
    pub from: DateTime<Utc>,
    #[sqlx(rename = "range_to")]
    pub to: DateTime<Utc>,
    /// Valid combinations run.
    pub combinations: i32,
    /// Combinations of the grid or sample skipped as invalid strategies (`fast` ≥ `slow`, …).
    pub skipped: i32,
    /// Child backtests (combinations × windows).
    pub backtests: i32,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The parent job's status and progress (finished children / all children).
    pub status: JobStatus,
    pub progress_pct: i16,
    pub error_code: Option<String>,
    pub error: Option<String>,
}

const SELECT: &str = "SELECT * FROM (SELECT s.id, s.job_id, s.bot_id, s.strategy_kind, \
     s.base_params, s.space, s.mode, s.samples, s.seed, s.walk_forward, s.folds, s.objective, \
     s.symbol, s.timeframe, s.range_from, s.range_to, s.combinations, s.skipped, s.backtests, \
     s.created_by, s.created_at, j.status, j.progress_pct, j.error_code, j.error \
     FROM backtest_sweeps s JOIN job_runs j ON j.id = s.job_id) x WHERE true";

/// Inserts the sweep, its QUEUED parent job, each child's QUEUED `backtest` job (with its
/// creation event, `parent_id` the parent) and each child backtest, in one transaction.
/// `child_job(backtest_id)` makes each child's job.
pub async fn create(
    pool: &PgPool,
    id: Uuid,
    new: NewSweep,
    parent: NewJob,
    children: Vec<NewChild>,
    child_job: impl Fn(Uuid) -> NewJob,
) -> Result<(Sweep, JobRun), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let run = jobs::create_in(&mut tx, parent).await?;
    let backtests = i32::try_from(children.len()).unwrap_or(i32::MAX);
    sqlx::query(
        "INSERT INTO backtest_sweeps (id, job_id, bot_id, strategy_kind, base_params, space, \
             mode, samples, seed, walk_forward, folds, objective, symbol, timeframe, range_from, \
             range_to, combinations, skipped, backtests, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             $19, $20)",
    )
    .bind(id)
    .bind(run.id)
    .bind(new.bot_id)
    .bind(&new.strategy_kind)
    .bind(&new.base_params)
    .bind(&new.space)
    .bind(&new.mode)
    .bind(new.samples)
    .bind(new.seed)
    .bind(&new.walk_forward)
    .bind(&new.folds)
    .bind(&new.objective)
    .bind(new.symbol)
    .bind(new.timeframe)
    .bind(new.from)
    .bind(new.to)
    .bind(new.combinations)
    .bind(new.skipped)
    .bind(backtests)
    .bind(&new.created_by)
    .execute(&mut *tx)
    .await?;

    let n = children.len();
    let mut job_ids = Vec::with_capacity(n);
    let mut event_ids = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut timeouts = Vec::with_capacity(n);
    let mut bot_ids: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    let mut bt_ids = Vec::with_capacity(n);
    for _ in &children {
        let bt = Uuid::now_v7();
        let job = child_job(bt);
        job_ids.push(Uuid::now_v7());
        event_ids.push(Uuid::now_v7());
        kinds.push(job.kind);
        timeouts.push(job.timeout_seconds);
        bot_ids.push(job.bot_id);
        payloads.push(job.payload);
        bt_ids.push(bt);
    }
    sqlx::query(
        "INSERT INTO job_runs (id, kind, status, timeout_seconds, bot_id, payload, parent_id) \
         SELECT id, kind, 'QUEUED', timeout, bot, payload, $6 \
         FROM UNNEST($1::uuid[], $2::text[], $3::int[], $4::uuid[], $5::jsonb[]) \
             WITH ORDINALITY AS u(id, kind, timeout, bot, payload, n) \
         ORDER BY n",
    )
    .bind(&job_ids)
    .bind(&kinds)
    .bind(&timeouts)
    .bind(&bot_ids)
    .bind(&payloads)
    .bind(run.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO job_run_events (id, job_id, \"from\", \"to\", reason_code, trace_id, metadata) \
         SELECT id, job_id, NULL, 'QUEUED', 'CREATED', $3, jsonb_build_object('parent_id', $4::uuid) \
         FROM UNNEST($1::uuid[], $2::uuid[]) AS u(id, job_id)",
    )
    .bind(&event_ids)
    .bind(&job_ids)
    .bind(TraceId::current().as_str())
    .bind(run.id)
    .execute(&mut *tx)
    .await?;

    let rows: Vec<_> = children
        .iter()
        .zip(bt_ids.iter().zip(job_ids.iter()))
        .collect();
    // 20 binds a row: 2,000 rows a statement stays far below Postgres's 65,535 binds.
    for chunk in rows.chunks(2_000) {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO backtests (id, job_id, bot_id, strategy_kind, strategy_params, strategy_hash, \
             symbol, timeframe, range_from, range_to, slippage_ticks, commission_per_side, \
             starting_capital, risk_limits, inputs_hash, created_by, sweep_id, sweep_combination, \
             sweep_fold, sweep_window) ",
        );
        q.push_values(chunk.iter(), |mut b, (c, (bt, job))| {
            let n = &c.backtest;
            b.push_bind(*bt)
                .push_bind(*job)
                .push_bind(n.bot_id)
                .push_bind(n.strategy_kind.clone())
                .push_bind(n.strategy_params.clone())
                .push_bind(n.strategy_hash.clone())
                .push_bind(n.symbol)
                .push_bind(n.timeframe)
                .push_bind(n.from)
                .push_bind(n.to)
                .push_bind(n.slippage_ticks)
                .push_bind(n.commission_per_side)
                .push_bind(n.starting_capital)
                .push_bind(n.risk_limits.clone())
                .push_bind(n.inputs_hash.clone())
                .push_bind(n.created_by.clone())
                .push_bind(id)
                .push_bind(c.combination)
                .push_bind(c.fold)
                .push_bind(c.window);
        });
        q.build().execute(&mut *tx).await?;
    }
    let row: Sweep = sqlx::query_as(&format!("{SELECT} AND id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((row, run))
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Sweep>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} AND id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The sweep a parent job runs.
pub async fn by_job(pool: &PgPool, job_id: Uuid) -> Result<Option<Sweep>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} AND job_id = $1"))
        .bind(job_id)
        .fetch_optional(pool)
        .await
}

/// Newest first; `after` continues from a previous page's cursor.
pub async fn list(
    pool: &PgPool,
    range: TimeRange,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<Sweep>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new(SELECT);
    push_window(&mut q, range, after, limit);
    let rows: Vec<Sweep> = q.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, |s| Cursor {
        created_at: s.created_at,
        id: s.id,
    }))
}

/// One child backtest as the ranking reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChildResult {
    pub id: Uuid,
    pub combination: i32,
    pub fold: Option<i32>,
    pub window: String,
    pub strategy_params: Value,
    pub status: JobStatus,
    pub metrics: Option<Value>,
}

/// Every child of a sweep, by combination, fold and window.
pub async fn children(pool: &PgPool, sweep_id: Uuid) -> Result<Vec<ChildResult>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.id, b.sweep_combination AS combination, b.sweep_fold AS fold, \
             b.sweep_window AS window, b.strategy_params, j.status, b.metrics \
         FROM backtests b JOIN job_runs j ON j.id = b.job_id \
         WHERE b.sweep_id = $1 ORDER BY b.sweep_combination, b.sweep_fold, b.sweep_window",
    )
    .bind(sweep_id)
    .fetch_all(pool)
    .await
}

/// A parent job's children by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChildCounts {
    pub total: i64,
    pub queued: i64,
    pub running: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub timed_out: i64,
}

impl ChildCounts {
    pub fn finished(&self) -> i64 {
        self.succeeded + self.failed + self.cancelled + self.timed_out
    }
}

pub async fn child_counts(pool: &PgPool, parent: Uuid) -> Result<ChildCounts, sqlx::Error> {
    let rows: Vec<(JobStatus, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM job_runs WHERE parent_id = $1 GROUP BY status",
    )
    .bind(parent)
    .fetch_all(pool)
    .await?;
    let mut c = ChildCounts::default();
    for (status, n) in rows {
        c.total += n;
        match status {
            JobStatus::Queued => c.queued += n,
            JobStatus::Running => c.running += n,
            JobStatus::Succeeded => c.succeeded += n,
            JobStatus::Failed => c.failed += n,
            JobStatus::Cancelled => c.cancelled += n,
            JobStatus::Timeout => c.timed_out += n,
        }
    }
    Ok(c)
}

/// Cancels every QUEUED or RUNNING child of `parent` (reason `PARENT_CANCELLED`, each with its
/// event row) in one transaction; their workers drop them at the next heartbeat and nothing
/// they compute is kept. Returns the children cancelled.
pub async fn cancel_children(
    pool: &PgPool,
    parent: Uuid,
    by: &str,
) -> Result<Vec<JobRun>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "WITH c AS (SELECT id, status FROM job_runs \
             WHERE parent_id = $1 AND status IN ('QUEUED', 'RUNNING') FOR UPDATE) \
         UPDATE job_runs j SET status = 'CANCELLED', finished_at = now(), \
             error = COALESCE(j.error, $2), error_code = COALESCE(j.error_code, 'PARENT_CANCELLED') \
         FROM c WHERE j.id = c.id RETURNING j.id, c.status",
    )
    .bind(parent)
    .bind(format!("its sweep was cancelled by {by}"))
    .fetch_all(&mut *tx)
    .await?;
    if !rows.is_empty() {
        let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
        let jobs: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
        let from: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
        sqlx::query(
            "INSERT INTO job_run_events (id, job_id, \"from\", \"to\", reason_code, trace_id, metadata) \
             SELECT id, job_id, from_status, 'CANCELLED', 'PARENT_CANCELLED', $4, \
                 jsonb_build_object('parent_id', $5::uuid, 'by', $6::text) \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]) AS u(id, job_id, from_status)",
        )
        .bind(ids)
        .bind(&jobs)
        .bind(from)
        .bind(TraceId::current().as_str())
        .bind(parent)
        .bind(by)
        .execute(&mut *tx)
        .await?;
    }
    let cancelled: Vec<JobRun> = sqlx::query_as("SELECT * FROM job_runs WHERE id = ANY($1)")
        .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(cancelled)
}
