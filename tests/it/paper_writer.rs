//! Group commit of PAPER orders and fills (`runtime::paper_writer`, `store::paper_batch`): the
//! writes of many bots queued at once are committed in one batch, the ledger they leave is
//! row for row what each write alone leaves (orders, fills, trades opened, grown, reduced,
//! closed and flipped, positions, decision traces and their links), and a stale fence, an
//! existing key and an order no longer working are answered as a write alone answers them.

use std::sync::atomic::Ordering;

use chrono::{TimeZone, Utc};
use futures::future::join_all;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;
use sqlx::PgPool;
use tradeplane::domain::{
    evaluation::DecisionType,
    execution::{OrderStatus, OrderType, SimFill},
    instruments::Symbol,
    positions::Position,
    risk::Stage,
    side::Side,
};
use tradeplane::runtime::paper_writer::PaperWriter;
use tradeplane::store::{
    bot_leases::{self, Fence},
    fills::{self, Booked, FillBooking},
    orders::{NewOrder, Order, Placed},
    paper_batch::{PaperFill, PaperPlace},
    positions,
    traces::NewDecisionTrace,
};
use uuid::Uuid;

use crate::support::fixtures::{bot_row, lease};

/// Per bot, one order and its fill per round: (side, contracts, fill price).
const PLANS: [[(Side, u32, Decimal); 3]; 4] = [
    // Open long 2, flip to short 2, close.
    [
        (Side::Buy, 2, dec!(5000)),
        (Side::Sell, 4, dec!(4990)),
        (Side::Buy, 2, dec!(4980)),
    ],
    // Open, grow, close.
    [
        (Side::Buy, 1, dec!(5000)),
        (Side::Buy, 1, dec!(5010)),
        (Side::Sell, 2, dec!(5020)),
    ],
    // Open short, grow, reduce.
    [
        (Side::Sell, 1, dec!(5000)),
        (Side::Sell, 2, dec!(4990)),
        (Side::Buy, 1, dec!(4995)),
    ],
    // Open long 3, reduce twice.
    [
        (Side::Buy, 3, dec!(5000)),
        (Side::Sell, 1, dec!(5005)),
        (Side::Sell, 1, dec!(5001)),
    ],
];

struct Bot {
    id: Uuid,
    fence: Fence,
    position: Position,
}

async fn bots(pool: &PgPool) -> Vec<Bot> {
    let mut out = Vec::new();
    for _ in 0..PLANS.len() {
        let id = bot_row(pool).await;
        out.push(Bot {
            id,
            fence: lease(pool, id).await,
            position: Position::flat(Symbol::Es),
        });
    }
    out
}

fn place(bot: &Bot, key: String, side: Side, qty: u32, round: u32) -> PaperPlace {
    PaperPlace {
        fence: bot.fence.clone(),
        order: NewOrder {
            bot_id: bot.id,
            run_id: None,
            decision_trace_id: None,
            idempotency_key: key,
            symbol: Symbol::Es,
            side,
            quantity: qty as i32,
            order_type: OrderType::Market,
            limit_price: None,
            stop_price: None,
            stage: Stage::Paper,
            status: OrderStatus::Working,
            decision_bar_at: Some(at(round)),
            reference_price: Some(dec!(5000)),
        },
        trace: NewDecisionTrace {
            bot_id: bot.id,
            run_id: None,
            trade_log_id: None,
            decision_type: DecisionType::Entry,
            reason_human: format!("round {round}"),
            reason_code: "TEST".into(),
            signals: json!({"round": round}),
            variables_snapshot: json!({"side": side.as_str()}),
            confidence: 0.5,
            expected_value: 1.0,
            risk_snapshot: json!({}),
            trace_id: tradeplane::trace::TraceId::generate(),
        },
        now: at(round),
    }
}

fn at(round: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 15, round, 0).unwrap()
}

