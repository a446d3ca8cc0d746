//! Booking fills into orders, trades and positions (`store::fills::book`) against
//! hand-computed values: a long built in two fills, a partial exit, a flip to short, a close.

use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;
use sqlx::PgPool;
use tradeplane::domain::{
    evaluation::DecisionType,
    execution::{OrderStatus, OrderType},
    instruments::Symbol,
    positions::Position,
    risk::Stage,
    side::Side,
    timeframe::Timeframe,
};
use tradeplane::store::{
    bot_leases::{self, Fence},
    bots::{self, NewBot},
    fills::{self, Booked, FillBooking},
    orders::{self, Order},
    positions, traces, trades,
};
use uuid::Uuid;

use crate::support::fixtures::{lease, working_order};

async fn bot(pool: &PgPool) -> Uuid {
    bots::insert(
        pool,
        NewBot {
            name: "ledger".into(),
            symbol: Symbol::Es,
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

/// Books one fill the way the runner does; returns the trade it touched.
async fn fill(
    pool: &PgPool,
    position: &mut Position,
    order: &Order,
    side: Side,
    qty: u32,
    price: Decimal,
    minute: u32,
) -> Booked {
    let before = position.clone();
    let mut after = before.clone();
    let commission = dec!(2.25) * Decimal::from(qty);
    let realized = after.apply_fill(side, qty, price, commission);
    let fence = lease(pool, order.bot_id).await;
    let booked = fills::book(
        pool,
        FillBooking {
            fence: &fence,
            order,
            side,
            quantity: qty,
            price,
            commission,
            filled_at: Utc.with_ymd_and_hms(2026, 11, 17, 15, minute, 0).unwrap(),
            simulated: true,
            before: &before,
            after: &after,
            realized,
        },
    )
    .await
    .unwrap();
    if matches!(booked, Booked::Filled { .. }) {
        *position = after;
    }
    booked
}

fn trade_of(b: &Booked) -> Uuid {
    match b {
        Booked::Filled { trade_id, .. } => *trade_id,
        Booked::NotWorking => panic!("not booked"),
    }
}

#[sqlx::test]
async fn fills_build_trades_and_positions_exactly_once(pool: PgPool) {
    let bot = bot(&pool).await;
    let mut p = Position::flat(Symbol::Es);

    // Buy 1 @ 5000 then 1 @ 5010: one LONG trade of 2 @ 5005, commission 4.50.
    let o1 = working_order(&pool, bot, "k1", Side::Buy, 1).await;
    let t1 = trade_of(&fill(&pool, &mut p, &o1, Side::Buy, 1, dec!(5000), 1).await);
    let o2 = working_order(&pool, bot, "k2", Side::Buy, 1).await;
    assert_eq!(
        trade_of(&fill(&pool, &mut p, &o2, Side::Buy, 1, dec!(5010), 2).await),
        t1
    );
    let t = trades::get(&pool, t1).await.unwrap().unwrap();
    assert_eq!(
        (t.side.as_str(), t.quantity, t.entry_price, t.commission),
        ("LONG", 2, dec!(5005), dec!(4.50))
    );
    // The same order cannot be filled twice.
    assert_eq!(
        fill(&pool, &mut p, &o2, Side::Buy, 1, dec!(5010), 2).await,
        Booked::NotWorking
    );
    assert_eq!(p.quantity, 2);

    // Sell 1 @ 5020: realizes 15 points × $50 = 750; the trade stays open with exit 5020.
    let o3 = working_order(&pool, bot, "k3", Side::Sell, 1).await;
    fill(&pool, &mut p, &o3, Side::Sell, 1, dec!(5020), 3).await;
    let t = trades::get(&pool, t1).await.unwrap().unwrap();
    assert_eq!(
        (t.realized_pnl, t.exit_price, t.closed_at),
        (Some(dec!(750)), Some(dec!(5020)), None)
    );

    // Sell 3 @ 4995: closes the last long (−10 × 50 = −500, avg exit (5020 + 4995) / 2) and
    // opens a SHORT 2 @ 4995 carrying 2/3 of the fill's commission.
    let o4 = working_order(&pool, bot, "k4", Side::Sell, 3).await;
    let t2 = trade_of(&fill(&pool, &mut p, &o4, Side::Sell, 3, dec!(4995), 4).await);
    assert_ne!(t2, t1);
    let t = trades::get(&pool, t1).await.unwrap().unwrap();
    assert_eq!(t.realized_pnl, Some(dec!(250)));
    assert_eq!(t.exit_price, Some(dec!(5007.5)));
    assert!(t.closed_at.is_some());
    // Commission: 2.25 + 2.25 + 2.25 + one third of 6.75.
    assert_eq!(t.commission, dec!(9.00));
    let s = trades::get(&pool, t2).await.unwrap().unwrap();
    assert_eq!(
        (
            s.side.as_str(),
            s.quantity,
            s.entry_price,
            s.commission,
            s.closed_at
        ),
        ("SHORT", 2, dec!(4995), dec!(4.50), None)
    );

    // Buy 2 @ 4990: the short closes, +5 × 2 × 50 = 500.
    let o5 = working_order(&pool, bot, "k5", Side::Buy, 2).await;
    fill(&pool, &mut p, &o5, Side::Buy, 2, dec!(4990), 5).await;
    let s = trades::get(&pool, t2).await.unwrap().unwrap();
    assert_eq!(
        (s.realized_pnl, s.exit_price),
        (Some(dec!(500)), Some(dec!(4990)))
    );
    assert!(s.closed_at.is_some());

    // The position row is the running sum; replaying the fills gives the same position.
    let row = positions::get(&pool, bot, Symbol::Es)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.quantity, row.average_price, row.realized_pnl),
        (0, None, dec!(750))
    );
    let mut replay = Position::flat(Symbol::Es);
    for f in fills::for_bot(&pool, bot, Symbol::Es).await.unwrap() {
        replay.apply_fill(f.side, f.quantity as u32, f.price, f.commission);
    }
    assert_eq!(replay, p);
    assert_eq!(p.net_realized(), dec!(750) - dec!(18.00));
}

fn new_order(bot: Uuid, key: &str, side: Side, qty: i32) -> orders::NewOrder {
    orders::NewOrder {
        bot_id: bot,
        run_id: None,
        decision_trace_id: None,
        idempotency_key: key.into(),
        symbol: Symbol::Es,
        side,
        quantity: qty,
        order_type: OrderType::Market,
        limit_price: None,
        stop_price: None,
        stage: Stage::Paper,
        status: OrderStatus::Working,
        decision_bar_at: None,
        reference_price: None,
    }
}

fn new_trace(bot: Uuid) -> traces::NewDecisionTrace {
    traces::NewDecisionTrace {
        bot_id: bot,
        run_id: None,
        trade_log_id: None,
        decision_type: DecisionType::Entry,
        reason_human: "test".into(),
        reason_code: "TEST".into(),
        signals: json!({}),
        variables_snapshot: json!({}),
        confidence: 0.5,
        expected_value: 1.0,
        risk_snapshot: json!({}),
        trace_id: tradeplane::trace::TraceId::generate(),
    }
}

/// An order placed with its decision trace (as the runner places one, under its lease).
async fn placed(pool: &PgPool, bot: Uuid, key: &str, side: Side, qty: i32) -> Order {
    let fence = lease(pool, bot).await;
    let order = new_order(bot, key, side, qty);
    match orders::place(
        pool,
        &fence,
        order,
        new_trace(bot),
        None,
        crate::support::now(),
    )
    .await
    .unwrap()
    {
        orders::Placed::New { order, .. } => order,
        orders::Placed::Existing(_) => panic!("new key"),
    }
}

async fn linked_trade(pool: &PgPool, order: &Order) -> Option<Uuid> {
    sqlx::query_scalar("SELECT trade_log_id FROM decision_traces WHERE id = $1")
        .bind(order.decision_trace_id.unwrap())
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The booking's statements (the fence, claim and fill in one; the trade, position and link in
/// another): each decision is linked to the trade its fill opened, grew, reduced or (on a flip)
/// opened anew; a stale fence is refused even for an order no longer working; a key placed
/// again is the existing order, nothing written.
#[sqlx::test]
async fn booking_links_each_decision_to_its_trade_and_is_fenced_first(pool: PgPool) {
    let bot = bot(&pool).await;
    let mut p = Position::flat(Symbol::Es);

    let o1 = placed(&pool, bot, "l1", Side::Buy, 2).await;
    let t1 = trade_of(&fill(&pool, &mut p, &o1, Side::Buy, 2, dec!(5000), 1).await);
    assert_eq!(linked_trade(&pool, &o1).await, Some(t1));
    let o2 = placed(&pool, bot, "l2", Side::Buy, 1).await;
    assert_eq!(
        trade_of(&fill(&pool, &mut p, &o2, Side::Buy, 1, dec!(5006), 2).await),
        t1
    );
    assert_eq!(linked_trade(&pool, &o2).await, Some(t1));
    let t = trades::get(&pool, t1).await.unwrap().unwrap();
    assert_eq!((t.quantity, t.entry_price), (3, dec!(5002)));
    let o3 = placed(&pool, bot, "l3", Side::Sell, 1).await;
    assert_eq!(
        trade_of(&fill(&pool, &mut p, &o3, Side::Sell, 1, dec!(5010), 3).await),
        t1
    );
    assert_eq!(linked_trade(&pool, &o3).await, Some(t1));
    // Sell 4: closes the long's 2 left, opens a short of 2, and the decision names the new one.
    let o4 = placed(&pool, bot, "l4", Side::Sell, 4).await;
    let t2 = trade_of(&fill(&pool, &mut p, &o4, Side::Sell, 4, dec!(4990), 4).await);
    assert_ne!(t2, t1);
    assert_eq!(linked_trade(&pool, &o4).await, Some(t2));
    let t = trades::get(&pool, t1).await.unwrap().unwrap();
    assert!(t.closed_at.is_some());
    // 8 × 50 + 2 × (−12) × 50 = 400 − 1200.
    assert_eq!(t.realized_pnl, Some(dec!(-800)));
    let s = trades::get(&pool, t2).await.unwrap().unwrap();
    assert_eq!(
        (s.side.as_str(), s.quantity, s.closed_at),
        ("SHORT", 2, None)
    );
    let row = positions::get(&pool, bot, Symbol::Es)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.quantity, row.average_price), (-2, Some(dec!(4990))));
    assert_eq!(row.realized_pnl, p.realized_pnl);

    // The same key again: the existing order, no second row.
    let fence = lease(&pool, bot).await;
    let existing = orders::place(
        &pool,
        &fence,
        new_order(bot, "l4", Side::Sell, 4),
        new_trace(bot),
        None,
        crate::support::now(),
    )
    .await
    .unwrap();
    assert!(matches!(existing, orders::Placed::Existing(ref o) if o.id == o4.id));

    // A stale fence is refused before the order's state is looked at (o4 is filled).
    let stale = Fence {
        epoch: fence.epoch + 1,
        ..fence.clone()
    };
    let before = p.clone();
    let mut after = before.clone();
    let realized = after.apply_fill(Side::Buy, 2, dec!(4980), dec!(4.5));
    let err = fills::book(
        &pool,
        FillBooking {
            fence: &stale,
            order: &o4,
            side: Side::Buy,
            quantity: 2,
            price: dec!(4980),
            commission: dec!(4.5),
            filled_at: Utc.with_ymd_and_hms(2026, 11, 17, 15, 5, 0).unwrap(),
            simulated: true,
            before: &before,
            after: &after,
            realized,
        },
    )
    .await
    .unwrap_err();
    assert!(bot_leases::is_stale(&err), "{err}");
    let fills: i64 = sqlx::query_scalar("SELECT count(*) FROM fills WHERE bot_id = $1")
        .bind(bot)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(fills, 4);
}
