//! Bots' complete risk limits (defaults, merge, field names), `profit_variables` kept in step
//! with the bots' strategies, and the CME holiday table as the calendar's source.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::America::Chicago;
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    domain::{
        calendar::{HolidayCalendar, SessionState},
        strategies::VariableDecl,
        strategy_config::StrategyConfig,
    },
    store::{cme_holidays, profit_variables},
};
use uuid::Uuid;

use crate::support::{TestApp, error_code, spawn_app};

fn bot(name: &str, timeframe: &str, strategy: Value, risk: Option<Value>) -> Value {
    let mut body = json!({
        "name": name, "symbol": "ES", "timeframe": timeframe, "stage": "LAB",
        "strategy": strategy,
    });
    if let Some(risk) = risk {
        body["risk"] = risk;
    }
    body
}

fn sma() -> Value {
    json!({"kind": "sma_crossover", "params": {"fast": 10, "slow": 30}})
}

fn rsi() -> Value {
    json!({"kind": "rsi_mean_reversion", "params": {"period": 14, "oversold": 30, "overbought": 70}})
}

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, body) = app.create_bot(body).await;
    assert_eq!(status, 201, "{body}");
    body["bot"].clone()
}

#[sqlx::test]
async fn limits_are_stored_complete_merged_on_patch_and_refused_by_field(pool: PgPool) {
    let app = spawn_app(pool.clone()).await.signed_in_as_admin().await;
    // Partial on create: the rest are the 1s desk defaults, money exact and as strings.
    let created = create(
        &app,
        bot(
            "fast",
            "1s",
            sma(),
            Some(json!({"max_order_size": 2, "daily_loss_limit": 1500.25})),
        ),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let expected = json!({
        "max_order_size": 2, "max_position": 1, "daily_loss_limit": "1500.25",
        "max_drawdown": "1000", "max_orders_per_minute": 10, "price_collar_ticks": 20,
        "max_data_age_seconds": 7
    });
    assert_eq!(created["risk_limits"], expected);
    let stored: Value = sqlx::query_scalar("SELECT risk_limits FROM bots WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, expected, "the row holds the complete limits");

    // No `risk` at all on a daily bot: a two-day data age.
    let daily = create(&app, bot("slow", "1d", rsi(), None)).await;
    assert_eq!(daily["risk_limits"]["max_data_age_seconds"], 2 * 86_400 + 5);

    // PATCH merges onto what is stored.
    let (status, body) = app
        .patch_bot(
            &id,
            json!({"risk": {"max_position": 3, "max_drawdown": "2500.5"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut merged = expected.clone();
    merged["max_position"] = json!(3);
    merged["max_drawdown"] = json!("2500.5");
    assert_eq!(body["bot"]["risk_limits"], merged);

    // Bad values and unknown fields are named, on create and on patch; nothing changes.
    for (risk, field) in [
        (json!({"max_order_size": 0}), "risk.max_order_size"),
        (json!({"max_position": -1}), "risk.max_position"),
        (
            json!({"price_collar_ticks": 2.5}),
            "risk.price_collar_ticks",
        ),
        (
            json!({"max_data_age_seconds": "soon"}),
            "risk.max_data_age_seconds",
        ),
        (json!({"daily_loss_limit": 0}), "risk.daily_loss_limit"),
        (json!({"max_drawdown": "-5"}), "risk.max_drawdown"),
        (json!({"max_data_age_secs": 60}), "risk.max_data_age_secs"),
        (json!([1, 2]), "risk"),
    ] {
        let (status, body) = app.patch_bot(&id, json!({ "risk": risk })).await;
        assert_eq!(
            (
                status,
                error_code(&body),
                body["error"]["details"]["field"].as_str()
            ),
            (422, "VALIDATION_FAILED", Some(field)),
            "{risk} {body}"
        );
        let (status, body) = app
            .create_bot(bot("refused", "1m", sma(), Some(risk.clone())))
            .await;
        assert_eq!(
            (status, body["error"]["details"]["field"].as_str()),
            (422, Some(field)),
            "{risk} {body}"
        );
    }
    let (_, body) = app.get_bot(&id).await;
    assert_eq!(body["bot"]["risk_limits"], merged);

    // An older row (`{}` or a subset) reads as complete in GET and list, and PATCH merges
    // onto the defaults of its timeframe.
    sqlx::query("UPDATE bots SET risk_limits = '{\"max_order_size\": 4}' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let mut legacy = json!({
        "max_order_size": 4, "max_position": 1, "daily_loss_limit": "500",
        "max_drawdown": "1000", "max_orders_per_minute": 10, "price_collar_ticks": 20,
        "max_data_age_seconds": 7
    });
    let (_, body) = app.get_bot(&id).await;
    assert_eq!(body["bot"]["risk_limits"], legacy);
    let (_, body) = app.list_bots("").await;
    let listed = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id.as_str())
        .unwrap();
    assert_eq!(listed["risk_limits"], legacy);
    let (status, body) = app
        .patch_bot(&id, json!({"risk": {"max_orders_per_minute": 2}}))
        .await;
    assert_eq!(status, 200, "{body}");
    legacy["max_orders_per_minute"] = json!(2);
    assert_eq!(body["bot"]["risk_limits"], legacy);

    // A stored row that no longer parses: a partial PATCH is refused, a complete one repairs it.
    sqlx::query("UPDATE bots SET risk_limits = '{\"leverage\": 9}' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let (status, body) = app
        .patch_bot(&id, json!({"risk": {"max_position": 2}}))
        .await;
    assert_eq!(
        (status, body["error"]["details"]["field"].as_str()),
        (422, Some("risk")),
        "{body}"
    );
    let (status, body) = app.patch_bot(&id, json!({ "risk": expected })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bot"]["risk_limits"], expected);
}

/// name → sorted `used_by_bot_ids`, from the API.
async fn usage(app: &TestApp) -> BTreeMap<String, Vec<String>> {
    let (status, body) = app.profit_variables("limit=500").await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert_eq!(v["source_integration"], "market_data", "{v}");
            let mut ids: Vec<String> = v["used_by_bot_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            (v["name"].as_str().unwrap().to_owned(), ids)
        })
        .collect()
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

#[sqlx::test]
async fn profit_variables_follow_the_bots_strategies(pool: PgPool) {
    let app = spawn_app(pool.clone()).await.signed_in_as_admin().await;
    let a = create(&app, bot("trend", "1m", sma(), None)).await;
    let b = create(&app, bot("revert", "5m", rsi(), None)).await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let got = usage(&app).await;
    let want: BTreeMap<String, Vec<String>> = [
        ("close", sorted(&[a, b])),
        ("close_stdev", sorted(&[a, b])),
        ("ma_fast", sorted(&[a])),
        ("ma_slow", sorted(&[a])),
        ("rsi", sorted(&[b])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(got, want);
    let rsi_row: (String, String, String) = sqlx::query_as(
        "SELECT category, variable_type, description FROM profit_variables WHERE name = 'rsi'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(rsi_row.0, "indicator");
    assert_eq!(rsi_row.1, "number");
    assert!(rsi_row.2.contains("RSI"), "{}", rsi_row.2);

    // A refused create (name taken) leaves the variables alone.
    let (status, _) = app
        .create_bot(bot(
            "trend",
            "1m",
            json!({"kind": "donchian_breakout", "params": {"lookback": 20}}),
            None,
        ))
        .await;
    assert_eq!(status, 422);
    assert_eq!(usage(&app).await, want);

    // A's strategy changes kind: it leaves the crossover variables and joins Donchian's.
    let before: DateTime<Utc> =
        sqlx::query_scalar("SELECT last_updated_at FROM profit_variables WHERE name = 'ma_fast'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let (status, body) = app
        .patch_bot(
            &a,
            json!({"strategy": {"kind": "donchian_breakout", "params": {"lookback": 20}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let got = usage(&app).await;
    let want: BTreeMap<String, Vec<String>> = [
        ("close", sorted(&[a, b])),
        ("close_stdev", sorted(&[a, b])),
        ("donchian_high", sorted(&[a])),
        ("donchian_low", sorted(&[a])),
        ("ma_fast", vec![]),
        ("ma_slow", vec![]),
        ("rsi", sorted(&[b])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(got, want);
    let after: DateTime<Utc> =
        sqlx::query_scalar("SELECT last_updated_at FROM profit_variables WHERE name = 'ma_fast'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(after >= before);
    // A PATCH that leaves the strategy alone does not sync.
    let (status, _) = app.patch_bot(&b, json!({"name": "revert-2"})).await;
    assert_eq!(status, 200);
    assert_eq!(usage(&app).await, want);
}

/// Many bots synced at once, each twice with different strategies: no lost update, no
/// deadlock, each bot listed exactly where its last sync put it.
#[sqlx::test]
async fn concurrent_syncs_for_different_bots_lose_nothing(pool: PgPool) {
    let kinds = [
        json!({"kind": "sma_crossover", "params": {"fast": 10, "slow": 30}}),
        json!({"kind": "donchian_breakout", "params": {"lookback": 20}}),
        json!({"kind": "rsi_mean_reversion", "params": {"period": 14, "oversold": 30, "overbought": 70}}),
    ];
    let configs: Vec<StrategyConfig> = kinds
        .iter()
        .map(|k| serde_json::from_value(k.clone()).unwrap())
        .collect();
    let bots: Vec<Uuid> = (0..12).map(|_| Uuid::now_v7()).collect();
    let now = crate::support::now();
    let tasks: Vec<_> = bots
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let pool = pool.clone();
            let first: &'static [VariableDecl] = configs[i % 3].variables();
            let last: &'static [VariableDecl] = configs[(i + 1) % 3].variables();
            tokio::spawn(async move {
                profit_variables::sync_bot(&pool, id, first, now).await?;
                profit_variables::sync_bot(&pool, id, last, now).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let rows: Vec<(String, Value)> =
        sqlx::query_as("SELECT name, used_by_bot_ids FROM profit_variables")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (name, used) in rows {
        let mut got: Vec<String> = serde_json::from_value(used).unwrap();
        got.sort();
        let mut want: Vec<String> = bots
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                configs[(i + 1) % 3]
                    .variables()
                    .iter()
                    .any(|v| v.name == name)
            })
            .map(|(_, id)| id.to_string())
            .collect();
        want.sort();
        assert_eq!(got, want, "{name}");
    }
    // An empty list (bot deletion) removes a bot everywhere.
    profit_variables::sync_bot(&pool, bots[0], &[], now)
        .await
        .unwrap();
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM profit_variables WHERE used_by_bot_ids ? $1")
            .bind(bots[0].to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(left, 0);
}

fn ct(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Chicago
        .with_ymd_and_hms(y, m, d, h, mi, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

#[sqlx::test]
async fn the_seeded_holiday_table_is_the_calendar(pool: PgPool) {
    let cal = cme_holidays::load_calendar(&pool).await.unwrap();
    assert_eq!(
        cal.is_open(ct(2026, 11, 26, 12, 30)),
        SessionState::EarlyClosed("Thanksgiving Day".into())
    );
    assert_eq!(cal.is_open(ct(2026, 11, 27, 12, 10)), SessionState::Open);
    assert_eq!(
        cal.is_open(ct(2026, 11, 27, 12, 20)),
        SessionState::EarlyClosed("Day after Thanksgiving".into())
    );
    assert_eq!(
        cal.is_open(ct(2026, 12, 25, 10, 0)),
        SessionState::Holiday("Christmas Day".into())
    );
    // The seed and the test fixture are the same rows.
    assert_eq!(
        cal.holidays(),
        HolidayCalendar::cme_equity_fixture().holidays()
    );

    // The table rules: an operator's edit is what the calendar reads.
    sqlx::query("UPDATE cme_holidays SET early_close_time = '13:00' WHERE date = '2026-11-27'")
        .execute(&pool)
        .await
        .unwrap();
    let cal = cme_holidays::load_calendar(&pool).await.unwrap();
    assert_eq!(cal.is_open(ct(2026, 11, 27, 12, 20)), SessionState::Open);

    // A row the CHECKs would refuse (they were dropped by hand) is skipped, not a panic.
    sqlx::query("ALTER TABLE cme_holidays DROP CONSTRAINT cme_holidays_check")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO cme_holidays (date, kind, early_close_time, name) \
         VALUES ('2026-10-14', 'EARLY_CLOSE', NULL, 'Broken')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let cal = cme_holidays::load_calendar(&pool).await.unwrap();
    assert_eq!(cal.is_open(ct(2026, 10, 14, 13, 0)), SessionState::Open);
    assert_eq!(
        cal.is_open(ct(2026, 12, 25, 10, 0)),
        SessionState::Holiday("Christmas Day".into())
    );
}

#[sqlx::test]
async fn the_openapi_document_shows_complete_and_partial_limits(pool: PgPool) {
    let app = spawn_app(pool).await;
    let res = app.http("GET", "/api/openapi.json").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    let full = &schemas["RiskLimits"];
    let mut required: Vec<&str> = full["required"]
        .as_array()
        .unwrap_or_else(|| panic!("{full}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort_unstable();
    assert_eq!(
        required,
        [
            "daily_loss_limit",
            "max_data_age_seconds",
            "max_drawdown",
            "max_order_size",
            "max_orders_per_minute",
            "max_position",
            "price_collar_ticks"
        ]
    );
    assert_eq!(full["properties"]["daily_loss_limit"]["type"], "string");
    let patch = &schemas["RiskLimitsPatch"];
    assert!(patch["required"].is_null(), "{patch}");
    assert!(
        patch["properties"]["max_data_age_seconds"].is_object(),
        "{patch}"
    );
    let refs = |schema: &str, field: &str| schemas[schema]["properties"][field].to_string();
    assert!(refs("CreateBot", "risk").contains("RiskLimitsPatch"));
    assert!(refs("PatchBot", "risk").contains("RiskLimitsPatch"));
    assert!(refs("Bot", "risk_limits").contains("RiskLimits"));
}