/// The fill of `order` as the runner previews it (the position before and after).
fn paper_fill(bot: &mut Bot, order: Order, qty: u32, price: Decimal, round: u32) -> PaperFill {
    let fill = SimFill {
        idempotency_key: order.idempotency_key.clone(),
        side: order.side,
        quantity: qty,
        price,
        commission: dec!(2.25) * Decimal::from(qty),
        filled_at: at(round) + chrono::Duration::seconds(30),
    };
    let before = bot.position.clone();
    let mut after = before.clone();
    let realized = after.apply_fill(fill.side, fill.quantity, fill.price, fill.commission);
    bot.position = after.clone();
    PaperFill {
        fence: bot.fence.clone(),
        order,
        fill,
        before,
        after,
        realized,
    }
}

fn new_order(placed: Placed) -> Order {
    match placed {
        Placed::New { order, .. } => order,
        Placed::Existing(_) => panic!("a new key"),
    }
}

/// The rounds, each write alone (`orders::place`, `fills::book`).
async fn alone(pool: &PgPool, bots: &mut [Bot]) {
    for round in 0..3 {
        for (b, bot) in bots.iter_mut().enumerate() {
            let (side, qty, price) = PLANS[b][round as usize];
            let p = place(bot, format!("alone-{b}-{round}"), side, qty, round);
            let order = new_order(p.alone(pool.clone()).await.unwrap());
            let f = paper_fill(bot, order, qty, price, round);
            assert!(matches!(
                f.alone(pool.clone()).await.unwrap(),
                Booked::Filled { .. }
            ));
        }
    }
}

/// Everything a bot's writes left, ids replaced by their rank, in a comparable form.
async fn ledger(pool: &PgPool, bot: Uuid) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "WITH t AS (SELECT id, row_number() OVER (ORDER BY opened_at, id) AS n FROM trades WHERE bot_id = $1) \
         SELECT format('order %s %s %s %s %s %s %s', o.side, o.quantity, o.status, o.stage, \
                o.created_at, o.decision_bar_at, o.reference_price) FROM orders o WHERE o.bot_id = $1 \
         UNION ALL SELECT format('fill %s %s %s %s %s', f.quantity, f.price, f.commission, \
                f.simulated, f.filled_at) FROM fills f WHERE f.bot_id = $1 \
         UNION ALL SELECT format('trade %s %s %s %s %s %s %s %s %s', t.n, r.side, r.quantity, \
                r.entry_price, r.exit_price, r.realized_pnl, r.commission, r.opened_at, r.closed_at) \
                FROM trades r JOIN t ON t.id = r.id \
         UNION ALL SELECT format('position %s %s %s %s', p.quantity, p.average_price, \
                p.realized_pnl, p.stage) FROM positions p WHERE p.bot_id = $1 \
         UNION ALL SELECT format('trace %s %s %s %s %s %s %s', d.decision_type, d.reason_human, \
                d.signals, d.variables_snapshot, d.created_at, d.lease_epoch, t.n) \
                FROM decision_traces d LEFT JOIN t ON t.id = d.trade_log_id WHERE d.bot_id = $1 \
         ORDER BY 1",
    )
    .bind(bot)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().map(|(r,)| r).collect()
}

