//! The `summary` of every bot in `GET /api/bots` and `GET /api/bots/{id}`: autonomy, today's
//! PnL (round trips closed since the CME trade date began, open PnL at the cached mark),
//! the latest evaluation (folded no-trade rows at their `last_seen_at`) and the open breakers
//! that stop the bot, against ledger rows written with known values.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    domain::{
        autonomy::Breakdown,
        breaker::BreakerState,
        calendar::{trade_date, trade_date_start},
        instruments::Symbol,
        positions::Position,
        risk::{AutonomyTier, Stage},
        side::Side,
        timeframe::Timeframe,
    },
    runtime::{Fault, RunnerOptions},
    store::{
        autonomy_scores::{self, AutonomyScoreRow},
        bots::{self, NewBot},
        fills::{self, FillBooking},
    },
};
use uuid::Uuid;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};

use crate::support::{
    TestApp, env_for,
    fixtures::{lease, until, working_order},
    spawn_app, spawn_app_with_env,
};

async fn bot(pool: &PgPool, name: &str, symbol: Symbol) -> Uuid {
    bots::insert(
        pool,
        NewBot {
            name: name.into(),
            symbol,
            timeframe: Timeframe::M1,
            stage: Stage::Paper,
            strategy: json!({"kind": "sma_crossover", "params": {"fast": 2, "slow": 4}}),
            risk_limits: json!({}),
            created_by: None,
        },
        crate::support::now(),
    )
    .await
    .unwrap()
    .id
}

/// Books one ES fill at `at` the way the runner does (commission 2.25 per contract).
async fn fill(
    pool: &PgPool,
    bot: Uuid,
    position: &mut Position,
    side: Side,
    qty: u32,
    price: Decimal,
    at: DateTime<Utc>,
) {
    let order = working_order(pool, bot, &Uuid::now_v7().to_string(), side, qty as i32).await;
    let before = position.clone();
    let mut after = before.clone();
    let commission = dec!(2.25) * Decimal::from(qty);
    let realized = after.apply_fill(side, qty, price, commission);
    let fence = lease(pool, bot).await;
    fills::book(
        pool,
        FillBooking {
            fence: &fence,
            order: &order,
            side,
            quantity: qty,
            price,
            commission,
            filled_at: at,
            simulated: true,
            before: &before,
            after: &after,
            realized,
        },
    )
    .await
    .unwrap();
    *position = after;
}

fn item(body: &Value, id: Uuid) -> &Value {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id.to_string())
        .unwrap_or_else(|| panic!("{id} not listed: {body}"))
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

