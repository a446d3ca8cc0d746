//! End to end with `tradeplane sandbox`: no keys → every provider unconfigured with a fix;
//! `.env.sandbox` → every verify succeeds against the simulator, `connected` and `sandbox`
//! turn true; fetching bars raises `proof_of_use_count_24h` and moves `last_used_at`; every
//! timeframe (1s … 15m) comes back consistent from both market-data clients.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use tradeplane::{
    domain::{bars::Bar, instruments::Symbol, timeframe::Timeframe},
    integrations::{http::CallContext, registry::EnvMap},
    runtime::BarsRequest,
};

use crate::support::{
    TestApp,
    fixtures::{provider, start_sandbox},
    spawn_admin_app,
};

async fn status(app: &TestApp) -> Value {
    let (code, body) = app.integrations_status().await;
    assert_eq!(code, 200);
    body
}

async fn polygon_usage(app: &TestApp, want: i64) -> Value {
    for _ in 0..100 {
        let body = status(app).await;
        let p = provider(&body, "polygon").clone();
        if p["proof_of_use_count_24h"].as_i64() == Some(want) {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("polygon proof of use never reached {want}");
}

#[sqlx::test]
async fn sandbox_end_to_end(pool: PgPool) {
    // No keys: nothing configured, each with what is missing and how to fix it.
    let bare = spawn_admin_app(pool.clone(), &EnvMap::new()).await;
    for p in status(&bare).await["providers"].as_array().unwrap() {
        assert_eq!(p["configured"], false);
        assert!(!p["missing_env_vars"].as_array().unwrap().is_empty());
        assert!(p["suggested_fix"].is_string());
    }

    let env = start_sandbox().await;
    let app = spawn_admin_app(pool.clone(), &env).await;
    let state = app.state.clone();

    let ids: Vec<String> = status(&app).await["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 17);
    for id in &ids {
        let (code, body) = app.verify_integration(id).await;
        assert_eq!(code, 200, "{body}");
        // Alpha Vantage cannot prove a key valid, even against the simulator.
        let expected = if id == "alphavantage" {
            "unverifiable"
        } else {
            "ok"
        };
        assert_eq!(body["outcome"], expected, "{id}: {body}");
        assert_eq!(body["sandbox"], true, "{id}");
    }
    let body = status(&app).await;
    for p in body["providers"].as_array().unwrap() {
        assert_eq!(p["configured"], true, "{p}");
        assert_eq!(p["sandbox"], true, "{p}");
        assert!(p["last_verified_at"].is_string(), "{p}");
        let connected = if p["id"] == "alphavantage" {
            Value::Null
        } else {
            Value::Bool(true)
        };
        assert_eq!(p["connected"], connected, "{p}");
        assert_eq!(p["error_code"], Value::Null, "{p}");
    }
    let before = provider(&body, "polygon").clone();
    assert_eq!(before["proof_of_use_count_24h"], 0);
    assert_eq!(before["last_used_at"], Value::Null);

    // Two Globex days of ES minute bars: about 2,760 bars, three simulator pages.
    let from = "2026-11-23T00:00:00Z".parse().unwrap();
    let to = "2026-11-25T00:00:00Z".parse().unwrap();
    let bars = state
        .runtime
        .fetch_bars(
            "polygon",
            BarsRequest {
                instrument: Symbol::Es,
                contract: None,
                timeframe: Timeframe::M1,
                from,
                to,
                ctx: CallContext::default(),
            },
        )
        .await
        .unwrap();
    assert_eq!(bars.len(), 2 * 23 * 60);
    assert!(bars.windows(2).all(|w| w[0].ts_open < w[1].ts_open));
    let cached: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM market_bars WHERE provider_id = 'polygon' AND symbol = 'ES' \
         AND contract = 'ESZ26'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(cached, bars.len() as i64);
    let first = polygon_usage(&app, 3).await;
    let first_used: chrono::DateTime<chrono::Utc> =
        first["last_used_at"].as_str().unwrap().parse().unwrap();

    tokio::time::sleep(Duration::from_millis(20)).await;
    state
        .runtime
        .fetch_bars(
            "polygon",
            BarsRequest {
                instrument: Symbol::Nq,
                contract: None,
                timeframe: Timeframe::H1,
                from,
                to,
                ctx: CallContext::default(),
            },
        )
        .await
        .unwrap();
    let second = polygon_usage(&app, 4).await;
    let second_used: chrono::DateTime<chrono::Utc> =
        second["last_used_at"].as_str().unwrap().parse().unwrap();
    assert!(second_used > first_used, "last_used_at moves");

    // Databento through the official crate: DBN over HTTP, the same synthetic market.
    let dbn = state
        .runtime
        .fetch_bars(
            "databento",
            BarsRequest {
                instrument: Symbol::Es,
                contract: None,
                timeframe: Timeframe::M1,
                from,
                to,
                ctx: CallContext::default(),
            },
        )
        .await
        .unwrap();
    assert_eq!(dbn.len(), bars.len());
    for (d, p) in dbn.iter().zip(&bars) {
        assert_eq!(
            (d.ts_open, d.open, d.high, d.low, d.close, d.volume),
            (p.ts_open, p.open, p.high, p.low, p.close, p.volume)
        );
    }
    let daily = state
        .runtime
        .fetch_bars(
            "databento",
            BarsRequest {
                instrument: Symbol::Nq,
                contract: None,
                timeframe: Timeframe::D1,
                from,
                to,
                ctx: CallContext::default(),
            },
        )
        .await
        .unwrap();
    assert!(!daily.is_empty());
    for _ in 0..100 {
        let body = status(&app).await;
        if provider(&body, "databento")["proof_of_use_count_24h"] == 2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("databento proof of use did not reach 2");
}

/// Bars of every timeframe from both market-data clients against the simulator.
async fn fetch(
    app: &TestApp,
    provider: &str,
    timeframe: Timeframe,
    from: &str,
    to: &str,
) -> Vec<Bar> {
    let bars = app
        .state
        .runtime
        .fetch_bars(
            provider,
            BarsRequest {
                instrument: Symbol::Es,
                contract: None,
                timeframe,
                from: from.parse().unwrap(),
                to: to.parse().unwrap(),
                ctx: CallContext::default(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{provider} {timeframe:?}: {e}"));
    assert!(bars.windows(2).all(|w| w[0].ts_open < w[1].ts_open));
    // On ES's tick grid, and cached under their series exactly as returned.
    let es = Symbol::Es.spec();
    assert!(bars.iter().all(|b| {
        [b.open, b.high, b.low, b.close]
            .into_iter()
            .all(|p| es.is_on_tick(p))
    }));
    let cached: Vec<(DateTime<Utc>, Decimal, Decimal, Decimal, Decimal, Decimal)> = sqlx::query_as(
        "SELECT ts, open, high, low, close, volume FROM market_bars \
             WHERE provider_id = $1 AND symbol = 'ES' AND contract = 'ESZ26' AND timeframe = $2 \
             AND ts = ANY($3)",
    )
    .bind(provider)
    .bind(timeframe.as_str())
    .bind(bars.iter().map(|b| b.ts_open).collect::<Vec<_>>())
    .fetch_all(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(cached.len(), bars.len(), "{provider} {timeframe:?}");
    for (ts, open, high, low, close, volume) in cached {
        let bar = bars.iter().find(|b| b.ts_open == ts).unwrap();
        assert_eq!(
            (open, high, low, close, volume),
            (
                bar.open,
                bar.high,
                bar.low,
                bar.close,
                Decimal::from(bar.volume)
            ),
            "{provider} {timeframe:?} {ts}"
        );
    }
    bars
}

fn ohlcv(b: &Bar) -> (i64, Decimal, Decimal, Decimal, Decimal, u64) {
    (
        b.ts_open.timestamp(),
        b.open,
        b.high,
        b.low,
        b.close,
        b.volume,
    )
}

/// `bars` grouped by `len` seconds into (start, open, high, low, close, volume).
fn regroup(bars: &[Bar], len: i64) -> Vec<(i64, Decimal, Decimal, Decimal, Decimal, u64)> {
    bars.chunk_by(|a, b| {
        a.ts_open.timestamp().div_euclid(len) == b.ts_open.timestamp().div_euclid(len)
    })
    .map(|g| {
        (
            g[0].ts_open.timestamp().div_euclid(len) * len,
            g[0].open,
            g.iter().map(|b| b.high).max().unwrap(),
            g.iter().map(|b| b.low).min().unwrap(),
            g[g.len() - 1].close,
            g.iter().map(|b| b.volume).sum(),
        )
    })
    .collect()
}

#[sqlx::test]
async fn sandbox_serves_every_timeframe_through_both_clients(pool: PgPool) {
    let env = start_sandbox().await;
    let app = spawn_admin_app(pool, &env).await;
    // Tuesday 2026-11-24 09:00–09:15 CT.
    let (from, to) = ("2026-11-24T15:00:00Z", "2026-11-24T15:15:00Z");
    for provider in ["polygon", "databento"] {
        let secs = fetch(&app, provider, Timeframe::S1, from, to).await;
        let mins = fetch(&app, provider, Timeframe::M1, from, to).await;
        let five = fetch(&app, provider, Timeframe::M5, from, to).await;
        let fifteen = fetch(&app, provider, Timeframe::M15, from, to).await;
        assert_eq!(
            (secs.len(), mins.len(), five.len(), fifteen.len()),
            (900, 15, 3, 1),
            "{provider}"
        );
        // The seconds of each minute agree with its 1m bar.
        for (minute, sec) in mins.iter().zip(secs.chunks(60)) {
            assert!(
                sec.iter()
                    .all(|s| s.ts_open.timestamp() / 60 == minute.ts_open.timestamp() / 60)
            );
            assert_eq!(sec[0].open, minute.open, "{provider}");
            assert_eq!(sec[59].close, minute.close, "{provider}");
            assert!(
                sec.iter()
                    .all(|s| s.high <= minute.high && s.low >= minute.low)
            );
            assert_eq!(regroup(sec, 60), vec![ohlcv(minute)], "{provider}");
        }
        assert_eq!(
            regroup(&mins, 300),
            five.iter().map(ohlcv).collect::<Vec<_>>()
        );
        assert_eq!(
            regroup(&mins, 900),
            fifteen.iter().map(ohlcv).collect::<Vec<_>>()
        );
        assert_eq!(five[0].ts_open.to_rfc3339(), "2026-11-24T15:00:00+00:00");
    }
    // Both clients see the same market, timeframe by timeframe.
    for tf in [Timeframe::S1, Timeframe::M5, Timeframe::M15] {
        let p = fetch(&app, "polygon", tf, from, to).await;
        let d = fetch(&app, "databento", tf, from, to).await;
        assert_eq!(
            p.iter().map(ohlcv).collect::<Vec<_>>(),
            d.iter().map(ohlcv).collect::<Vec<_>>(),
            "{tf:?}"
        );
    }

    // The latest second, and the latest 200, as a 1s bot asks at each boundary.
    for provider in ["polygon", "databento"] {
        let one = fetch(
            &app,
            provider,
            Timeframe::S1,
            "2026-11-24T15:59:59Z",
            "2026-11-24T16:00:00Z",
        )
        .await;
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].ts_open.to_rfc3339(), "2026-11-24T15:59:59+00:00");
        let window = fetch(
            &app,
            provider,
            Timeframe::S1,
            "2026-11-24T15:56:40Z",
            "2026-11-24T16:00:00Z",
        )
        .await;
        assert_eq!(window.len(), 200);
        assert_eq!(ohlcv(&window[199]), ohlcv(&one[0]));
    }

    // The daily halt (16:00–17:00 CT = 22:00–23:00 UTC): no bars of any timeframe inside it.
    let (from, to) = ("2026-11-24T21:45:00Z", "2026-11-24T23:15:00Z");
    for provider in ["polygon", "databento"] {
        let secs = fetch(&app, provider, Timeframe::S1, from, to).await;
        assert_eq!(secs.len(), 2 * 15 * 60, "{provider}");
        let mins = fetch(&app, provider, Timeframe::M1, from, to).await;
        assert_eq!(mins.len(), 30, "{provider}");
        for tf in [Timeframe::S1, Timeframe::M1, Timeframe::M5, Timeframe::M15] {
            let bars = fetch(&app, provider, tf, from, to).await;
            assert!(
                bars.iter()
                    .all(|b| b.ts_open.format("%H").to_string() != "22"),
                "{provider} {tf:?}"
            );
            let expected = [(Timeframe::M5, 6), (Timeframe::M15, 2)];
            if let Some((_, n)) = expected.iter().find(|(t, _)| *t == tf) {
                assert_eq!(bars.len(), *n, "{provider} {tf:?}");
            }
        }
        assert_eq!(
            secs[secs.len() / 2].ts_open.to_rfc3339(),
            "2026-11-24T23:00:00+00:00"
        );
    }

    // A range that cuts a bucket: only the buckets it covers, from either vendor (Polygon sends
    // the partial one, Databento is aggregated locally).
    for provider in ["polygon", "databento"] {
        let five = fetch(
            &app,
            provider,
            Timeframe::M5,
            "2026-11-24T15:02:00Z",
            "2026-11-24T15:17:00Z",
        )
        .await;
        let starts: Vec<String> = five
            .iter()
            .map(|b| b.ts_open.format("%H:%M").to_string())
            .collect();
        assert_eq!(starts, ["15:05", "15:10"], "{provider}");
    }

    // 2,500 seconds: three simulator pages, each resumed at the cursor.
    let long = fetch(
        &app,
        "polygon",
        Timeframe::S1,
        "2026-11-24T15:00:00Z",
        "2026-11-24T15:41:40Z",
    )
    .await;
    assert_eq!(long.len(), 2500);
    assert!(
        long.windows(2)
            .all(|w| w[1].ts_open.timestamp() - w[0].ts_open.timestamp() == 1)
    );
    assert!(long.windows(2).all(|w| w[1].open == w[0].close));
}
