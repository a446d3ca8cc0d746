//! Backtests end to end: bar history from the sandbox into `market_bars` (only the gaps are
//! fetched, each vendor call a usage event).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use tradeplane::domain::{contracts::Contract, instruments::Symbol, timeframe::Timeframe};
use tradeplane::integrations::http::CallContext;
use tradeplane::runtime::bar_history::{self, BarHistoryRequest};
use tradeplane::store::market_bars::{self, Series};

use crate::support::{TestApp, fixtures::start_sandbox, spawn_app_with_env};

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
