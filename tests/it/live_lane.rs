//! The LIVE write-ahead's own connections (`store::live_lane`): each rehearses the write-ahead
//! as it connects (the statement, the fence, the foreign keys' checks prepared on it) inside a
//! transaction it rolls back, and keeps its plan.

use std::time::Duration;

use sqlx::PgPool;
use tradeplane::store::live_lane;

use crate::support::fixtures::rows;

#[sqlx::test]
async fn a_lane_connection_has_rehearsed_the_write_ahead_and_kept_nothing(pool: PgPool) {
    let lane = live_lane::lane(&pool, true);
    // Opened without waiting for a first order.
    let opened = async {
        while lane.num_idle() < live_lane::LANE_CONNECTIONS as usize {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), opened)
        .await
        .expect("the lane's connections were opened at once");

    let mut conn = lane.acquire().await.unwrap();
    // The rehearsal runs to its end (a failed one is only logged as the lane connects).
    live_lane::rehearse(&mut conn)
        .await
        .expect("the rehearsal writes the order and its trace");
    let prepared: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_prepared_statements \
         WHERE statement LIKE 'WITH fence AS MATERIALIZED%INSERT INTO orders%INSERT INTO decision_traces%'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        prepared, 1,
        "the write-ahead is prepared on the lane's connection"
    );
    let mode: String = sqlx::query_scalar("SHOW plan_cache_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(mode, "force_generic_plan");
    drop(conn);

    for table in ["nodes", "bots", "bot_leases", "orders", "decision_traces"] {
        assert_eq!(
            rows(&pool, table).await,
            0,
            "the rehearsal left a row in {table}"
        );
    }
}

#[sqlx::test]
async fn a_lane_of_a_node_without_a_broker_opens_nothing_until_used(pool: PgPool) {
    let lane = live_lane::lane(&pool, false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lane.size(), 0);
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&lane)
        .await
        .unwrap();
    assert_eq!(one, 1);
    assert_eq!(lane.size(), 1);
}
