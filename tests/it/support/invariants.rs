//! What must hold in the database after any mix of node faults (issue 18 checks), read from
//! the records alone: the traces carry their node and lease epoch, `bot_lease_epochs` says who
//! held which epoch since when (the database's clock), orders carry their idempotency key and
//! decision bar. Each check answers the offending rows, so a failure names them.

use sqlx::PgPool;
use uuid::Uuid;

/// A row written under epoch `e` of a bot after epoch `e + 1` (or any later one) had begun, or
/// under an epoch its node never held: a stale write the database accepted. `written_at` and
/// `began_at` are both the database's clock; a fenced write share-locks the lease, so a
/// takeover's epoch begins only after every write of the previous epoch committed.
pub async fn stale_writes(pool: &PgPool) -> Vec<(String, Uuid, String, i64)> {
    sqlx::query_as(
        "WITH w AS ( \
             SELECT 'decision' AS kind, bot_id, node_id, lease_epoch, written_at FROM decision_traces \
             WHERE lease_epoch IS NOT NULL \
             UNION ALL \
             SELECT 'no_trade', bot_id, node_id, lease_epoch, written_at FROM no_trade_traces \
             WHERE lease_epoch IS NOT NULL) \
         SELECT w.kind, w.bot_id, w.node_id, w.lease_epoch FROM w \
         WHERE NOT EXISTS (SELECT 1 FROM bot_lease_epochs e WHERE e.bot_id = w.bot_id \
                             AND e.epoch = w.lease_epoch AND e.node = w.node_id \
                             AND e.began_at <= w.written_at) \
            OR EXISTS (SELECT 1 FROM bot_lease_epochs e WHERE e.bot_id = w.bot_id \
                         AND e.epoch > w.lease_epoch AND e.began_at < w.written_at) \
         ORDER BY 2, 4",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// A bar (the second of an evaluation's stamp: bars are 1 s) of a bot evaluated by two nodes:
/// a decision trace, or a no-trade row's span of seconds (first to last evaluation it
/// folds), of one node meeting another node's. Answers `(bot, second, nodes)`.
pub async fn bars_evaluated_twice(
    pool: &PgPool,
) -> Vec<(Uuid, chrono::DateTime<chrono::Utc>, i64)> {
    sqlx::query_as(
        "WITH spans AS ( \
             SELECT bot_id, node_id, date_trunc('second', created_at) AS first, \
                    date_trunc('second', created_at) AS last FROM decision_traces \
             WHERE node_id IS NOT NULL \
             UNION ALL \
             SELECT bot_id, node_id, date_trunc('second', created_at), \
                    date_trunc('second', last_seen_at) FROM no_trade_traces \
             WHERE node_id IS NOT NULL), \
         seconds AS ( \
             SELECT DISTINCT bot_id, node_id, s AS second FROM spans, \
                    generate_series(first, last, interval '1 second') AS s) \
         SELECT bot_id, second, count(*) AS nodes FROM seconds \
         GROUP BY bot_id, second HAVING count(*) > 1 ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Orders booked twice: an idempotency key used more than once, or two orders of one bot for
/// one decision bar. Answers `(bot, key or bar, orders)`.
pub async fn duplicate_orders(pool: &PgPool) -> Vec<(Uuid, String, i64)> {
    sqlx::query_as(
        "SELECT bot_id, idempotency_key, count(*) FROM orders \
         GROUP BY bot_id, idempotency_key HAVING count(*) > 1 \
         UNION ALL \
         SELECT bot_id, decision_bar_at::text, count(*) FROM orders \
         WHERE decision_bar_at IS NOT NULL \
         GROUP BY bot_id, decision_bar_at HAVING count(*) > 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}
