//! Account risk across the bots of one broker account (issue 17 part 6), on the broker
//! simulator: two LIVE bots routed to the same sandbox account. The account's position limit
//! refuses an entry with `ACCOUNT_POSITION_LIMIT` in the bot's trace; the account's order rate
//! refuses the second bot's entry after the first bot's order; a loss past the account's daily
//! limit latches it (`ACCOUNT_DAILY_LOSS_LATCHED` in both bots' traces, a SEV-1 status blocker
//! naming the account), the latch outlives the day's figure rolling over, and only a human
//! re-arm clears it. PUT validation (422 with field errors, nothing stored), viewer 403 and
//! step-up 401.

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::runtime::RuntimeHandle;
use uuid::Uuid;

use crate::support::{
    TestApp,
    fixtures::until,
    live::{LiveSetup, live_app},
    paper::{session_start, tick},
};

const VENDOR: &str = "ironbeam";

/// Two LIVE bots on one sandbox account (shared clock, reconciling every second).
async fn two_live_bots(pool: &PgPool) -> (TestApp, RuntimeHandle, Uuid, Uuid) {
    let setup = LiveSetup {
        reconcile_every: Some(StdDuration::from_secs(1)),
        send_grace: None,
        production_heartbeat: true,
        ..LiveSetup::default()
    };
    let live = live_app(pool, VENDOR, setup).await;
    let a = live.live_bot(pool, "acct-a", 3).await;
    let b = live.live_bot(pool, "acct-b", 3).await;
    (live.app, live.rt, a, b)
}

