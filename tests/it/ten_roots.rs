//! The ten roots (issue 16): a bot on each through the API with its contract spec, the
//! database's checks listing exactly `Symbol::ALL`, and the added roots' bars fetched from both
//! sandbox vendors (which accept them as the vendors do) and served across their rolls.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use tradeplane::{
    domain::{instruments::Symbol, timeframe::Timeframe},
    integrations::http::CallContext,
    runtime::BarsRequest,
};

use crate::support::{
    error_code,
    fixtures::{sma_bot, start_sandbox},
    spawn_admin_app,
};

#[sqlx::test]
async fn a_bot_is_created_on_every_root_with_its_contract(pool: PgPool) {
    let env = start_sandbox().await;
    let app = spawn_admin_app(pool.clone(), &env).await;
    for (i, root) in Symbol::ALL.iter().enumerate() {
        let mut body = sma_bot(&format!("root-{root}"), "LAB");
        // Case-insensitive, as every other symbol field.
        body["symbol"] = if i % 2 == 0 {
            Value::from(root.as_str().to_lowercase())
        } else {
            Value::from(root.as_str())
        };
        let (status, created) = app.create_bot(body).await;
        assert_eq!(status, 201, "{root}: {created}");
        assert_eq!(created["bot"]["symbol"], root.as_str());
        let id = created["bot"]["id"].as_str().unwrap().to_owned();
        let (status, read) = app.get_bot(&id).await;
        assert_eq!(status, 200, "{read}");
        let spec = root.spec();
        let contract = &read["contract"];
        assert_eq!(contract["symbol"], root.as_str());
        assert_eq!(contract["exchange"], spec.exchange);
        assert_eq!(contract["tick_size"], spec.tick_size.to_string(), "{root}");
        assert_eq!(
            contract["tick_value"],
            spec.tick_value.to_string(),
            "{root}"
        );
        assert_eq!(contract["continuous_symbol"], format!("{root}.c.0"));
    }
    let nkd = &Symbol::Nkd.spec();
    assert_eq!(
        (nkd.exchange, nkd.tick_size.to_string()),
        ("CME", "5".into())
    );
    assert_eq!(Symbol::Mym.spec().exchange, "CBOT");
    let (_, listed) = app.list_bots("symbol=m2k").await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["name"], "root-M2K");

    // An unknown root is refused, naming the ten.
    let mut body = sma_bot("crude", "LAB");
    body["symbol"] = Value::from("CL");
    let (status, refused) = app.create_bot(body).await;
    assert_eq!((status, error_code(&refused)), (422, "VALIDATION_FAILED"));
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains(&Symbol::names()), "{message}");

    // The tables' checks accept exactly the roots `Symbol::ALL` lists.
    let want: BTreeSet<String> = Symbol::ALL.iter().map(|s| s.as_str().to_owned()).collect();
    for constraint in [
        "bots_symbol_check",
        "backtests_symbol_check",
        "backtest_sweeps_symbol_check",
    ] {
        let def: String = sqlx::query_scalar(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1",
        )
        .bind(constraint)
        .fetch_one(&pool)
        .await
        .unwrap();
        let listed: BTreeSet<String> = def
            .split('\'')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        assert_eq!(listed, want, "{constraint}: {def}");
    }
}

/// Every bar of `root` in `[from, to)` at 5 minutes as the API serves it, oldest first.
async fn served(app: &crate::support::TestApp, root: Symbol, from: &str, to: &str) -> Vec<Value> {
    let query = format!("symbol={root}&timeframe=5m&from={from}&to={to}&limit=500");
    let (code, body) = app.market_bars(&query).await;
    assert_eq!(code, 200, "{body}");
    assert!(body["next_cursor"].is_null(), "one page");
    body["items"].as_array().unwrap().clone()
}

#[sqlx::test]
async fn the_added_roots_bars_come_from_both_vendors_across_their_rolls(pool: PgPool) {
    let env = start_sandbox().await;
    let app = spawn_admin_app(pool, &env).await;
    // (root, range, the roll's instant, contract before, contract after): M2K rolls with the
    // third-Friday roots (the 2026-09-10 trade date opens 2026-09-09 17:00 CDT = 22:00 UTC,
    // after the 21:00–22:00 UTC halt); NKD a week and a day before its Thursday expiry (the
    // 2026-12-02 trade date opens 2026-12-01 17:00 CST = 23:00 UTC).
    for (root, from, to, roll, before, after) in [
        (
            Symbol::M2k,
            "2026-09-09T20:00:00Z",
            "2026-09-10T00:00:00Z",
            "2026-09-09T22:00:00Z",
            "M2KU26",
            "M2KZ26",
        ),
        (
            Symbol::Nkd,
            "2026-12-01T21:00:00Z",
            "2026-12-02T01:00:00Z",
            "2026-12-01T23:00:00Z",
            "NKDZ26",
            "NKDH27",
        ),
    ] {
        for provider in ["polygon", "databento"] {
            let bars = app
                .state
                .runtime
                .fetch_bars(
                    provider,
                    BarsRequest {
                        instrument: root,
                        contract: None,
                        timeframe: Timeframe::M5,
                        from: from.parse().unwrap(),
                        to: to.parse().unwrap(),
                        ctx: CallContext::default(),
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{provider} {root}: {e:?}"));
            // An hour before the halt, two after: 36 five-minute bars from each vendor.
            assert_eq!(bars.len(), 36, "{provider} {root}");
            let spec = root.spec();
            assert!(
                bars.iter().all(|b| [b.open, b.high, b.low, b.close]
                    .iter()
                    .all(|p| spec.is_on_tick(*p))),
                "{provider} {root}: on the tick"
            );
        }
        let all = served(&app, root, from, to).await;
        assert_eq!(all.len(), 36, "{root}");
        assert!(all.iter().all(|b| b["source"] == "databento"));
        assert_eq!(all[0]["contract"], before, "{root}");
        assert_eq!(all[11]["contract"], before, "{root}");
        assert_eq!(all[12]["contract"], after, "{root}");
        assert_eq!(all[12]["ts"], roll, "{root}");
        assert_eq!(all[35]["contract"], after, "{root}");
        let tick = root.spec().tick_size;
        for bar in &all {
            let close: Decimal = bar["close"].as_str().unwrap().parse().unwrap();
            assert!((close % tick).is_zero(), "{root}: {bar}");
        }
    }
}
