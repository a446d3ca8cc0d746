//! The broker simulator and the broker sessions over real HTTP (issue 17 parts 1 and 8): the
//! simulator's matching (market at once, limit at touch, partial fills), its vendor error
//! shapes and faults (token expiry, 429, Tradovate `p-ticket`, rejects, idempotency on
//! `clOrdId`), and the session's login discipline (one login, renewal before expiry, no login
//! loop under a penalty, the environment checked against the vendor).

use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as TimeDelta, TimeZone, Utc};
use serde_json::json;
use tradeplane::{
    clock::Clock,
    domain::{
        contracts::{Contract, ContractMonth},
        execution::OrderType,
        instruments::Symbol,
        side::Side,
    },
    integrations::{
        brokers::{BrokerOrderStatus, BrokerVendor, OrderRequest, SendError, TimeInForce},
        registry::EnvMap,
        usage::MemoryUsageSink,
    },
    runtime::brokers::Brokers,
    sandbox::ohlcv,
};

use crate::support::fixtures::{
    sandbox_broker_book, sandbox_broker_fault, start_sandbox_with_clock,
};

/// Tuesday 2026-11-17 10:00 CT: the market is open.
fn open_session() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 16, 0, 20).unwrap()
}

async fn setup(vendor: &str, extra: &[(&str, &str)]) -> (Clock, EnvMap, Brokers, MemoryUsageSink) {
    let clock = Clock::manual(open_session());
    let sandbox = start_sandbox_with_clock(clock.clone()).await;
    let other = if vendor == "tradovate" {
        "IRONBEAM_"
    } else {
        "TRADOVATE_"
    };
    let mut env: EnvMap = sandbox
        .iter()
        .filter(|(k, _)| !k.starts_with(other))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    let sink = MemoryUsageSink::new();
    let brokers = Brokers::from_env(&env, Arc::new(sink.clone()), Duration::from_secs(2), &clock);
    (clock, env, brokers, sink)
}

fn order(
    key: &str,
    side: Side,
    qty: u32,
    t: OrderType,
    price: Option<rust_decimal::Decimal>,
) -> OrderRequest {
    OrderRequest {
        client_id: key.into(),
        contract: Contract::new(Symbol::Es, 2026, ContractMonth::Z),
        side,
        quantity: qty,
        order_type: t,
        limit_price: (t == OrderType::Limit).then_some(price).flatten(),
        stop_price: (t == OrderType::Stop).then_some(price).flatten(),
        time_in_force: TimeInForce::Day,
    }
}

/// Calls of `action` on the record.
fn calls(sink: &MemoryUsageSink, action: &str) -> usize {
    sink.events().iter().filter(|e| e.action == action).count()
}