#[sqlx::test]
async fn the_list_shows_autonomy_todays_pnl_and_the_latest_evaluation(pool: PgPool) {
    let now = crate::support::now();
    let date = trade_date(now);
    let day_start = trade_date_start(date);
    assert!(day_start <= now && now - day_start < Duration::hours(24));
    // Halfway between the start of the trade date and now: "today" whenever the test runs.
    let today = day_start + (now - day_start) / 2;
    let yesterday = day_start - Duration::hours(2);

    // ES bot: a round trip closed yesterday (not counted), one opened yesterday and closed
    // today, and a long still open.
    let es = bot(&pool, "es", Symbol::Es).await;
    let mut p = Position::flat(Symbol::Es);
    fill(
        &pool,
        es,
        &mut p,
        Side::Buy,
        1,
        dec!(4990),
        yesterday - Duration::hours(1),
    )
    .await;
    fill(&pool, es, &mut p, Side::Sell, 1, dec!(4980), yesterday).await;
    fill(
        &pool,
        es,
        &mut p,
        Side::Buy,
        2,
        dec!(5000),
        yesterday + Duration::minutes(1),
    )
    .await;
    fill(&pool, es, &mut p, Side::Sell, 2, dec!(5010), today).await;
    fill(&pool, es, &mut p, Side::Buy, 1, dec!(5020), today).await;
    // The newest cached ES close, as the decoder caches it: on the 0.25 tick.
    let bar_at = now - Duration::minutes(1);
    sqlx::query(
        "INSERT INTO market_bars (provider_id, symbol, contract, timeframe, ts, open, high, low, close, volume) \
         VALUES ('databento', 'ES', 'ESZ26', '1m', $1, 5030, 5031, 5029, 5030.25, 10), \
                ('databento', 'ES', 'ESZ26', '1m', $2, 5000, 5001, 4999, 5000, 10)",
    )
    .bind(bar_at)
    .bind(bar_at - Duration::minutes(1))
    .execute(&pool)
    .await
    .unwrap();
    autonomy_scores::upsert(
        &pool,
        &AutonomyScoreRow {
            bot_id: es,
            autonomy_score: 63,
            data_reliability_score: 70,
            decision_quality_score: 60,
            risk_discipline_score: 80,
            execution_health_score: 50,
            supervisor_trust_score: 55,
            autonomy_tier: AutonomyTier::LimitedAutonomy,
            breakdown: sqlx::types::Json(Breakdown {
                sub_scores: Vec::new(),
                gates: Vec::new(),
                thresholds: Vec::new(),
                tier: AutonomyTier::LimitedAutonomy,
            }),
            last_updated_at: now - Duration::seconds(30),
        },
    )
    .await
    .unwrap();
    // A decision 5 minutes ago, then a folded no-trade row last seen 1 minute ago.
    let trace = "0123456789abcdef0123456789abcdef";
    sqlx::query(
        "INSERT INTO decision_traces (id, bot_id, created_at, decision_type, reason_human, reason_code, \
         confidence, expected_value, trace_id) VALUES ($1, $2, $3, 'ENTRY', 'cross', 'SMA_CROSS', 0.6, 1.0, $4)",
    )
    .bind(Uuid::now_v7())
    .bind(es)
    .bind(now - Duration::minutes(5))
    .bind(trace)
    .execute(&pool)
    .await
    .unwrap();
    let last_seen = now - Duration::minutes(1);
    sqlx::query(
        "INSERT INTO no_trade_traces (id, bot_id, created_at, last_seen_at, count, suppression_type, \
         suppression_decision, reason_human, reason_code, trace_id) \
         VALUES ($1, $2, $3, $4, 4, 'NO_SIGNAL', 'SKIP', 'no signal', 'NO_SIGNAL', $5)",
    )
    .bind(Uuid::now_v7())
    .bind(es)
    .bind(now - Duration::minutes(4))
    .bind(last_seen)
    .bind(trace)
    .execute(&pool)
    .await
    .unwrap();

    // NQ bot: never traded, scored or evaluated. MES bot: a position but no cached MES bar.
    let nq = bot(&pool, "nq", Symbol::Nq).await;
    let mes = bot(&pool, "mes", Symbol::Mes).await;
    sqlx::query(
        "INSERT INTO positions (bot_id, symbol, quantity, average_price, realized_pnl) \
         VALUES ($1, 'MES', -3, 6000.25, 0)",
    )
    .bind(mes)
    .execute(&pool)
    .await
    .unwrap();

    let app = spawn_app(pool.clone()).await.signed_in_as_admin().await;
    let (status, body) = app.list_bots("").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 3);

    let es_item = item(&body, es);
    // The bot's own fields are unchanged, beside `summary`.
    assert_eq!(es_item["name"], "es");
    assert_eq!(es_item["symbol"], "ES");
    assert_eq!(es_item["stage"], "PAPER");
    assert!(
        es_item["risk_limits"]["max_position"].is_number(),
        "{es_item}"
    );
    let s = &es_item["summary"];
    assert_eq!(s["autonomy"]["score"], 63);
    assert_eq!(s["autonomy"]["tier"], "LIMITED_AUTONOMY");
    assert_eq!(
        micros(at(&s["autonomy"]["computed_at"])),
        micros(now - Duration::seconds(30))
    );
    let pnl = &s["today_pnl"];
    assert_eq!(pnl["trade_date"], date.to_string());
    assert_eq!(micros(at(&pnl["trade_date_start"])), micros(day_start));
    // 10 points × 2 × $50 = 1000, less 4 × 2.25 commissions = 991.
    assert_eq!(
        pnl["realized"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        dec!(991)
    );
    assert_eq!(pnl["trades_closed"], 1);
    assert_eq!(
        pnl["mark_price"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        dec!(5030.25)
    );
    assert_eq!(micros(at(&pnl["marked_at"])), micros(bar_at));
    // (5030.25 − 5020) × 1 × $50.
    assert_eq!(
        pnl["unrealized"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        dec!(512.5)
    );
    assert_eq!(micros(at(&s["last_evaluation_at"])), micros(last_seen));
    assert_eq!(s["open_breakers"], json!([]));

    let s = &item(&body, nq)["summary"];
    assert_eq!(s["autonomy"], Value::Null);
    assert_eq!(s["today_pnl"]["realized"], "0");
    assert_eq!(s["today_pnl"]["trades_closed"], 0);
    // Flat: nothing open, so zero is known.
    assert_eq!(s["today_pnl"]["unrealized"], "0");
    assert_eq!(s["today_pnl"]["mark_price"], Value::Null);
    assert_eq!(s["last_evaluation_at"], Value::Null);

    // Short 3 MES without any MES price: open PnL unknown, not zero.
    let s = &item(&body, mes)["summary"];
    assert_eq!(s["today_pnl"]["unrealized"], Value::Null);
    assert_eq!(s["today_pnl"]["mark_price"], Value::Null);
    assert_eq!(s["today_pnl"]["realized"], "0");

    // The detail carries the same summary.
    let (status, detail) = app.get_bot(&es).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["bot"]["id"], es.to_string());
    assert_eq!(detail["summary"], es_item["summary"]);

    // Filters and pages still work with summaries.
    let (_, body) = app.list_bots("symbol=NQ").await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert_eq!(item(&body, nq)["summary"]["autonomy"], Value::Null);
    let (_, body) = app.list_bots("limit=2").await;
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    assert!(body["next_cursor"].is_string());
    assert!(body["items"][0]["summary"]["today_pnl"].is_object());
}

async fn open_breakers(app: &TestApp, bot: Uuid) -> Value {
    let (status, body) = app.list_bots("").await;
    assert_eq!(status, 200, "{body}");
    item(&body, bot)["summary"]["open_breakers"].clone()
}

#[sqlx::test]
async fn open_breakers_name_the_bots_runner_and_its_data_provider(pool: PgPool) {
    // databento (the bots' bar source) answers every call with a 503.
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503).set_body_string("down"))
        .mount(&server)
        .await;
    let app = spawn_app_with_env(pool.clone(), &env_for("databento", &server.uri()))
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let steady = bot(&pool, "steady", Symbol::Es).await;
    let failing = bot(&pool, "failing", Symbol::Es).await;
    assert_eq!(open_breakers(&app, steady).await, json!([]));

    // Three failed verifies open databento's breaker: every bot reading from it is affected.
    for _ in 0..3 {
        let (status, body) = app.verify_integration("databento").await;
        assert_eq!(status, 200, "{body}");
        assert_ne!(body["outcome"], "ok", "{body}");
    }
    assert_eq!(
        open_breakers(&app, failing).await,
        json!(["provider:databento"])
    );
    assert_eq!(
        open_breakers(&app, steady).await,
        json!(["provider:databento"])
    );

    // Three failures open the failing bot's runner breaker: that one is the bot's alone.
    let opts = RunnerOptions {
        timeframe: Timeframe::S1,
        live: false,
    };
    rt.start_runner(failing, opts).await.unwrap();
    for n in 1..=3 {
        let _ = rt
            .inject_fault(failing, Fault::Fail(format!("drill {n}")))
            .await;
        if n < 3 {
            until("the restart", async || {
                let r = rt.runner(failing)?;
                (r.restart_count == n && r.status.is_live()).then_some(())
            })
            .await;
        }
    }
    until("the runner breaker to open", async || {
        (rt.runner(failing)?.breaker_state == BreakerState::Open).then_some(())
    })
    .await;
    let bot_scope = format!("bot:{failing}");
    assert_eq!(
        open_breakers(&app, failing).await,
        json!([bot_scope, "provider:databento"])
    );
    assert_eq!(
        open_breakers(&app, steady).await,
        json!(["provider:databento"])
    );
    let (_, detail) = app.get_bot(&steady).await;
    assert_eq!(
        detail["summary"]["open_breakers"],
        json!(["provider:databento"])
    );
}
