//! End to end with `tradeplane sandbox`: no keys → every provider unconfigured with a fix;
//! `.env.sandbox` → every verify succeeds against the simulator, `connected` and `sandbox`
//! turn true; fetching bars raises `proof_of_use_count_24h` and moves `last_used_at`.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    integrations::{http::CallContext, registry::EnvMap},
    runtime::BarsRequest,
    runtime::Timeframe,
    sandbox,
};

use crate::{
    helpers::{TestApp, envelope},
    integrations::{post, provider, spawn_with_env},
};

/// Starts the simulator on free ports and reads `.env.sandbox` pointed at them.
pub async fn start_sandbox() -> EnvMap {
    let (http, redis) = sandbox::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let http_addr = http.local_addr().unwrap().to_string();
    let redis_addr = redis.local_addr().unwrap().to_string();
    tokio::spawn(sandbox::serve(http, redis));
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.sandbox")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v
                .replace("127.0.0.1:9400", &http_addr)
                .replace("127.0.0.1:9401", &redis_addr);
            (k.to_owned(), v)
        })
        .collect()
}

async fn status(app: &TestApp) -> Value {
    let (code, body) = envelope(app.get("/api/integrations/status").await).await;
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
    let bare = spawn_with_env(pool.clone(), &EnvMap::new()).await;
    for p in status(&bare).await["providers"].as_array().unwrap() {
        assert_eq!(p["configured"], false);
        assert!(!p["missing_env_vars"].as_array().unwrap().is_empty());
        assert!(p["suggested_fix"].is_string());
    }

    let env = start_sandbox().await;
    let app = spawn_with_env(pool.clone(), &env).await;
    let state = app.state.clone();

    let ids: Vec<String> = status(&app).await["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 17);
    for id in &ids {
        let (code, body) = post(&app, "/api/integrations/verify", json!({"provider_id": id})).await;
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
                symbol: "ES.c.0".into(),
                timeframe: Timeframe::M1,
                from,
                to,
                ctx: CallContext::default(),
            },
        )
        .await
        .unwrap();
    assert_eq!(bars.len(), 2 * 23 * 60);
    assert!(bars.windows(2).all(|w| w[0].ts < w[1].ts));
    let cached: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM market_bars WHERE provider_id = 'polygon' AND symbol = 'ES.c.0'",
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
                symbol: "NQ.c.0".into(),
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
                symbol: "ES.c.0".into(),
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
            (d.ts, d.open, d.high, d.low, d.close, d.volume),
            (p.ts, p.open, p.high, p.low, p.close, p.volume)
        );
    }
    let daily = state
        .runtime
        .fetch_bars(
            "databento",
            BarsRequest {
                symbol: "NQ.c.0".into(),
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