#[tokio::test]
async fn the_simulator_matches_market_limit_and_partial_orders_on_the_sandbox_bars() {
    for vendor in [BrokerVendor::Tradovate, BrokerVendor::Ironbeam] {
        let (clock, env, brokers, _) = setup(vendor.id(), &[]).await;
        let s = brokers.get(vendor).unwrap();
        s.maintain().await;
        assert!(s.is_ready(), "{:?}", s.health());

        // Market: filled at once at the open of the minute trading now.
        let now_bar = ohlcv::minute_bars(
            "ESZ6",
            clock.now() - TimeDelta::seconds(20),
            clock.now() + TimeDelta::seconds(40),
            1,
        )[0];
        let (_, id) = s
            .place(&order("k-mkt", Side::Buy, 1, OrderType::Market, None))
            .await
            .unwrap();
        let fills = s.fills().await.unwrap();
        let f = fills.iter().find(|f| f.broker_order_id == id).unwrap();
        assert_eq!(
            f.price,
            rust_decimal::Decimal::try_from(now_bar.open)
                .unwrap()
                .round_dp(6)
                .normalize()
        );

        // Limit below the market: not filled until a later bar trades down to it.
        let later = ohlcv::minute_bars(
            "ESZ6",
            clock.now() + TimeDelta::minutes(2),
            clock.now() + TimeDelta::minutes(90),
            200,
        );
        let touch = later.iter().map(|b| b.low).fold(f64::MAX, f64::min);
        let limit = rust_decimal::Decimal::try_from(touch).unwrap();
        let (_, lid) = s
            .place(&order("k-lmt", Side::Buy, 2, OrderType::Limit, Some(limit)))
            .await
            .unwrap();
        let status = |orders: &[tradeplane::integrations::brokers::BrokerOrder]| {
            orders
                .iter()
                .find(|o| o.broker_order_id == lid)
                .map(|o| o.status)
        };
        assert_eq!(
            status(&s.orders().await.unwrap()),
            Some(BrokerOrderStatus::Working)
        );
        clock.advance(TimeDelta::hours(2));
        assert_eq!(
            status(&s.orders().await.unwrap()),
            Some(BrokerOrderStatus::Filled)
        );
        let lf: Vec<_> = s
            .fills()
            .await
            .unwrap()
            .into_iter()
            .filter(|f| f.broker_order_id == lid)
            .collect();
        assert_eq!(lf.len(), 1);
        assert!(
            lf[0].price <= limit,
            "a buy limit fills at the limit or better"
        );

        // Partial: half now, the rest at the next minute's open.
        sandbox_broker_fault(&env, vendor.id(), json!("partial"), Some(1)).await;
        let (_, pid) = s
            .place(&order("k-part", Side::Sell, 4, OrderType::Market, None))
            .await
            .unwrap();
        let part = |fills: Vec<tradeplane::integrations::brokers::BrokerFill>| -> Vec<u32> {
            fills
                .into_iter()
                .filter(|f| f.broker_order_id == pid)
                .map(|f| f.quantity)
                .collect()
        };
        assert_eq!(part(s.fills().await.unwrap()), vec![2]);
        clock.advance(TimeDelta::minutes(1));
        assert_eq!(part(s.fills().await.unwrap()), vec![2, 2]);
        // The net position: +1 +2 -4.
        let pos = s.positions().await.unwrap();
        assert_eq!(pos.len(), 1, "{pos:?}");
        assert_eq!(pos[0].net, -1, "{pos:?}");
    }
}

