//! A broker fill that crosses a cancel (issue 17 parts 3 and 5): a LIVE order the broker
//! fills as it is being cancelled is booked, so the ledger holds what the broker holds and a
//! KILLED bot shows its exposure, instead of an unexplained position mismatch. On the broker
//! simulator: a market order of two contracts (the `partial` fault) fills one now and the other
//! at the next minute's open; the cancel comes after that minute has begun.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::runtime::reconciliation::Trigger;
use uuid::Uuid;

use crate::support::{
    fixtures::{sandbox_broker_book, until},
    live::{LiveApp, LiveSetup, half_filled},
    paper::{session_start, tick},
};

async fn order_of(pool: &PgPool, bot: Uuid) -> Option<(Uuid, String)> {
    sqlx::query_as("SELECT id, status FROM orders WHERE bot_id = $1 ORDER BY created_at LIMIT 1")
        .bind(bot)
        .fetch_optional(pool)
        .await
        .unwrap()
}

async fn booked(pool: &PgPool, order: Uuid) -> Vec<(String, i32)> {
    sqlx::query_as(
        "SELECT broker_fill_id, quantity FROM fills WHERE order_id = $1 ORDER BY broker_fill_id",
    )
    .bind(order)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn held(pool: &PgPool, bot: Uuid) -> i32 {
    sqlx::query_scalar("SELECT COALESCE(sum(quantity), 0)::int FROM positions WHERE bot_id = $1")
        .bind(bot)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn open_mismatches(pool: &PgPool, bot: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM reconciliation_mismatches WHERE resolved_at IS NULL \
         AND $1 = ANY(bot_ids)",
    )
    .bind(bot)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// What a cancel the broker answered as taken (or pending) leaves in the ledger.
async fn cancelled_in_ledger(pool: &PgPool, order: Uuid) {
    sqlx::query(
        "UPDATE orders SET status = 'CANCELLED', reject_reason = 'drill: cancel taken' \
         WHERE id = $1",
    )
    .bind(order)
    .execute(pool)
    .await
    .unwrap();
}

/// The broker's fills of the simulator's only order, as `(broker fill id, quantity)`.
fn fills_at_broker(book: &Value) -> Vec<(String, i32)> {
    let mut fills: Vec<(String, i32)> = book["fills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_u64().unwrap().to_string(),
                i32::try_from(f["quantity"].as_u64().unwrap()).unwrap(),
            )
        })
        .collect();
    fills.sort();
    fills
}

/// REST only (nothing books a fill behind the test's back), reconciliation runs the test's
/// own, 45 s into a minute: the first fill comes within seconds, the rest at the next minute's
/// open.
fn setup() -> LiveSetup {
    LiveSetup {
        rest_only: true,
        reconcile_every: Some(StdDuration::from_secs(3600)),
        start_at: Some(session_start() + Duration::hours(5) + Duration::seconds(45)),
        ..LiveSetup::default()
    }
}

/// Waits (at most a minute: the clock runs at wall speed) until the shared clock is past `at`.
async fn past(live: &LiveApp, at: DateTime<Utc>) {
    let clock = live.rt.clock();
    let wait = (at - clock.now() + Duration::milliseconds(200)).max(Duration::zero());
    assert!(wait <= Duration::seconds(61), "{wait}");
    tokio::time::sleep(wait.to_std().unwrap()).await;
}

/// A kill whose cancel the broker refuses (the order filled first: Ironbeam `Order is not
/// working`) leaves the order open; reconciliation books its fill. Before, only a KILLED bot's
/// `SENDING` orders were resolved: the order stayed open, its fill unbooked, and the next run
/// raised a position mismatch.
#[sqlx::test]
async fn a_fill_that_beat_the_kills_cancel_is_booked_and_shows_as_exposure(pool: PgPool) {
    let vendor = "ironbeam";
    let (live, bot, order, rest_at) = half_filled(&pool, vendor, setup()).await;
    past(&live, rest_at).await;
    let (code, body) = live.app.kill_bot(bot, json!({"reason": "drill"})).await;
    assert_eq!(code, 200, "{body}");
    let (_, status) = order_of(&pool, bot).await.unwrap();
    assert_eq!(
        status, "PARTIALLY_FILLED",
        "not cancelled: the broker filled it"
    );

    live.rt
        .reconciler()
        .unwrap()
        .run_all(Trigger::Periodic)
        .await;
    let at_broker = fills_at_broker(&sandbox_broker_book(&live.env, vendor).await);
    assert_eq!(at_broker.len(), 2, "{at_broker:?}");
    assert_eq!(booked(&pool, order).await.len(), 2);
    assert_eq!(
        booked(&pool, order).await.iter().map(|f| f.1).sum::<i32>(),
        2
    );
    assert_eq!(order_of(&pool, bot).await.unwrap().1, "FILLED");
    assert_eq!(
        held(&pool, bot).await.abs(),
        2,
        "the ledger holds what the broker holds"
    );
    assert_eq!(open_mismatches(&pool, bot).await, 0);
    // The killed bot's exposure is a SEV-1 blocker until flat or acknowledged.
    until("the KILLED_WITH_EXPOSURE blocker", async || {
        let (code, status) = live.app.system_status().await;
        assert_eq!(code, 200, "{status}");
        status["blockers"]
            .as_array()?
            .iter()
            .any(|b| b["code"] == "KILLED_WITH_EXPOSURE" && b["severity"] == "SEV-1")
            .then_some(())
    })
    .await;
}

