//! The product's connection pool (`store::pool_options`). sqlx pings a connection when it is
//! released; the pool pings it again before handing it out only when it has been idle for
//! `store::PING_IDLE` or more, so the hot path (a connection back from use a moment ago) pays
//! no round trip, and a connection that died while it sat in the pool is replaced, never
//! handed to a query.

use std::time::Duration;

use sqlx::PgPool;
use tradeplane::store;

use crate::support::db_proxy::DbProxy;

async fn backend_pid(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
}

#[sqlx::test]
async fn a_connection_that_died_while_idle_is_replaced_before_a_query_gets_it(pool: PgPool) {
    let proxy = DbProxy::start(&pool).await;
    let through = proxy.pool(&pool, Duration::from_secs(2)).await;
    let first = backend_pid(&through).await.unwrap();
    // The one connection is back in the pool (after its release's ping) when the database
    // drops it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(through.num_idle(), 1);
    proxy.cut();
    proxy.restore();
    tokio::time::sleep(store::PING_IDLE + Duration::from_millis(200)).await;

    let second = backend_pid(&through)
        .await
        .expect("the dead connection was handed to the query");
    assert_ne!(first, second, "the query ran on a new connection");
    assert_eq!(through.size(), 1, "the dead connection was closed");
}

#[sqlx::test]
async fn a_connection_back_from_use_a_moment_ago_is_handed_out_without_a_ping(pool: PgPool) {
    let proxy = DbProxy::start(&pool).await;
    let through = proxy.pool(&pool, Duration::from_secs(2)).await;
    let first = backend_pid(&through).await.unwrap();
    // Let the release's own ping finish: the connection is idle and known good.
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Dropped while idle for less than PING_IDLE: handed out as it is, and the query finds
    // out. (sqlx's default pings on every acquire and would have replaced it; that round trip
    // on every statement is what the pool no longer pays.)
    proxy.cut();
    proxy.restore();
    let failed = backend_pid(&through).await;
    assert!(failed.is_err(), "{failed:?}");
    // The failed connection is closed on its release; the next query gets a new one.
    let second = backend_pid(&through).await.unwrap();
    assert_ne!(first, second);
}
