//! `GET /api/market-data/bars` and `GET /api/market-hours` as an operator uses them, on bars
//! the runtime fetched from the sandbox.

use serde_json::Value;
use sqlx::PgPool;
use tradeplane::{
    domain::{instruments::Symbol, timeframe::Timeframe},
    integrations::http::CallContext,
    runtime::BarsRequest,
};

use crate::support::{fixtures::start_sandbox, spawn_admin_app};

#[sqlx::test]
async fn stored_bars_are_served_with_their_source_and_contract_across_a_roll(pool: PgPool) {
    let env = start_sandbox().await;
    let app = spawn_admin_app(pool, &env).await;
    // The ESH27 roll: the 2026-12-10 trade date opens 2026-12-09 23:00 UTC.
    let (from, to) = ("2026-12-09T21:00:00Z", "2026-12-10T01:00:00Z");
    for provider in ["polygon", "databento"] {
        app.state
            .runtime
            .fetch_bars(
                provider,
                BarsRequest {
                    instrument: Symbol::Es,
                    contract: None,
                    timeframe: Timeframe::M5,
                    from: from.parse().unwrap(),
                    to: to.parse().unwrap(),
                    ctx: CallContext::default(),
                },
            )
            .await
            .unwrap();
    }
    let mut all: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = format!("symbol=es&timeframe=5m&from={from}&to={to}&limit=10");
        if let Some(c) = &cursor {
            query.push_str(&format!("&cursor={c}"));
        }
        let (code, body) = app.market_bars(&query).await;
        assert_eq!(code, 200, "{body}");
        pages += 1;
        all.extend(body["items"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    // 12 bars before the halt (ESZ26), 24 after the roll (ESH27); one per start, no gaps.
    assert_eq!(all.len(), 36);
    let ts: Vec<&str> = all.iter().map(|b| b["ts"].as_str().unwrap()).collect();
    assert!(
        ts.windows(2).all(|w| w[0] < w[1]),
        "ascending, no duplicates"
    );
    assert!(
        all.iter().all(|b| b["source"] == "databento"),
        "the preferred provider"
    );
    assert_eq!(all[0]["contract"], "ESZ26");
    assert_eq!(all[11]["contract"], "ESZ26");
    assert_eq!(all[12]["contract"], "ESH27");
    assert_eq!(all[12]["ts"], "2026-12-09T23:00:00Z");
    assert!(
        all[0]["close"].as_str().unwrap().contains('.'),
        "prices as exact strings"
    );

    for bad in [
        format!("symbol=CL&timeframe=5m&from={from}&to={to}"),
        format!("symbol=ES&timeframe=7m&from={from}&to={to}"),
        format!("symbol=ES&timeframe=5m&from={to}&to={from}"),
        format!("symbol=ES&timeframe=5m&from={from}&to={to}&limit=0"),
        format!("symbol=ES&timeframe=5m&from={from}&to={to}&cursor=nope"),
        // Past the supported years (chrono reads them; date arithmetic near its end panics),
        // and a span that would resolve millennia of contracts.
        "symbol=ES&timeframe=1d&from=%2B262142-12-30T00:00:00Z&to=%2B262142-12-31T00:00:00Z"
            .to_owned(),
        "symbol=ES&timeframe=1d&from=-10000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z".to_owned(),
        "symbol=ES&timeframe=1d&from=1970-01-01T00:00:00Z&to=2026-01-01T00:00:00Z".to_owned(),
    ] {
        let (code, body) = app.market_bars(&bad).await;
        assert_eq!(
            (code, body["error"]["code"].as_str()),
            (422, Some("VALIDATION_FAILED")),
            "{bad}"
        );
    }
}

#[sqlx::test]
async fn market_hours_come_from_the_calendar_and_unverified_years_raise_a_blocker(pool: PgPool) {
    let app = spawn_admin_app(pool, &Default::default()).await;
    let (code, body) = app.market_hours("symbol=ES&date=2026-12-24").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["kind"], "EARLY_CLOSE");
    assert_eq!(body["verified"], true);
    assert_eq!(body["source"], "VERIFIED");
    assert_eq!(body["session"]["from"], "2026-12-23T23:00:00Z");
    assert_eq!(body["session"]["to"], "2026-12-24T18:15:00Z");
    assert_eq!(body["holiday"]["name"], "Christmas Eve");
    assert_eq!(body["holiday"]["close_time_ct"], "12:15");
    assert!(body["blocker"].is_null());

    let (_, body) = app.market_hours("symbol=NQ&date=2026-12-02").await;
    assert_eq!(body["kind"], "REGULAR");
    assert_eq!(body["halt"]["from"], "2026-12-02T22:00:00Z");
    assert_eq!(body["halt"]["to"], "2026-12-02T23:00:00Z");

    // Past the verified rows: generated from the rules, with a blocker and a SEV-2 event.
    let (code, body) = app.market_hours("symbol=ES&date=2031-12-25").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["kind"], "HOLIDAY");
    assert_eq!(body["source"], "RULES");
    assert_eq!(body["verified"], false);
    assert_eq!(body["blocker"]["code"], "CALENDAR_UNVERIFIED");
    assert_eq!(body["blocker"]["severity"], "SEV-2");
    assert!(
        body["blocker"]["suggested_fix"]
            .as_str()
            .unwrap()
            .contains("cme_holidays")
    );
    let (_, events) = app.system_events("code=CALENDAR_UNVERIFIED").await;
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events}");
    assert_eq!(items[0]["severity"], "SEV-2");

    for bad in [
        "symbol=CL&date=2026-12-24",
        "symbol=ES&date=2026-13-01",
        "symbol=ES&date=%2B262142-12-31",
        "symbol=ES&date=1969-12-31",
    ] {
        let (code, body) = app.market_hours(bad).await;
        assert_eq!(code, 422, "{bad}: {body}");
    }
    // A list's time filter outside them is a field error too, not a database error.
    let (code, body) = app.system_events("from=-10000-01-01T00:00:00Z").await;
    assert_eq!(
        (code, body["error"]["details"]["field"].as_str()),
        (422, Some("from")),
        "{body}"
    );
}