#[tokio::test]
async fn the_simulator_refuses_in_each_vendors_shape_and_tradovate_is_idempotent_on_its_client_id()
{
    let (_, env, brokers, _) = setup("tradovate", &[]).await;
    let s = brokers.get(BrokerVendor::Tradovate).unwrap();
    s.maintain().await;
    sandbox_broker_fault(&env, "tradovate", json!("reject_margin"), Some(1)).await;
    match s
        .place(&order("t-1", Side::Buy, 1, OrderType::Market, None))
        .await
    {
        Err(SendError::Rejected { reason }) => assert!(reason.contains("margin"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let mut bad = order("t-2", Side::Buy, 1, OrderType::Market, None);
    bad.contract = Contract::new(Symbol::Es, 2031, ContractMonth::H);
    assert!(matches!(
        s.place(&bad).await,
        Err(SendError::Rejected { .. })
    ));
    // A retransmitted place (same clOrdId) is one order; so is a second send of the key.
    sandbox_broker_fault(&env, "tradovate", json!("duplicate_submit"), Some(1)).await;
    let (_, a) = s
        .place(&order("t-3", Side::Buy, 1, OrderType::Market, None))
        .await
        .unwrap();
    let (_, b) = s
        .place(&order("t-3", Side::Buy, 1, OrderType::Market, None))
        .await
        .unwrap();
    assert_eq!(a, b);
    let book = sandbox_broker_book(&env, "tradovate").await;
    assert_eq!(book["orders"].as_array().unwrap().len(), 1, "{book}");
    // A lost answer is Unknown, and the order is found again by its key.
    sandbox_broker_fault(&env, "tradovate", json!("lost_ack"), Some(1)).await;
    let lost = order("t-4", Side::Sell, 1, OrderType::Market, None);
    assert!(matches!(s.place(&lost).await, Err(SendError::Unknown(_))));
    let orders = s.orders().await.unwrap();
    let found = tradeplane::integrations::brokers::match_unacknowledged(
        &orders,
        &lost,
        BrokerVendor::Tradovate,
        open_session(),
        std::slice::from_ref(&a),
    )
    .expect("found by its key");
    assert_ne!(found.broker_order_id, a);

    // Ironbeam: refusals are {"status":"ERROR"} with 400; a 429 is not sent.
    let (_, env, brokers, _) = setup("ironbeam", &[]).await;
    let s = brokers.get(BrokerVendor::Ironbeam).unwrap();
    s.maintain().await;
    sandbox_broker_fault(&env, "ironbeam", json!("reject_closed_market"), Some(1)).await;
    match s
        .place(&order("i-1", Side::Buy, 1, OrderType::Market, None))
        .await
    {
        Err(SendError::Rejected { reason }) => {
            assert!(reason.contains("market closed"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    sandbox_broker_fault(&env, "ironbeam", json!("rate_limited"), Some(1)).await;
    assert!(matches!(
        s.place(&order("i-2", Side::Buy, 1, OrderType::Market, None))
            .await,
        Err(SendError::NotSent(_))
    ));
    let book = sandbox_broker_book(&env, "ironbeam").await;
    assert_eq!(book["orders"].as_array().unwrap().len(), 0, "{book}");
}

#[tokio::test]
async fn a_session_logs_in_once_renews_before_expiry_and_recovers_an_expired_token_once() {
    let (clock, env, brokers, sink) = setup("tradovate", &[("TRADOVATE_ENV", "demo")]).await;
    let s = brokers.get(BrokerVendor::Tradovate).unwrap();
    for _ in 0..5 {
        s.maintain().await;
    }
    assert_eq!(calls(&sink, "broker.accesstokenrequest"), 1);
    // 80-minute tokens: renewed 10 minutes before they expire, not before.
    clock.advance(TimeDelta::minutes(60));
    s.maintain().await;
    assert_eq!(s.health().renewals, 0);
    clock.advance(TimeDelta::minutes(11));
    s.maintain().await;
    assert_eq!(s.health().renewals, 1);
    assert_eq!(calls(&sink, "broker.renewaccesstoken"), 1);
    // The renewed token outlives the first one's expiry.
    clock.advance(TimeDelta::minutes(30));
    s.orders().await.unwrap();
    assert_eq!(calls(&sink, "broker.accesstokenrequest"), 1);
    // A token the vendor expired early: one new login, and the call goes through.
    sandbox_broker_fault(&env, "tradovate", json!("token_expiry"), Some(1)).await;
    s.orders().await.unwrap();
    assert_eq!(calls(&sink, "broker.accesstokenrequest"), 2);
}

#[tokio::test]
async fn a_login_penalty_or_refusal_is_never_retried_in_a_loop() {
    let (clock, env, brokers, sink) = setup("tradovate", &[]).await;
    let s = brokers.get(BrokerVendor::Tradovate).unwrap();
    sandbox_broker_fault(&env, "tradovate", json!("rate_limited"), Some(1)).await;
    for _ in 0..5 {
        s.maintain().await;
    }
    assert_eq!(calls(&sink, "broker.accesstokenrequest"), 1);
    assert!(!s.is_ready());
    assert!(s.health().blocked_until.is_some());
    // After p-time (15 s) one new login succeeds.
    clock.advance(TimeDelta::seconds(16));
    s.maintain().await;
    assert_eq!(calls(&sink, "broker.accesstokenrequest"), 2);
    assert!(s.is_ready());

    // Live asked of a demo account (and of a sandbox): refused, never retried.
    let (_, _, brokers, sink) = setup("ironbeam", &[("IRONBEAM_ENV", "live")]).await;
    let s = brokers.get(BrokerVendor::Ironbeam).unwrap();
    for _ in 0..3 {
        s.maintain().await;
    }
    assert!(!s.is_ready());
    assert_eq!(
        calls(&sink, "broker.auth"),
        0,
        "a sandbox never serves live: no login at all"
    );
    let err = s.health().last_error.unwrap_or_default();
    assert!(
        err.contains("ENVIRONMENT_MISMATCH") || err.contains("sandbox"),
        "{err}"
    );
}

/// The kill path's LIVE cancel: every working LIVE order of the session's account cancelled
/// at the broker in one bulk request (Ironbeam `cancelMultiple`) and in the ledger.
#[sqlx::test]
async fn cancel_all_live_cancels_in_bulk_at_the_broker_and_in_the_ledger(pool: sqlx::PgPool) {
    use crate::support::fixtures::{bot_row, working_order};
    let (clock, env, brokers, sink) = setup("ironbeam", &[]).await;
    let s = brokers.get(BrokerVendor::Ironbeam).unwrap();
    s.maintain().await;
    let bot = bot_row(&pool).await;
    let far = rust_decimal::Decimal::new(100000, 2);
    for n in 0..3 {
        let key = format!("kill-{n}");
        let (account, id) = s
            .place(&order(&key, Side::Buy, 1, OrderType::Limit, Some(far)))
            .await
            .unwrap();
        let o = working_order(&pool, bot, &key, Side::Buy, 1).await;
        sqlx::query(
            "UPDATE orders SET stage = 'LIVE', broker = 'ironbeam', broker_account = $2, \
             broker_order_id = $3 WHERE id = $1",
        )
        .bind(o.id)
        .bind(&account.id)
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    }
    let cancelled = tradeplane::runtime::evaluator::live::cancel_all_live(
        &pool,
        &brokers,
        "kill switch",
        clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(cancelled, 3);
    let book = sandbox_broker_book(&env, "ironbeam").await;
    assert!(
        book["orders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "CANCELLED"),
        "{book}"
    );
    assert_eq!(calls(&sink, "broker.cancel_multiple"), 1);
    assert_eq!(calls(&sink, "broker.cancel"), 0);
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders WHERE bot_id = $1 AND status <> 'CANCELLED'",
    )
    .bind(bot)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
}

/// Reads cannot spend the whole trading budget. Tradovate's is 80 requests a minute; reads
/// pass a lane of 60 first. 80 position polls at once: 60 go out, the rest wait for the lane
/// (one a second); an order sent meanwhile finds the vendor's budget left and goes out at once,
/// ahead of the 61st poll. Without the lane the polls take the whole burst and the order waits
/// for the next slot (0.75 s), behind every poll.
#[tokio::test]
async fn polls_leave_a_quarter_of_the_budget_to_orders() {
    let (_clock, _env, brokers, sink) = setup("tradovate", &[]).await;
    let s = brokers.get(BrokerVendor::Tradovate).unwrap();
    s.maintain().await;
    assert!(s.is_ready(), "{:?}", s.health());
    let polls: Vec<_> = (0..80)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.positions().await })
        })
        .collect();
    // The lane's burst has gone out.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while calls(&sink, "broker.position_list") < 60 {
        assert!(
            std::time::Instant::now() < deadline,
            "the polls never went out"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.place(&order("k-lane", Side::Buy, 1, OrderType::Market, None))
        .await
        .unwrap();
    let events = sink.events();
    let placed = events
        .iter()
        .position(|e| e.action == "broker.placeorder")
        .unwrap();
    let polls_before = events[..placed]
        .iter()
        .filter(|e| e.action == "broker.position_list")
        .count();
    assert!(
        polls_before <= 61,
        "the order waited behind {polls_before} polls"
    );
    for p in polls {
        // Polls past the lane's burst wait for it, within the time box or refused locally.
        let _ = p.await.unwrap();
    }
}