#[sqlx::test]
async fn a_batch_writes_what_each_write_alone_writes(pool: PgPool) {
    let mut solo = bots(&pool).await;
    alone(&pool, &mut solo).await;

    let writer = PaperWriter::spawn(pool.clone());
    let stats = writer.stats.clone();
    let mut batched = bots(&pool).await;
    let mut orders: Vec<Order> = Vec::new();
    for round in 0..3u32 {
        // Every bot places at once: one batch.
        let before = stats.batches.load(Ordering::Relaxed);
        let placed = join_all(batched.iter().enumerate().map(|(b, bot)| {
            let (side, qty, _) = PLANS[b][round as usize];
            writer.place(place(bot, format!("batched-{b}-{round}"), side, qty, round))
        }))
        .await;
        assert_eq!(stats.batches.load(Ordering::Relaxed), before + 1);
        let placed: Vec<Order> = placed.into_iter().map(|p| new_order(p.unwrap())).collect();
        // Then every bot fills at once: one batch.
        let fills: Vec<PaperFill> = batched
            .iter_mut()
            .zip(placed.iter().cloned())
            .enumerate()
            .map(|(b, (bot, order))| {
                let (_, qty, price) = PLANS[b][round as usize];
                paper_fill(bot, order, qty, price, round)
            })
            .collect();
        let before = stats.batches.load(Ordering::Relaxed);
        let booked = join_all(fills.into_iter().map(|f| writer.fill(f))).await;
        assert_eq!(stats.batches.load(Ordering::Relaxed), before + 1);
        for b in booked {
            assert!(matches!(b.unwrap(), Booked::Filled { .. }));
        }
        orders.extend(placed);
    }
    assert_eq!(stats.alone.load(Ordering::Relaxed), 0);
    for (s, b) in solo.iter().zip(&batched) {
        let (a, z) = (ledger(&pool, s.id).await, ledger(&pool, b.id).await);
        assert_eq!(a.len(), 3 * 3 + 1 + ledger_trades(&pool, s.id).await);
        assert_eq!(a, z, "bot {} alone vs batched", s.id);
        // The fills replay to the position the runner holds.
        let mut replay = Position::flat(Symbol::Es);
        for f in fills::for_bot(&pool, b.id, Symbol::Es).await.unwrap() {
            replay.apply_fill(f.side, f.quantity as u32, f.price, f.commission);
        }
        assert_eq!(replay, b.position);
        let row = positions::get(&pool, b.id, Symbol::Es)
            .await
            .unwrap()
            .unwrap();
        let p = &b.position;
        assert_eq!(
            (i64::from(row.quantity), row.average_price, row.realized_pnl),
            (
                p.quantity,
                (p.quantity != 0).then_some(p.avg_price),
                p.realized_pnl
            )
        );
    }

    // One batch with what a write alone refuses or does not repeat, beside a good write:
    // an existing key, a stale fence (place and fill), an order no longer working.
    let stale = Fence {
        epoch: batched[1].fence.epoch + 1,
        ..batched[1].fence.clone()
    };
    let mut existing = place(&batched[0], "batched-0-0".into(), Side::Buy, 2, 0);
    existing.trace.reason_human = "again".into();
    let mut stale_place = place(&batched[1], "batched-1-9".into(), Side::Buy, 1, 9);
    stale_place.fence = stale.clone();
    let good = place(&batched[2], "batched-2-9".into(), Side::Sell, 1, 9);
    let refill = paper_fill(&mut batched[3], orders[3].clone(), 3, dec!(5000), 9);
    let mut stale_fill = paper_fill(&mut batched[1], orders[1].clone(), 1, dec!(5000), 9);
    stale_fill.fence = stale;
    let before = stats.batches.load(Ordering::Relaxed);
    let (places, fills) = tokio::join!(
        join_all([existing, stale_place, good].map(|p| writer.place(p))),
        join_all([refill, stale_fill].map(|f| writer.fill(f))),
    );
    assert_eq!(stats.batches.load(Ordering::Relaxed), before + 1);
    assert_eq!(stats.alone.load(Ordering::Relaxed), 3);
    let [existing, stale_place, good] = <[_; 3]>::try_from(places).ok().unwrap();
    assert!(matches!(existing.unwrap(), Placed::Existing(o) if o.id == orders[0].id));
    let err = stale_place.unwrap_err();
    assert!(bot_leases::is_stale(&err), "{err}");
    let good = new_order(good.unwrap());
    assert_eq!(good.status, OrderStatus::Working);
    let [refill, stale_fill] = <[_; 2]>::try_from(fills).ok().unwrap();
    assert_eq!(refill.unwrap(), Booked::NotWorking);
    let err = stale_fill.unwrap_err();
    assert!(bot_leases::is_stale(&err), "{err}");
    // Nothing of the refused writes was stored; the good one has its trace.
    let (orders_1, traces_0): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM orders WHERE bot_id = $1), \
                (SELECT count(*) FROM decision_traces WHERE bot_id = $2 AND reason_human = 'again')",
    )
    .bind(batched[1].id)
    .bind(batched[0].id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((orders_1, traces_0), (3, 0));
    let trace_of_good: i64 =
        sqlx::query_scalar("SELECT count(*) FROM decision_traces WHERE id = $1")
            .bind(good.decision_trace_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(trace_of_good, 1);
    // A single booking of the stale fill would have said the same.
    let b = &batched[1];
    let again = fills::book(
        &pool,
        FillBooking {
            fence: &Fence {
                epoch: b.fence.epoch + 1,
                ..b.fence.clone()
            },
            order: &orders[1],
            side: Side::Buy,
            quantity: 1,
            price: dec!(5000),
            commission: dec!(2.25),
            filled_at: at(9),
            simulated: true,
            before: &b.position,
            after: &b.position,
            realized: Decimal::ZERO,
        },
    )
    .await
    .unwrap_err();
    assert!(bot_leases::is_stale(&again));
}

async fn ledger_trades(pool: &PgPool, bot: Uuid) -> usize {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM trades WHERE bot_id = $1")
        .bind(bot)
        .fetch_one(pool)
        .await
        .unwrap();
    n as usize
}

/// A batch whose statement fails (here one order the table refuses: no contracts) is rolled
/// back and each of its writes goes alone: the good ones are written, the bad one gets the
/// database's refusal, nothing of it is stored.
#[sqlx::test]
async fn a_failed_batch_falls_back_to_each_write_alone(pool: PgPool) {
    let writer = PaperWriter::spawn(pool.clone());
    let stats = writer.stats.clone();
    let bots = bots(&pool).await;
    let mut bad = place(&bots[0], "fallback-bad".into(), Side::Buy, 1, 0);
    bad.order.quantity = 0;
    let goods = bots[1..]
        .iter()
        .enumerate()
        .map(|(i, b)| place(b, format!("fallback-good-{i}"), Side::Sell, 1, 0));
    let answers = join_all(std::iter::once(bad).chain(goods).map(|p| writer.place(p))).await;
    assert_eq!(stats.batches.load(Ordering::Relaxed), 1);
    assert_eq!(stats.alone.load(Ordering::Relaxed), bots.len() as u64);
    let mut answers = answers.into_iter();
    let err = answers.next().unwrap().unwrap_err();
    assert!(
        matches!(&err, sqlx::Error::Database(e) if e.code().as_deref() == Some("23514")),
        "{err}"
    );
    for (answer, bot) in answers.zip(&bots[1..]) {
        let order = new_order(answer.unwrap());
        assert_eq!((order.bot_id, order.quantity), (bot.id, 1));
    }
    let mut stored: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT o.bot_id, count(d.id) FROM orders o JOIN decision_traces d \
         ON d.id = o.decision_trace_id GROUP BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut expected: Vec<(Uuid, i64)> = bots[1..].iter().map(|b| (b.id, 1)).collect();
    stored.sort();
    expected.sort();
    assert_eq!(stored, expected);
}

/// A batch's lease locks go with its session when it sits idle past the fenced limit (a node
/// paused mid-batch), as a single fenced write's do: another node can then take the bots.
#[sqlx::test]
async fn a_batch_idle_past_the_fenced_limit_frees_its_leases(pool: PgPool) {
    let bot = bot_row(&pool).await;
    let fence = lease(&pool, bot).await;
    let mut tx = pool.begin().await.unwrap();
    let current = bot_leases::lock_current(&mut tx, [bot]).await.unwrap();
    assert!(current.holds_fence(&fence));
    tokio::time::sleep(bot_leases::FENCED_IDLE_LIMIT + std::time::Duration::from_millis(700)).await;
    let free: Option<Uuid> =
        sqlx::query_scalar("SELECT bot_id FROM bot_leases WHERE bot_id = $1 FOR UPDATE NOWAIT")
            .bind(bot)
            .fetch_optional(&pool)
            .await
            .unwrap();
    assert_eq!(free, Some(bot));
    assert!(sqlx::query("SELECT 1").execute(&mut *tx).await.is_err());
}
