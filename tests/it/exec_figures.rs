//! Bounded CI versions of issue 17's execution figures (the figures themselves:
//! `examples/order_wire_latency.rs`, `examples/global_kill_cancels.rs`, in docs/benchmarks.md),
//! on the same in-process stack (`examples/support/live_stack.rs`): the LIVE runner on the
//! broker simulator behind a listener that stamps and logs every broker request.
//!
//! - A LIVE order reaches the broker only after its write-ahead `SENDING` row is committed,
//!   and its decision → wire time stays bounded (debug build, shared machine: the p99 target of
//!   1 ms is the release example's).
//! - The global kill over 100 LIVE bots and 500 working orders cancels every one at the Ironbeam
//!   simulator in one bulk request (`cancelMultiple`) and in the ledger; at Tradovate (no bulk
//!   cancel) one request per order, never more than its budget (80 per minute) allows.

// The crash driver's parts of the stack are the examples'.
#[allow(dead_code)]
#[path = "../../examples/support/live_stack.rs"]
mod live_stack;

use std::time::Duration;

use sqlx::PgPool;

async fn wire(pool: PgPool, vendor: &'static str) {
    let stack = live_stack::start(pool, vendor, 1).await.unwrap();
    let samples = stack.run(4, Duration::from_millis(150)).await.unwrap();
    assert!(samples.len() >= 4, "only {} LIVE orders", samples.len());
    let mut lat: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    lat.sort();
    println!(
        "FIGURE {vendor} decision → wire (debug): {} orders, p50 {:?}, max {:?}",
        lat.len(),
        live_stack::percentile(&lat, 0.5),
        lat.last().unwrap()
    );
    for s in &samples {
        assert!(
            s.write_ahead_before_send,
            "order {} reached the broker before its SENDING row was committed",
            s.order
        );
        assert!(s.latency > Duration::ZERO, "{s:?}");
    }
    assert!(
        *lat.last().unwrap() < Duration::from_millis(250),
        "decision → wire {lat:?}"
    );
}

#[sqlx::test]
async fn a_live_order_is_on_the_wire_after_its_write_ahead_ironbeam(pool: PgPool) {
    wire(pool, "ironbeam").await;
}

#[sqlx::test]
async fn a_live_order_is_on_the_wire_after_its_write_ahead_tradovate(pool: PgPool) {
    wire(pool, "tradovate").await;
}

#[sqlx::test]
async fn a_global_kill_cancels_500_live_orders_at_ironbeam_in_one_bulk_request(pool: PgPool) {
    let stack = live_stack::start(pool, "ironbeam", 0).await.unwrap();
    let bots = stack.working_orders(100, 5).await.unwrap();
    let f = stack.global_kill(&bots).await.unwrap();
    println!("FIGURE ironbeam global kill (debug): {f:?}");
    assert_eq!(f.orders, 500);
    assert_eq!((f.working_at_broker, f.working_in_ledger), (0, 0), "{f:?}");
    assert_eq!(f.cancel_requests, 1, "one cancelMultiple: {f:?}");
    assert!(f.max_per_second <= 8, "{f:?}");
}

#[sqlx::test]
async fn a_global_kill_cancels_each_tradovate_order_within_its_budget(pool: PgPool) {
    let stack = live_stack::start(pool, "tradovate", 0).await.unwrap();
    let bots = stack.working_orders(20, 5).await.unwrap();
    let f = stack.global_kill(&bots).await.unwrap();
    println!("FIGURE tradovate global kill (debug): {f:?}");
    assert_eq!(f.orders, 100);
    assert_eq!((f.working_at_broker, f.working_in_ledger), (0, 0), "{f:?}");
    assert_eq!(f.cancel_requests, 100, "one cancel per order: {f:?}");
    // The session's Tradovate budget: 80 at once, then one every 0.75 s, so at most 80 + 80
    // in any minute (the vendor documents 5,000 per hour).
    assert!(f.max_per_minute <= 160, "{f:?}");
    assert!(f.elapsed >= Duration::from_secs(14), "paced: {f:?}");
}