async fn overview(app: &TestApp) -> Value {
    let (status, body) = app.call("GET", "/api/account-risk", None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn put(app: &TestApp, account: &str, body: Value) -> (u16, Value) {
    app.call(
        "PUT",
        &format!("/api/account-risk/{VENDOR}/{account}"),
        Some(body),
    )
    .await
}

async fn rearm(app: &TestApp, account: &str) -> (u16, Value) {
    app.call(
        "POST",
        &format!("/api/account-risk/{VENDOR}/{account}/rearm"),
        None,
    )
    .await
}

fn limits(gross: u32, net: u32, loss: &str, rate: u32) -> Value {
    json!({"max_gross_contracts": gross, "max_net_contracts": net,
           "daily_loss_limit": loss, "max_orders_per_minute": rate})
}

/// The newest no-trade trace's blockers of the bot, as text ("" when the newest trace is a
/// decision).
async fn newest_blockers(pool: &PgPool, bot: Uuid) -> String {
    sqlx::query_scalar(
        "SELECT t FROM (SELECT blocked_by::text AS t, last_seen_at AS at FROM no_trade_traces \
         WHERE bot_id = $1 UNION ALL SELECT '', created_at FROM decision_traces \
         WHERE bot_id = $1) x ORDER BY at DESC LIMIT 1",
    )
    .bind(bot)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn orders_of(pool: &PgPool, bot: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders WHERE bot_id = $1")
        .bind(bot)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Ticks `bot` from `from` on until its newest trace names `code`; returns that minute.
async fn tick_until(rt: &RuntimeHandle, pool: &PgPool, bot: Uuid, from: i64, code: &str) -> i64 {
    let start = session_start();
    for minute in from..from + 40 {
        tick(rt, pool, bot, start + Duration::minutes(minute)).await;
        if newest_blockers(pool, bot).await.contains(code) {
            return minute;
        }
    }
    panic!(
        "{code} never appeared: {}",
        newest_blockers(pool, bot).await
    );
}

/// Ticks (every runner) from `from` on until the newest trace of either bot names `code`.
async fn tick_until_either(
    rt: &RuntimeHandle,
    pool: &PgPool,
    bots: [Uuid; 2],
    from: i64,
    code: &str,
) -> i64 {
    let start = session_start();
    for minute in from..from + 40 {
        tick(rt, pool, bots[1], start + Duration::minutes(minute)).await;
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        for bot in bots {
            if newest_blockers(pool, bot).await.contains(code) {
                return minute;
            }
        }
    }
    panic!("{code} never appeared");
}

#[sqlx::test]
async fn account_limits_hold_every_bot_on_the_account(pool: PgPool) {
    let (app, rt, a, b) = two_live_bots(&pool).await;
    let start = session_start();
    let account = until("the live account in the overview", async || {
        let body = overview(&app).await;
        body["accounts"]
            .as_array()?
            .iter()
            .find(|x| x["is_live_route"] == true && x["broker"] == VENDOR)
            .and_then(|x| x["account"].as_str().map(str::to_owned))
    })
    .await;
    let row = &overview(&app).await["accounts"][0];
    assert_eq!(row["limits"], Value::Null, "{row}");
    assert_eq!(row["latch"], Value::Null, "{row}");

    // Bad input: every bad field named, nothing stored.
    let (status, body) = put(&app, &account, limits(1, 2, "0", 0)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "VALIDATION_FAILED", "{body}");
    let fields: Vec<&str> = body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "max_net_contracts",
            "daily_loss_limit",
            "max_orders_per_minute"
        ]
    );
    let (status, body) = put(&app, &account, json!({"max_gross_contracts": -1})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .call(
            "PUT",
            &format!("/api/account-risk/nobroker/{account}"),
            Some(limits(1, 1, "10", 1)),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(overview(&app).await["accounts"][0]["limits"], Value::Null);
    // A viewer may read, not change; a stale 2FA verification asks for a step-up.
    let admin = app.admin_client().await;
    let viewer = app.as_user(
        &app.user_with_role(&admin, "viewer@example.com", "viewer")
            .await,
    );
    assert_eq!(
        overview(&viewer).await["accounts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (status, body) = put(&viewer, &account, limits(0, 0, "1000000", 100)).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = rearm(&viewer, &account).await;
    assert_eq!(status, 403, "{body}");
    let operator = app
        .user_with_role(&admin, "op@example.com", "operator")
        .await;
    sqlx::query(
        "UPDATE sessions SET step_up_at = step_up_at - interval '11 minutes' \
         WHERE user_id = (SELECT id FROM users WHERE email = 'op@example.com')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (status, body) = put(
        &app.as_user(&operator),
        &account,
        limits(0, 0, "1000000", 100),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "TWO_FACTOR_REQUIRED", "{body}");
    assert_eq!(overview(&app).await["accounts"][0]["limits"], Value::Null);

    // No contract at all on the account: bot B's entry is refused by the account gate.
    let admin = app.with_client(app.admin_client().await);
    let (status, body) = put(&admin, &account, limits(0, 0, "1000000", 100)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["limits"]["max_gross_contracts"], 0, "{body}");
    let entry_minute = tick_until(&rt, &pool, b, 11, "ACCOUNT_POSITION_LIMIT").await;
    let trace = newest_blockers(&pool, b).await;
    assert!(
        trace.contains("account_risk") && trace.contains(&account),
        "{trace}"
    );
    assert_eq!(orders_of(&pool, b).await, 0);

    // Order rate: once the account's bots have sent an order (ticks reach every runner),
    // a limit of 1 per minute holds every further order of the account.
    let (status, body) = put(&admin, &account, limits(10, 10, "1000000", 100)).await;
    assert_eq!(status, 200, "{body}");
    let mut minute = entry_minute;
    while orders_of(&pool, a).await + orders_of(&pool, b).await == 0 {
        tick(&rt, &pool, b, start + Duration::minutes(minute)).await;
        assert!(
            minute < entry_minute + 30,
            "no entry was sent: {}",
            newest_blockers(&pool, b).await
        );
        minute += 1;
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }
    let (status, body) = put(&admin, &account, limits(10, 10, "1000000", 1)).await;
    assert_eq!(status, 200, "{body}");
    let sent = orders_of(&pool, a).await + orders_of(&pool, b).await;
    current_mark(&pool, app.state.clock.now()).await;
    let reading = &overview(&app).await["accounts"][0]["reading"];
    assert!(
        reading["orders_last_minute"].as_u64().unwrap() >= 1,
        "{reading}"
    );
    let held = tick_until_either(&rt, &pool, [a, b], minute, "ACCOUNT_ORDER_RATE").await;
    assert_eq!(
        orders_of(&pool, a).await + orders_of(&pool, b).await,
        sent,
        "an order went out past the account's rate"
    );

    // Exits pass the position limits: with no contract allowed on the account at all, the bot
    // holding one still closes it when its strategy says so.
    let holder = if orders_of(&pool, a).await > 0 { a } else { b };
    // The holder's position is valued at a mark: the replayed session's bars are hours older
    // than the shared clock, so in the open session the overview has no current mark and no
    // day PnL to show (never the stale figure); once a bar ended a moment ago, it has.
    let held_now: i64 =
        sqlx::query_scalar("SELECT quantity::bigint FROM positions WHERE bot_id = $1")
            .bind(holder)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_ne!(held_now, 0, "the holder holds a position");
    sqlx::query("DELETE FROM market_bars WHERE ts > $1")
        .bind(app.state.clock.now() - Duration::hours(1))
        .execute(&pool)
        .await
        .unwrap();
    let reading = &overview(&app).await["accounts"][0]["reading"];
    assert_eq!(*reading, Value::Null, "{reading}");
    current_mark(&pool, app.state.clock.now()).await;
    let reading = &overview(&app).await["accounts"][0]["reading"];
    assert!(reading["daily_pnl"].is_string(), "{reading}");
    let (status, body) = put(&admin, &account, limits(0, 0, "1000000", 100)).await;
    assert_eq!(status, 200, "{body}");
    let mut entered = held + 1;
    loop {
        tick(&rt, &pool, holder, start + Duration::minutes(entered)).await;
        let exits: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM decision_traces d JOIN orders o ON o.decision_trace_id = d.id \
             WHERE d.bot_id = $1 AND d.decision_type = 'EXIT' AND o.stage = 'LIVE'",
        )
        .bind(holder)
        .fetch_one(&pool)
        .await
        .unwrap();
        if exits > 0 {
            break;
        }
        assert!(
            entered < held + 60,
            "the holder never exited: {}",
            newest_blockers(&pool, holder).await
        );
        entered += 1;
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }

    // A day loss past the account's limit (one of A's LIVE round trips lost 5000 USD today:
    // bought 1 at 5000, sold at 4900) latches the account: both bots are held, the status
    // names the account.
    let (status, body) = put(&admin, &account, limits(10, 10, "1000", 100)).await;
    assert_eq!(status, 200, "{body}");
    let now = app.state.clock.now();
    let lost = [
        filled_live_order(&pool, a, &account, "BUY", "5000", now).await,
        filled_live_order(&pool, a, &account, "SELL", "4900", now).await,
    ];
    let m = tick_until(&rt, &pool, a, entered + 1, "ACCOUNT_DAILY_LOSS_LATCHED").await;
    let m = tick_until(&rt, &pool, b, m, "ACCOUNT_DAILY_LOSS_LATCHED").await;
    let latch = &overview(&app).await["accounts"][0]["latch"];
    assert!(
        latch["reason"].as_str().unwrap().contains("1000"),
        "{latch}"
    );
    let sev1: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM system_events WHERE code = 'ACCOUNT_DAILY_LOSS_LATCHED' \
         AND severity = 'SEV-1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(sev1, 1, "one event per latching, not per evaluation");
    until("the status blocker", async || {
        let (_, status) = app.system_status().await;
        status["blockers"]
            .as_array()?
            .iter()
            .any(|x| {
                x["code"] == "ACCOUNT_DAILY_LOSS_LATCHED"
                    && x["severity"] == "SEV-1"
                    && x["message"].as_str().is_some_and(|m| m.contains(&account))
            })
            .then_some(())
    })
    .await;

    // The loss rolls out of the account's day figure (as at 17:00 CT): the latch stays.
    sqlx::query(
        "UPDATE fills SET filled_at = filled_at - interval '2 days' WHERE order_id = ANY($1)",
    )
    .bind(&lost[..])
    .execute(&pool)
    .await
    .unwrap();
    let m = tick_until(&rt, &pool, a, m + 1, "ACCOUNT_DAILY_LOSS_LATCHED").await;
    current_mark(&pool, app.state.clock.now()).await;
    let day_pnl = overview(&app).await["accounts"][0]["reading"]["daily_pnl"].clone();
    assert!(
        day_pnl.as_str().unwrap().parse::<f64>().unwrap() > -1000.0,
        "{day_pnl}"
    );

    // A human re-arms it: the blocker clears and the bots may raise again.
    let (status, body) = rearm(&admin, &account).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rearmed_by"], "admin@example.com", "{body}");
    let (status, body) = rearm(&admin, &account).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "ACCOUNT_NOT_LATCHED", "{body}");
    until("the blocker to clear", async || {
        let (_, status) = app.system_status().await;
        (!status["blockers"]
            .as_array()?
            .iter()
            .any(|x| x["code"] == "ACCOUNT_DAILY_LOSS_LATCHED"))
        .then_some(())
    })
    .await;
    tick(&rt, &pool, a, start + Duration::minutes(m + 1)).await;
    let trace = newest_blockers(&pool, a).await;
    assert!(!trace.contains("ACCOUNT_DAILY_LOSS_LATCHED"), "{trace}");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action IN ('account_risk.update', 'account_risk.rearm') \
         AND outcome = 'SUCCESS'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 6, "five limit changes and one re-arm");

    // What the gate's read costs a LIVE evaluation (two bots on the account, local Postgres).
    let brokers = rt.brokers().unwrap();
    let n: u32 = 50;
    current_mark(&pool, app.state.clock.now()).await;
    let began = std::time::Instant::now();
    for _ in 0..n {
        let (view, event) = tradeplane::runtime::account_risk::gate_view(
            &pool,
            &brokers,
            &rt.calendar().unwrap(),
            app.state.clock.now(),
        )
        .await
        .unwrap();
        assert!(view.reading.is_some() && event.is_none());
    }
    eprintln!(
        "FIGURE account_risk gate read: {} us per LIVE evaluation (mean of {n}, 2 bots)",
        began.elapsed().as_micros() / u128::from(n)
    );
}

/// A copy of the newest ES bar on record as a 1-minute bar that ended at `now`: the stream's
/// current bar, for reads at the shared clock (the replayed bars are hours older).
async fn current_mark(pool: &PgPool, now: chrono::DateTime<chrono::Utc>) {
    sqlx::query(
        "INSERT INTO market_bars SELECT (jsonb_populate_record(b, \
             jsonb_build_object('ts', $1::timestamptz, 'timeframe', '1m'))).* \
         FROM market_bars b WHERE symbol = 'ES' ORDER BY ts DESC LIMIT 1 ON CONFLICT DO NOTHING",
    )
    .bind(now - Duration::minutes(1))
    .execute(pool)
    .await
    .unwrap();
}

/// A LIVE market order of one ES contract sent to the account and filled at `price` (`at`),
/// as the ledger books a broker's fill. Its id.
async fn filled_live_order(
    pool: &PgPool,
    bot: Uuid,
    account: &str,
    side: &str,
    price: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Uuid {
    let order = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO orders (id, bot_id, idempotency_key, symbol, side, quantity, order_type, \
         stage, status, broker, broker_account, decision_bar_at, created_at, updated_at) \
         VALUES ($1, $2, $1::text, 'ES', $3, 1, 'MARKET', 'LIVE', 'FILLED', $4, $5, $6, $6, $6)",
    )
    .bind(order)
    .bind(bot)
    .bind(side)
    .bind(VENDOR)
    .bind(account)
    .bind(at)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO fills (id, order_id, bot_id, quantity, price, commission, simulated, \
         broker_fill_id, filled_at) VALUES ($1, $2, $3, 1, $4::numeric, 0, false, $1::text, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(order)
    .bind(bot)
    .bind(price)
    .bind(at)
    .execute(pool)
    .await
    .unwrap();
    order
}

/// The number of evaluations on record of `bot` (decisions plus folded no-trades).
async fn evaluated(pool: &PgPool, bot: Uuid) -> i64 {
    crate::support::paper::evaluations(pool, bot).await
}

/// Replays the boundary `at` to every runner while a test transaction holds the `orders`
/// table against writes (reads pass): both bots' evaluations read the account and reach their
/// write-ahead before either can commit. Waits for both evaluations.
async fn tick_both_held(rt: &RuntimeHandle, pool: &PgPool, bots: [Uuid; 2], minute: i64) {
    let before = [
        evaluated(pool, bots[0]).await,
        evaluated(pool, bots[1]).await,
    ];
    let mut hold = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *hold)
        .await
        .unwrap();
    let at = session_start() + Duration::minutes(minute);
    let sent = rt.inject_tick(tradeplane::runtime::BarTick {
        timeframe: tradeplane::domain::timeframe::Timeframe::M1,
        bar_at: std::time::SystemTime::from(at),
        fired_at: std::time::SystemTime::from(at),
    });
    assert_eq!(sent, 2, "both runners subscribed");
    tokio::time::sleep(StdDuration::from_millis(600)).await;
    hold.commit().await.unwrap();
    until("both evaluations of the bar", async || {
        (evaluated(pool, bots[0]).await > before[0] && evaluated(pool, bots[1]).await > before[1])
            .then_some(())
    })
    .await;
}

/// The race of issue 17: two LIVE bots on one account decide the same entry on the same bar
/// with an account limit that admits one contract. The account check is taken again under the
/// account's lock in the write-ahead's transaction, so exactly one order is written; the other
/// bot's evaluation of that bar ends in a trace naming `ACCOUNT_POSITION_LIMIT`.
#[sqlx::test]
async fn two_bots_on_one_bar_cannot_both_pass_the_account_limit(pool: PgPool) {
    let (app, rt, a, b) = two_live_bots(&pool).await;
    let account = until("the live account in the overview", async || {
        let body = overview(&app).await;
        body["accounts"]
            .as_array()?
            .iter()
            .find(|x| x["is_live_route"] == true && x["broker"] == VENDOR)
            .and_then(|x| x["account"].as_str().map(str::to_owned))
    })
    .await;
    // No contract allowed while both runners reconcile before their first order (no entry
    // may slip out one bot at a time): wait until both gates are open (their traces stop
    // naming the reconciliation).
    let admin = app.with_client(app.admin_client().await);
    let (status, body) = put(&admin, &account, limits(0, 0, "1000000", 100)).await;
    assert_eq!(status, 200, "{body}");
    let mut minute = 1;
    loop {
        tick(&rt, &pool, b, session_start() + Duration::minutes(minute)).await;
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        let open = !newest_blockers(&pool, a).await.contains("RECONCILIATION")
            && !newest_blockers(&pool, b).await.contains("RECONCILIATION");
        minute += 1;
        if open && minute > 6 {
            break;
        }
        assert!(minute < 10, "the reconciliation gate never opened");
    }
    assert_eq!(orders_of(&pool, a).await + orders_of(&pool, b).await, 0);
    // One contract for the account: the first bot's order fills it.
    let (status, body) = put(&admin, &account, limits(1, 1, "1000000", 100)).await;
    assert_eq!(status, 200, "{body}");
    loop {
        tick_both_held(&rt, &pool, [a, b], minute).await;
        let sent = orders_of(&pool, a).await + orders_of(&pool, b).await;
        if sent > 0 {
            assert_eq!(
                sent, 1,
                "both bots passed the account's limit of one contract"
            );
            break;
        }
        minute += 1;
        assert!(minute < 60, "no entry within the hour");
    }
    let refused = if orders_of(&pool, a).await == 1 { b } else { a };
    let trace = newest_blockers(&pool, refused).await;
    assert!(
        trace.contains("ACCOUNT_POSITION_LIMIT") && trace.contains("account_risk"),
        "{trace}"
    );
}

/// A position is valued in its own contract: around a roll both months are cached at their own
/// prices, and each is read from its own bars only (the newest, and the last close before the
/// trade date began); a contract with no bars has no price, never another month's.
#[sqlx::test]
async fn each_contract_is_priced_from_its_own_bars(pool: PgPool) {
    use rust_decimal_macros::dec;
    use tradeplane::domain::{instruments::Symbol, timeframe::Timeframe};
    let day_start =
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 10, 23, 0, 0).unwrap();
    for (contract, minutes, close) in [
        ("ESZ26", -2, "5000"),
        ("ESZ26", 5, "5010"),
        ("ESH27", -1, "5060"),
        ("ESH27", 3, "5072"),
    ] {
        sqlx::query(
            "INSERT INTO market_bars (provider_id, symbol, contract, timeframe, ts, open, high, \
             low, close, volume) VALUES ('databento', 'ES', $1, '1m', $2, $3::numeric, \
             $3::numeric, $3::numeric, $3::numeric, 10)",
        )
        .bind(contract)
        .bind(day_start + Duration::minutes(minutes))
        .bind(close)
        .execute(&pool)
        .await
        .unwrap();
    }
    let asked = [
        (Symbol::Es, "ESZ26".to_owned()),
        (Symbol::Es, "ESH27".to_owned()),
        (Symbol::Es, "ESM27".to_owned()),
    ];
    let prices = tradeplane::store::account_risk::contract_prices(&pool, &asked, day_start)
        .await
        .unwrap();
    let of = |c: &str| {
        let p = prices.iter().find(|p| p.contract == c).unwrap();
        (p.mark_close, p.mark_ts, p.mark_timeframe, p.day_start_close)
    };
    assert_eq!(
        of("ESZ26"),
        (
            Some(dec!(5010)),
            Some(day_start + Duration::minutes(5)),
            Some(Timeframe::M1),
            Some(dec!(5000))
        )
    );
    assert_eq!(
        of("ESH27"),
        (
            Some(dec!(5072)),
            Some(day_start + Duration::minutes(3)),
            Some(Timeframe::M1),
            Some(dec!(5060))
        )
    );
    assert_eq!(of("ESM27"), (None, None, None, None));
}
