//! Backtests end to end: bar history from the sandbox into `market_bars` (only the gaps are
//! fetched, each vendor call a usage event); `POST /api/backtests` as a job of kind `backtest`
//! (lifecycle, results, determinism, cancel, bad input, claims).

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use tradeplane::domain::{contracts::Contract, instruments::Symbol, timeframe::Timeframe};
use tradeplane::integrations::http::CallContext;
use tradeplane::runtime::bar_history::{self, BarHistoryRequest};
use tradeplane::runtime::{EvidenceThresholds, JobsConfig, RuntimeConfig, jobs as job_workers};
use tradeplane::store::jobs;
use tradeplane::store::market_bars::{self, Series};

use crate::support::{
    TestApp,
    backtests::{WEEK_FROM, WEEK_TO, sma_backtest},
    error_code,
    fixtures::{provider, rows, runtime_config, sma_bot, start_sandbox},
    spawn_app_with_env, spawn_app_with_runtime_config,
};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub async fn sandbox_app(pool: PgPool) -> TestApp {
    spawn_app_with_env(pool, &start_sandbox().await).await
}

/// Vendor calls recorded for `run_id` (usage events are written in batches: waits for `want`).
async fn bar_calls(pool: &PgPool, run_id: Uuid, want: i64) -> i64 {
    let mut n = 0;
    for _ in 0..200 {
        n = sqlx::query_scalar(
            "SELECT count(*) FROM integration_usage_events \
             WHERE run_id = $1 AND action = 'bars.fetch' AND status = 'OK'",
        )
        .bind(run_id)
        .fetch_one(pool)
        .await
        .unwrap();
        if n >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    n
}

fn request(
    run_id: Uuid,
    tf: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BarHistoryRequest {
    BarHistoryRequest {
        provider: "databento".into(),
        instrument: Symbol::Es,
        timeframe: tf,
        from,
        to,
        ctx: CallContext {
            bot_id: None,
            run_id: Some(run_id),
        },
    }
}

#[sqlx::test]
async fn bar_history_fetches_only_the_gaps_and_reuses_the_store(pool: PgPool) {
    let app = sandbox_app(pool.clone()).await;
    let rt = &app.state.runtime;
    let (mon, wed, fri) = (
        at("2026-11-23T00:00:00Z"),
        at("2026-11-25T00:00:00Z"),
        at("2026-11-27T00:00:00Z"),
    );

    // Mon–Wed: one vendor call, 5-minute bars on the grid, inside the range, oldest first.
    let first_run = Uuid::now_v7();
    let mut calls = Vec::new();
    let got = bar_history::ensure_bars(
        rt,
        &pool,
        &request(first_run, Timeframe::M5, mon, wed),
        |done, total| calls.push((done, total)),
    )
    .await
    .unwrap();
    assert_eq!(got.pieces_fetched, 1);
    assert_eq!(calls, [(1, 1)]);
    // Mon 00:00 UTC is Sunday 18:00 CT: two trading days minus the halt = 23 h × 12 per day.
    assert_eq!(got.bars.len(), 2 * 23 * 12);
    assert!(got.bars.windows(2).all(|w| w[0].ts_open < w[1].ts_open));
    assert!(
        got.bars
            .iter()
            .all(|b| b.ts_open >= mon && b.ts_open < wed && b.ts_open.timestamp() % 300 == 0)
    );
    assert_eq!(bar_calls(&pool, first_run, 1).await, 1);

    // The same range again: nothing fetched, the same bars.
    let again_run = Uuid::now_v7();
    let again = bar_history::ensure_bars(
        rt,
        &pool,
        &request(again_run, Timeframe::M5, mon, wed),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(again.pieces_fetched, 0);
    assert_eq!(again.bars, got.bars);

    // Tue–Fri overlaps: only Wed–Fri is asked for; the stored part is not fetched twice.
    let tue = at("2026-11-24T00:00:00Z");
    let series = Series {
        provider_id: "databento",
        symbol: Symbol::Es,
        // The front month all week (Dec 2026 rolls on 10 Dec).
        contract: Contract::parse("ESZ26").unwrap(),
        timeframe: Timeframe::M5,
    };
    assert_eq!(
        market_bars::gaps(&pool, series, tue, fri).await.unwrap(),
        [(wed, fri)]
    );
    let wider = bar_history::ensure_bars(
        rt,
        &pool,
        &request(again_run, Timeframe::M5, tue, fri),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(wider.pieces_fetched, 1);
    assert!(
        market_bars::gaps(&pool, series, mon, fri)
            .await
            .unwrap()
            .is_empty()
    );
    // One contiguous covered stretch, Mon–Fri.
    let stretches: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT lower(covered), upper(covered) FROM market_bar_coverage \
         WHERE provider_id = 'databento' AND symbol = 'ES' AND contract = 'ESZ26' AND timeframe = '5m'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(stretches, [(mon, fri)]);
    // Tue–Wed reads what the first run stored, bar for bar.
    assert_eq!(
        wider
            .bars
            .iter()
            .filter(|b| b.ts_open < wed)
            .collect::<Vec<_>>(),
        got.bars
            .iter()
            .filter(|b| b.ts_open >= tue)
            .collect::<Vec<_>>()
    );
    assert_eq!(bar_calls(&pool, again_run, 1).await, 1);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM market_bars")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored as usize, wider.bars.len() + got.bars.len() / 2);
}

#[sqlx::test]
async fn a_weekend_is_covered_once_and_never_asked_again(pool: PgPool) {
    let app = sandbox_app(pool.clone()).await;
    let rt = &app.state.runtime;
    // Saturday: Globex is closed, the provider has no bars; the range still counts as covered.
    let (sat, sun) = (at("2026-11-28T00:00:00Z"), at("2026-11-29T00:00:00Z"));
    let run = Uuid::now_v7();
    let got =
        bar_history::ensure_bars(rt, &pool, &request(run, Timeframe::M1, sat, sun), |_, _| {})
            .await
            .unwrap();
    assert!(got.bars.is_empty());
    assert_eq!(got.pieces_fetched, 1);
    let again =
        bar_history::ensure_bars(rt, &pool, &request(run, Timeframe::M1, sat, sun), |_, _| {})
            .await
            .unwrap();
    assert_eq!(again.pieces_fetched, 0);
    assert_eq!(bar_calls(&pool, run, 1).await, 1);
}

#[sqlx::test]
async fn a_range_across_a_roll_reads_each_front_contract(pool: PgPool) {
    let app = sandbox_app(pool.clone()).await;
    let rt = &app.state.runtime;
    // ESU26 rolls to ESZ26 on trade date Thu 10 Sep 2026 (17:00 CT on the 9th = 22:00 UTC).
    let (from, to) = (at("2026-09-09T12:00:00Z"), at("2026-09-10T12:00:00Z"));
    let run = Uuid::now_v7();
    let got =
        bar_history::ensure_bars(rt, &pool, &request(run, Timeframe::H1, from, to), |_, _| {})
            .await
            .unwrap();
    assert_eq!(got.pieces_fetched, 2);
    assert!(got.bars.windows(2).all(|w| w[0].ts_open < w[1].ts_open));
    let contracts: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT contract, lower(covered), upper(covered) FROM market_bar_coverage ORDER BY 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let roll = at("2026-09-09T22:00:00Z");
    assert_eq!(
        contracts,
        [
            ("ESU26".to_owned(), from, roll),
            ("ESZ26".to_owned(), roll, to)
        ]
    );
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT contract, count(*) FROM market_bars GROUP BY 1 ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    // Every stored bar is one the run read, each under its own contract.
    assert_eq!(
        stored.iter().map(|(_, n)| n).sum::<i64>() as usize,
        got.bars.len()
    );
    assert_eq!(stored.len(), 2, "{stored:?}");
}

// ---- backtests as jobs: POST /api/backtests → a `backtest` job → results ----

#[sqlx::test]
async fn a_backtest_across_a_roll_warms_the_new_contract_up_on_its_own_bars(pool: PgPool) {
    let app = lab(pool.clone(), 1).await;
    // ESU26 → ESZ26 at 17:00 CT on 9 Sep 2026 (22:00 UTC).
    let roll = at("2026-09-09T22:00:00Z");
    let body = sma_backtest("2026-09-08T00:00:00Z", "2026-09-11T00:00:00Z");
    let (id, job) = app.queue_backtest(body.clone()).await;
    let done = app.wait_for_backtest(&id, "SUCCEEDED").await;
    // ESZ26's bars from before its roll were fetched for the run (its warm-up), stored and
    // covered under their own contract: the last 23 of them (the engine's window) are fed to
    // the new window at the roll, never evaluated.
    let warmup: (i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT count(*), max(ts) FROM market_bars WHERE contract = 'ESZ26' AND ts < $1",
    )
    .bind(roll)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(warmup.0 >= 23, "{warmup:?}");
    assert!(warmup.1.is_some_and(|t| t < roll));
    let job_id: Uuid = job.parse().unwrap();
    // Three vendor calls: ESU26's piece, ESZ26's piece, ESZ26's warm-up.
    assert_eq!(bar_calls(&pool, job_id, 3).await, 3);
    // A position is never carried across the roll: a round trip opened on ESU26 is closed by
    // the roll exit at the first evaluation on ESZ26 (one 5-minute bar after the roll), at
    // ESU26's last close moved one tick against it; none runs on into ESZ26's prices.
    let (last_old_close,): (Decimal,) = sqlx::query_as(
        "SELECT close FROM market_bars WHERE contract = 'ESU26' AND timeframe = '5m' AND ts < $1 \
         ORDER BY ts DESC LIMIT 1",
    )
    .bind(roll)
    .fetch_one(&pool)
    .await
    .unwrap();
    let trades = done["trades"].as_array().unwrap();
    assert!(!trades.is_empty(), "{done}");
    for t in trades {
        let (entry, exit) = (
            at(t["entry_ts"].as_str().unwrap()),
            at(t["exit_ts"].as_str().unwrap()),
        );
        assert!(
            entry >= roll || exit <= roll + chrono::Duration::minutes(5),
            "a trade across the roll: {t}"
        );
        if entry < roll && exit > roll {
            let exit_price: Decimal = t["exit_price"].as_str().unwrap().parse().unwrap();
            let against = if t["side"] == "LONG" {
                dec!(-0.25)
            } else {
                dec!(0.25)
            };
            assert_eq!(exit_price, last_old_close + against, "{t}");
        }
    }
    // The same run again: everything from the store, no vendor call, the same results.
    let (again, again_job) = app.queue_backtest(body).await;
    let second = app.wait_for_backtest(&again, "SUCCEEDED").await;
    assert_eq!(
        second["backtest"]["results_hash"],
        done["backtest"]["results_hash"]
    );
    assert_eq!(bar_calls(&pool, again_job.parse().unwrap(), 0).await, 0);
}

/// The sandbox's providers, `workers` job workers polling fast, signed in as the admin.
async fn lab(pool: PgPool, workers: usize) -> TestApp {
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

/// `(from, to, reason_code)` of a job's events, oldest first.
async fn job_events(app: &TestApp, job: &str) -> Vec<(Option<String>, String, String)> {
    let (status, body) = app.get_job(job).await;
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().map(str::to_owned),
                e["to"].as_str().unwrap().to_owned(),
                e["reason_code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn is_sha256(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[sqlx::test]
async fn a_backtest_runs_as_a_job_and_the_same_inputs_give_the_same_results(pool: PgPool) {
    let app = lab(pool.clone(), 2).await;
    let (status, before) = app.integrations_status().await;
    assert_eq!(status, 200, "{before}");
    let used_before = provider(&before, "databento")["proof_of_use_count_24h"]
        .as_i64()
        .unwrap_or(0);

    let (id, job) = app.queue_backtest(sma_backtest(WEEK_FROM, WEEK_TO)).await;
    let done = app.wait_for_backtest(&id, "SUCCEEDED").await;
    let bt = &done["backtest"];
    assert_eq!(bt["job_id"], job.as_str());
    assert_eq!(bt["progress_pct"], 100);
    assert_eq!(bt["provider_id"], "databento");
    assert!(bt["killed"].is_null(), "{bt}");
    // Mon 00:00 UTC (Sunday evening's session) to Friday's 16:00 CT close: 114 trading hours
    // (the daily 16:00–17:00 CT halts out) of 5-minute bars.
    const WEEK_BARS: u64 = 114 * 12;
    assert_eq!(bt["bars"], WEEK_BARS, "{bt}");
    let m = &bt["metrics"];
    let trades = m["trades"].as_u64().unwrap();
    assert!(trades > 0, "a week of crossovers trades: {m}");
    assert_eq!(done["trades"].as_array().unwrap().len() as u64, trades);
    assert_eq!(
        rows(&pool, "backtest_trades").await as u64,
        trades,
        "each trade is a row"
    );
    // The trades add up to the metrics.
    let net: Decimal = done["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["net_pnl"].as_str().unwrap().parse::<Decimal>().unwrap())
        .sum();
    let realized = m["net_pnl"].as_str().unwrap().parse::<Decimal>().unwrap();
    let ending = m["ending_equity"]
        .as_str()
        .unwrap()
        .parse::<Decimal>()
        .unwrap();
    assert_eq!(net, realized, "net PnL is the closed trades'");
    // A position still open at the end is in the ending equity, not in the trades.
    let open_pnl = ending - Decimal::from(100_000) - realized;
    assert!(open_pnl.abs() < Decimal::from(5_000), "{open_pnl}");
    for key in [
        "win_rate_pct",
        "sharpe",
        "sortino",
        "max_drawdown",
        "max_drawdown_pct",
        "exposure_pct",
        "longest_flat_seconds",
        "commissions",
        "gross_pnl",
        "avg_trade",
        "profit_factor",
    ] {
        assert!(m.get(key).is_some(), "metric {key} missing: {m}");
    }
    let equity = bt["equity_curve"].as_array().unwrap();
    let drawdown = bt["drawdown_curve"].as_array().unwrap();
    assert_eq!(
        equity.len() as u64,
        WEEK_BARS,
        "under 2,000 points: every bar"
    );
    assert_eq!(equity.len(), drawdown.len());
    assert_eq!(equity.last().unwrap()["equity"], m["ending_equity"]);
    let no_trades: u64 = bt["no_trade_counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(no_trades > 0, "{bt}");
    assert!(
        is_sha256(&bt["inputs_hash"])
            && is_sha256(&bt["results_hash"])
            && is_sha256(&bt["strategy_hash"])
    );
    assert_eq!(
        job_events(&app, &job).await,
        [
            (None, "QUEUED".into(), "CREATED".into()),
            (Some("QUEUED".into()), "RUNNING".into(), "CLAIMED".into()),
            (
                Some("RUNNING".into()),
                "SUCCEEDED".into(),
                "COMPLETED".into()
            ),
        ]
    );

    // SPEC §8 demo 2: the backtest's bars were vendor calls naming its job; proof of use rose.
    let job_id: Uuid = job.parse().unwrap();
    assert_eq!(bar_calls(&pool, job_id, 1).await, 1);
    let mut used_after = used_before;
    let mut last_used = Value::Null;
    for _ in 0..100 {
        let (_, after) = app.integrations_status().await;
        used_after = provider(&after, "databento")["proof_of_use_count_24h"]
            .as_i64()
            .unwrap_or(0);
        last_used = provider(&after, "databento")["last_used_at"].clone();
        if used_after > used_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(used_after > used_before, "{used_before} → {used_after}");
    assert!(last_used.is_string(), "{last_used}");

    // The same inputs again: the bars come from the store (no vendor call), the results are
    // identical to the hash.
    let (again, again_job) = app.queue_backtest(sma_backtest(WEEK_FROM, WEEK_TO)).await;
    let second = app.wait_for_backtest(&again, "SUCCEEDED").await;
    assert_ne!(again, id);
    assert_eq!(second["backtest"]["inputs_hash"], bt["inputs_hash"]);
    assert_eq!(second["backtest"]["results_hash"], bt["results_hash"]);
    assert_eq!(second["backtest"]["metrics"], bt["metrics"]);
    assert_eq!(second["trades"], done["trades"]);
    assert_eq!(bar_calls(&pool, again_job.parse().unwrap(), 0).await, 0);

    // The desk's default 5m limits (daily loss $500): the kill trigger ends the run where the
    // live runner would stop the bot, and says so.
    let mut tight = sma_backtest(WEEK_FROM, WEEK_TO);
    tight.as_object_mut().unwrap().remove("risk");
    let (killed, _) = app.queue_backtest(tight).await;
    let killed = app.wait_for_backtest(&killed, "SUCCEEDED").await;
    let k = &killed["backtest"];
    assert!(k["killed"]["reason"].is_string(), "{k}");
    assert!(k["bars"].as_u64().unwrap() < WEEK_BARS, "{k}");
    assert_ne!(k["inputs_hash"], bt["inputs_hash"], "the limits are inputs");

    // Listed newest first; a bot filter that matches nothing lists nothing.
    let (status, list) = app.list_backtests("limit=1").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"][0]["id"], killed["backtest"]["id"]);
    assert!(
        list["items"][0]["equity_curve"].is_null(),
        "lists carry no curves"
    );
    assert!(list["next_cursor"].is_string());
    let (_, none) = app
        .list_backtests(&format!("bot_id={}", Uuid::now_v7()))
        .await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
}

#[sqlx::test]
async fn a_range_without_bars_fails_the_job_with_data_unavailable_naming_it(pool: PgPool) {
    let app = lab(pool.clone(), 1).await;
    // Saturday: Globex is closed all day.
    let (id, job) = app
        .queue_backtest(sma_backtest("2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z"))
        .await;
    let failed = app.wait_for_backtest(&id, "FAILED").await;
    let bt = &failed["backtest"];
    assert_eq!(bt["error_code"], "DATA_UNAVAILABLE", "{bt}");
    let message = bt["error"].as_str().unwrap();
    assert!(
        message.contains("2026-11-28T00:00:00+00:00")
            && message.contains("2026-11-29T00:00:00+00:00"),
        "{message}"
    );
    assert!(bt["metrics"].is_null() && bt["results_hash"].is_null());
    assert_eq!(
        job_events(&app, &job).await.last().unwrap().2,
        "DATA_UNAVAILABLE"
    );
}

#[sqlx::test]
async fn a_cancelled_backtest_keeps_nothing_and_frees_its_worker(pool: PgPool) {
    let app = lab(pool.clone(), 1).await;
    // Six months of 1-minute bars: long enough to be cancelled while it runs.
    let mut long = sma_backtest("2026-05-01T00:00:00Z", "2026-11-01T00:00:00Z");
    long["timeframe"] = json!("1m");
    let (id, job) = app.queue_backtest(long).await;
    app.wait_for_backtest(&id, "RUNNING").await;
    let (status, body) = app.cancel_job(&job).await;
    assert_eq!(status, 200, "{body}");
    let cancelled = app.wait_for_backtest(&id, "CANCELLED").await;
    let bt = &cancelled["backtest"];
    assert_eq!(bt["error_code"], "CANCELLED_BY_OPERATOR");
    assert!(
        bt["metrics"].is_null() && bt["equity_curve"].is_null() && bt["results_hash"].is_null()
    );
    assert_eq!(cancelled["trades"].as_array().unwrap().len(), 0);
    // The only worker takes the next backtest.
    let (next, _) = app.queue_backtest(sma_backtest(WEEK_FROM, WEEK_TO)).await;
    app.wait_for_backtest(&next, "SUCCEEDED").await;
    // Nothing of the cancelled run was written later either.
    let again = app.wait_for_backtest(&id, "CANCELLED").await;
    assert!(again["backtest"]["results_hash"].is_null());
    assert_eq!(
        job_events(&app, &job).await.last().unwrap(),
        &(
            Some("RUNNING".into()),
            "CANCELLED".into(),
            "CANCELLED_BY_OPERATOR".into()
        )
    );
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM backtest_trades WHERE backtest_id = $1")
            .bind(Uuid::parse_str(&id).unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(rows, 0);
}

#[sqlx::test]
async fn bad_backtest_requests_name_their_field_and_write_nothing(pool: PgPool) {
    let app = lab(pool.clone(), 0).await;
    let bot = app.new_bot(sma_bot("lab", "LAB")).await;
    let with = |patch: Value| {
        let mut body = sma_backtest(WEEK_FROM, WEEK_TO);
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            with(json!({"from": WEEK_TO, "to": WEEK_FROM})),
            422,
            "VALIDATION_FAILED",
            "to",
        ),
        (
            with(json!({"to": "2099-01-01T00:00:00Z"})),
            422,
            "VALIDATION_FAILED",
            "to",
        ),
        (
            with(
                json!({"timeframe": "1s", "from": "2026-11-01T00:00:00Z", "to": "2026-11-15T00:00:00Z"}),
            ),
            422,
            "VALIDATION_FAILED",
            "to",
        ),
        (
            with(
                json!({"strategy": {"kind": "sma_crossover", "params": {"fast": 5, "slow": 20, "lots": 3}}}),
            ),
            422,
            "VALIDATION_FAILED",
            "strategy.params",
        ),
        (
            with(
                json!({"strategy": {"kind": "sma_crossover", "params": {"fast": 30, "slow": 20}}}),
            ),
            422,
            "VALIDATION_FAILED",
            "strategy.params.fast",
        ),
        (
            with(json!({"strategy": {"kind": "martingale", "params": {}}})),
            422,
            "VALIDATION_FAILED",
            "strategy.kind",
        ),
        (
            with(json!({"strategy": null})),
            422,
            "VALIDATION_FAILED",
            "strategy",
        ),
        (
            with(json!({"symbol": "BTC"})),
            422,
            "VALIDATION_FAILED",
            "symbol",
        ),
        (
            with(json!({"timeframe": "2m"})),
            422,
            "VALIDATION_FAILED",
            "timeframe",
        ),
        (
            with(json!({"fill": {"slippage_ticks": 500}})),
            422,
            "VALIDATION_FAILED",
            "fill.slippage_ticks",
        ),
        (
            with(json!({"fill": {"commission_per_side": "-1"}})),
            422,
            "VALIDATION_FAILED",
            "fill.commission_per_side",
        ),
        (
            with(json!({"starting_capital": "zero"})),
            422,
            "VALIDATION_FAILED",
            "starting_capital",
        ),
        (
            with(json!({"starting_capital": 0})),
            422,
            "VALIDATION_FAILED",
            "starting_capital",
        ),
        (
            with(json!({"bot_id": bot})),
            422,
            "VALIDATION_FAILED",
            "strategy",
        ),
        (
            with(json!({"from": "2009-01-01T00:00:00Z", "to": "2009-02-01T00:00:00Z"})),
            503,
            "DATA_UNAVAILABLE",
            "to",
        ),
    ];
    for (body, want_status, want_code, want_field) in cases {
        let (status, reply) = app.create_backtest(body.clone()).await;
        assert_eq!(
            (status, error_code(&reply)),
            (want_status, want_code),
            "{body} → {reply}"
        );
        assert_eq!(
            reply["error"]["details"]["field"], want_field,
            "{body} → {reply}"
        );
        assert!(!reply["error"]["suggested_fix"].as_str().unwrap().is_empty());
    }
    let (status, reply) = app
        .create_backtest(json!({"bot_id": Uuid::now_v7(), "from": WEEK_FROM, "to": WEEK_TO}))
        .await;
    assert_eq!(
        (status, error_code(&reply)),
        (404, "BOT_NOT_FOUND"),
        "{reply}"
    );
    // An unknown top-level field is refused too.
    let (status, reply) = app.create_backtest(with(json!({"leverage": 10}))).await;
    assert_eq!(
        (status, error_code(&reply)),
        (422, "VALIDATION_FAILED"),
        "{reply}"
    );
    assert_eq!(rows(&pool, "backtests").await, 0);
    assert_eq!(rows(&pool, "job_runs").await, 0);

    let (status, reply) = app.get_backtest(Uuid::now_v7()).await;
    assert_eq!(
        (status, error_code(&reply)),
        (404, "BACKTEST_NOT_FOUND"),
        "{reply}"
    );
    let (status, reply) = app.get_backtest("nope").await;
    assert_eq!(
        (status, error_code(&reply)),
        (422, "VALIDATION_FAILED"),
        "{reply}"
    );
    // Viewers read, never queue.
    let viewer = app
        .user_with_role(&app.client, "viewer@example.com", "viewer")
        .await;
    let (status, reply) = app
        .as_user(&viewer)
        .create_backtest(sma_backtest(WEEK_FROM, WEEK_TO))
        .await;
    assert_eq!((status, error_code(&reply)), (403, "FORBIDDEN"), "{reply}");
    assert_eq!(rows(&pool, "backtests").await, 0);
}

#[sqlx::test]
async fn queued_backtests_are_each_claimed_by_one_worker(pool: PgPool) {
    // No workers of its own: the claims below are the only ones.
    let app = lab(pool.clone(), 0).await;
    let mut queued = HashSet::new();
    for day in 16..20 {
        let (_, job) = app
            .queue_backtest(sma_backtest(
                &format!("2026-11-{day}T00:00:00Z"),
                &format!("2026-11-{}T00:00:00Z", day + 1),
            ))
            .await;
        queued.insert(job.parse::<Uuid>().unwrap());
    }
    let claims = (0..12).map(|w| {
        let pool = pool.clone();
        tokio::spawn(async move {
            jobs::claim(&pool, &job_workers::KINDS, &format!("node-{w}"))
                .await
                .unwrap()
        })
    });
    let mut won = Vec::new();
    for c in claims {
        if let Some((job, _)) = c.await.unwrap() {
            assert_eq!((job.kind.as_str(), job.attempts), ("backtest", 1));
            won.push(job.id);
        }
    }
    assert_eq!(won.len(), 4);
    assert_eq!(won.into_iter().collect::<HashSet<_>>(), queued);
}

#[sqlx::test]
async fn lab_to_paper_needs_a_passing_backtest_of_the_bot_as_it_is(pool: PgPool) {
    let config = RuntimeConfig {
        provider_env: start_sandbox().await,
        jobs: JobsConfig {
            workers: 1,
            poll_every: Duration::from_millis(50),
            heartbeat_every: Duration::from_millis(50),
        },
        evidence: EvidenceThresholds {
            max_age: chrono::Duration::days(1),
            min_trades: 1,
            min_profit_factor: 0.0,
            max_drawdown_pct: 100.0,
        },
        ..runtime_config()
    };
    let app = spawn_app_with_runtime_config(pool.clone(), config)
        .await
        .signed_in_as_admin()
        .await;
    let (status, body) = app.verify_integration("databento").await;
    assert_eq!(
        (status, body["connected"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let bot = app.new_bot(sma_bot("candidate", "LAB")).await;
    let to_paper = json!({ "to_stage": "PAPER" });

    // No backtest at all.
    let (status, body) = app.promote_bot(&bot, to_paper.clone()).await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "BACKTEST_EVIDENCE_MISSING"),
        "{body}"
    );
    assert_eq!(
        body["error"]["details"]["gates"][0]["gate"], "backtest",
        "{body}"
    );
    assert!(body["error"]["details"]["evidence"].is_null());
    assert!(!body["error"]["suggested_fix"].as_str().unwrap().is_empty());

    // A backtest too short to trade (20 one-minute bars; the slow average needs 30).
    let short = app
        .backtest_bot(&bot, "2026-11-16T15:00:00Z", "2026-11-16T15:20:00Z")
        .await;
    assert_eq!(short["backtest"]["metrics"]["trades"], 0, "{short}");
    let (status, body) = app.promote_bot(&bot, to_paper.clone()).await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "BACKTEST_EVIDENCE_MISSING"),
        "{body}"
    );
    let details = &body["error"]["details"];
    assert_eq!(details["gates"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(details["gates"][0]["gate"], "min_trades", "{body}");
    assert_eq!(details["evidence"]["backtest_id"], short["backtest"]["id"]);
    assert_eq!(details["thresholds"]["min_trades"], 1);

    // A strategy tried without the bot is not the bot's evidence.
    let mut alike = sma_backtest(WEEK_FROM, WEEK_TO);
    alike["timeframe"] = json!("1m");
    alike["strategy"] = json!({"kind": "sma_crossover", "params": {"fast": 10, "slow": 30}});
    let (other, _) = app.queue_backtest(alike).await;
    app.wait_for_backtest(&other, "SUCCEEDED").await;
    let (status, body) = app.promote_bot(&bot, to_paper.clone()).await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "BACKTEST_EVIDENCE_MISSING"),
        "{body}"
    );

    // A week of the bot itself trades: promoted.
    let week = app.backtest_bot(&bot, WEEK_FROM, WEEK_TO).await;
    assert!(
        week["backtest"]["metrics"]["trades"].as_u64().unwrap() > 0,
        "{week}"
    );
    // Its strategy hash is the strategy-only run's: same kind and params, however spelled.
    let (_, listed) = app.list_backtests(&format!("bot_id={bot}")).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
    let (status, body) = app.promote_bot(&bot, to_paper.clone()).await;
    assert_eq!(
        (status, body["to_stage"].as_str()),
        (200, Some("PAPER")),
        "{body}"
    );

    // New params make the evidence stale: back in LAB, the old backtest no longer counts.
    let (status, body) = app.promote_bot(&bot, json!({ "to_stage": "LAB" })).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .patch_bot(
            &bot,
            json!({"strategy": {"kind": "sma_crossover", "params": {"fast": 8, "slow": 30}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.promote_bot(&bot, to_paper).await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "BACKTEST_EVIDENCE_MISSING"),
        "{body}"
    );
    assert_eq!(
        body["error"]["details"]["gates"][0]["gate"], "backtest",
        "{body}"
    );
}

#[sqlx::test]
async fn a_backtests_bars_come_back_as_at_most_max_candles_for_its_price_chart(pool: PgPool) {
    let app = lab(pool.clone(), 1).await;
    let (id, _) = app.queue_backtest(sma_backtest(WEEK_FROM, WEEK_TO)).await;
    let done = app.wait_for_backtest(&id, "SUCCEEDED").await;
    let processed = done["backtest"]["bars"].as_u64().unwrap();

    // The week fits in the default 2,000 candles: one candle per stored 5m bar, as stored.
    let (status, whole) = app.backtest_bars(&id, "").await;
    assert_eq!(status, 200, "{whole}");
    assert_eq!(whole["bucket_seconds"], 300);
    assert_eq!(whole["providers"][0], "databento");
    let candles = whole["candles"].as_array().unwrap();
    assert_eq!(whole["source_bars"].as_u64().unwrap(), processed);
    assert_eq!(candles.len() as u64, processed);
    let stored: Vec<(DateTime<Utc>, Decimal, Decimal)> = sqlx::query_as(
        "SELECT ts, open, close FROM market_bars WHERE timeframe = '5m' AND ts >= $1 AND ts < $2 ORDER BY ts LIMIT 3",
    )
    .bind(at(WEEK_FROM))
    .bind(at(WEEK_TO))
    .fetch_all(&pool)
    .await
    .unwrap();
    for (c, (ts, open, close)) in candles.iter().zip(&stored) {
        assert_eq!(
            c["ts"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(),
            *ts
        );
        assert_eq!(
            c["open"].as_str().unwrap().parse::<Decimal>().unwrap(),
            *open
        );
        assert_eq!(
            c["close"].as_str().unwrap().parse::<Decimal>().unwrap(),
            *close
        );
    }

    // Thinned: at most 50 candles of a whole number of bars, each one's extremes those of the
    // bars it merged, and every bar counted once.
    let (status, thin) = app.backtest_bars(&id, "max_candles=50").await;
    assert_eq!(status, 200, "{thin}");
    let width = thin["bucket_seconds"].as_i64().unwrap();
    assert_eq!(width % 300, 0);
    let span = (at(WEEK_TO) - at(WEEK_FROM)).num_seconds();
    let bars = (span + 299) / 300;
    assert_eq!(width, (bars + 49) / 50 * 300);
    let merged = thin["candles"].as_array().unwrap();
    assert!(!merged.is_empty() && merged.len() <= 50, "{}", merged.len());
    let dec_of = |v: &Value| v.as_str().unwrap().parse::<Decimal>().unwrap();
    let volume = |cs: &[Value]| {
        cs.iter()
            .map(|c| c["volume"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(volume(merged), volume(candles));
    let high = candles.iter().map(|c| dec_of(&c["high"])).max().unwrap();
    let low = candles.iter().map(|c| dec_of(&c["low"])).min().unwrap();
    assert_eq!(
        merged.iter().map(|c| dec_of(&c["high"])).max().unwrap(),
        high
    );
    assert_eq!(merged.iter().map(|c| dec_of(&c["low"])).min().unwrap(), low);
    assert_eq!(merged[0]["open"], candles[0]["open"]);
    assert_eq!(
        merged.last().unwrap()["close"],
        candles.last().unwrap()["close"]
    );
    for c in merged {
        let ts = c["ts"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
        assert_eq!((ts - at(WEEK_FROM)).num_seconds() % width, 0, "{c}");
        assert!(dec_of(&c["low"]) <= dec_of(&c["high"]), "{c}");
    }

    // Bad input names its field; an unknown backtest is a 404.
    for query in ["max_candles=0", "max_candles=10001"] {
        let (status, body) = app.backtest_bars(&id, query).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["error"]["details"]["field"], "max_candles", "{body}");
    }
    let (status, body) = app.backtest_bars(&id, "max_candles=x").await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["details"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("max_candles")),
        "{body}"
    );
    let (status, body) = app.backtest_bars(Uuid::now_v7(), "").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(error_code(&body), "BACKTEST_NOT_FOUND");
    let (status, body) = app.backtest_bars("nope", "").await;
    assert_eq!(status, 422, "{body}");
}

#[sqlx::test]
async fn a_backtest_reads_the_secondary_when_the_primary_refuses_and_never_mixes_vendors(
    pool: PgPool,
) {
    let env = start_sandbox().await;
    let config = RuntimeConfig {
        provider_env: env.clone(),
        jobs: JobsConfig {
            workers: 1,
            poll_every: Duration::from_millis(50),
            heartbeat_every: Duration::from_millis(50),
        },
        ..runtime_config()
    };
    let app = spawn_app_with_runtime_config(pool.clone(), config)
        .await
        .signed_in_as_admin()
        .await;
    // Databento (the primary) refuses: a plan without the dataset.
    crate::support::fixtures::sandbox_fault(
        &env["POLYGON_BASE_URL"],
        "databento",
        json!("not_authorized"),
        None,
    )
    .await;
    let (from, to) = ("2026-11-17T00:00:00Z", "2026-11-18T00:00:00Z");
    let (id, _) = app.queue_backtest(sma_backtest(from, to)).await;
    let done = app.wait_for_backtest(&id, "SUCCEEDED").await;
    let bt = &done["backtest"];
    assert_eq!(bt["provider_id"], "polygon", "{bt}");
    // Tuesday's session in UTC: 23 trading hours of 5-minute bars, all Polygon's.
    assert_eq!(bt["bars"], 23 * 12, "{bt}");
    let by_provider: Vec<(String, i64)> = sqlx::query_as(
        "SELECT provider_id, count(*) FROM market_bars WHERE symbol = 'ES' AND timeframe = '5m' \
         AND ts >= $1 AND ts < $2 GROUP BY provider_id",
    )
    .bind(at(from))
    .bind(at(to))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(by_provider, [("polygon".to_owned(), 23 * 12)]);

    // Databento back: a run over the same range reads Databento's bars only, not a mix with
    // the Polygon bars already stored.
    crate::support::fixtures::sandbox_fault(
        &env["POLYGON_BASE_URL"],
        "databento",
        Value::Null,
        None,
    )
    .await;
    let (id, _) = app.queue_backtest(sma_backtest(from, to)).await;
    let done = app.wait_for_backtest(&id, "SUCCEEDED").await;
    assert_eq!(done["backtest"]["provider_id"], "databento");
    assert_eq!(done["backtest"]["bars"], 23 * 12);
}