/// The global kill's bulk cancel (Ironbeam `cancelMultiple`) answered with the order `FILLED`:
/// it is not reported cancelled nor closed in the ledger (before, the answer's `OK` closed every
/// asked order), and reconciliation books its fill.
#[sqlx::test]
async fn a_bulk_cancel_answered_filled_leaves_the_order_open_for_its_fill(pool: PgPool) {
    let vendor = "ironbeam";
    let (live, bot, order, rest_at) = half_filled(&pool, vendor, setup()).await;
    past(&live, rest_at).await;
    let (code, body) = live
        .app
        .set_kill_switch(json!({"active": true, "reason": "drill"}))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["killed_bot_ids"], json!([bot]), "{body}");
    assert!(
        !body["cancelled_order_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(order)),
        "the broker filled it: not cancelled: {body}"
    );
    assert_eq!(order_of(&pool, bot).await.unwrap().1, "PARTIALLY_FILLED");

    live.rt
        .reconciler()
        .unwrap()
        .run_all(Trigger::Periodic)
        .await;
    assert_eq!(booked(&pool, order).await.len(), 2);
    assert_eq!(order_of(&pool, bot).await.unwrap().1, "FILLED");
    assert_eq!(held(&pool, bot).await.abs(), 2);
    assert_eq!(open_mismatches(&pool, bot).await, 0);
}

/// An order the ledger closed `CANCELLED` (the broker took the cancel pending) that the
/// broker filled first: reconciliation books the fill, one row per broker fill id, and a
/// second run books nothing more.
#[sqlx::test]
async fn a_fill_that_crossed_an_accepted_cancel_is_booked_by_reconciliation(pool: PgPool) {
    let vendor = "tradovate";
    let (live, bot, order, rest_at) = half_filled(&pool, vendor, setup()).await;
    live.rt.stop_runner(bot).await.unwrap();
    // No runner and no lease: the next renewal lets the stopped bot go.
    until("the stopped bot's lease let go", async || {
        let node: Option<Option<String>> =
            sqlx::query_scalar("SELECT node FROM bot_leases WHERE bot_id = $1")
                .bind(bot)
                .fetch_optional(&pool)
                .await
                .unwrap();
        node.flatten().is_none().then_some(())
    })
    .await;
    cancelled_in_ledger(&pool, order).await;
    past(&live, rest_at).await;

    let reconciler = live.rt.reconciler().unwrap();
    for _ in 0..2 {
        reconciler.run_all(Trigger::Periodic).await;
        let at_broker = fills_at_broker(&sandbox_broker_book(&live.env, vendor).await);
        assert_eq!(at_broker.len(), 2, "{at_broker:?}");
        let ours = booked(&pool, order).await;
        assert_eq!(ours.len(), 2, "one row per broker fill: {ours:?}");
        assert_eq!(ours.iter().map(|f| f.1).sum::<i32>(), 2);
        assert_eq!(order_of(&pool, bot).await.unwrap().1, "FILLED");
        assert_eq!(held(&pool, bot).await.abs(), 2);
        assert_eq!(open_mismatches(&pool, bot).await, 0);
    }
}

/// The same with the bot still running (a cancel taken pending by the trading switch or a desk
/// action, the runner going on): its runner books the fill at its next evaluation, through its
/// engine, so its position is the broker's.
#[sqlx::test]
async fn a_running_bots_runner_books_a_fill_that_crossed_its_orders_cancel(pool: PgPool) {
    let vendor = "ironbeam";
    let (live, bot, order, rest_at) = half_filled(&pool, vendor, setup()).await;
    cancelled_in_ledger(&pool, order).await;
    past(&live, rest_at).await;
    tick(
        &live.rt,
        &pool,
        bot,
        session_start() + Duration::minutes(200),
    )
    .await;
    let ours = booked(&pool, order).await;
    assert_eq!(ours.len(), 2, "one row per broker fill: {ours:?}");
    assert_eq!(order_of(&pool, bot).await.unwrap().1, "FILLED");
    assert_eq!(held(&pool, bot).await.abs(), 2);
    assert!(live.rt.runner(bot).is_some_and(|r| r.status.is_live()));
}
