//! The connections LIVE orders are written ahead on (`runtime::account_risk::place_live`).
//!
//! A LIVE decision's order and trace are committed `SENDING` before the request leaves, so
//! that statement is inside the decision → wire time. Taken from the main pool, it often met
//! a connection that had never run it (a desk's orders are minutes apart; the pool has 16
//! connections and replaces them): parsing and planning the statement, compiling `tp_fence`
//! and preparing the foreign keys' checks cost 2–3 ms there (`EXPLAIN ANALYZE` of a first
//! execution on a session) against ≈ 0.3 ms once they are cached. The lane keeps a few
//! connections for these writes only, never closed for idleness or age, each rehearsing the
//! statement as it connects, with its plan kept (`plan_cache_mode = force_generic_plan`: every
//! lookup in it is by key, so the generic plan is the one a custom planning would find).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

use super::bot_leases::Fence;
use super::orders::{BrokerRoute, NewOrder, write_placed};
use super::traces::NewDecisionTrace;
use crate::domain::{
    evaluation::DecisionType, execution::OrderStatus, instruments::Symbol, risk::Stage, side::Side,
    timeframe::Timeframe,
};
use crate::trace::TraceId;

/// Connections in the lane: LIVE orders of different accounts are written at once, those of
/// one account wait for its lock anyway.
pub const LANE_CONNECTIONS: u32 = 2;

/// The lane beside `pool` (same database and credentials). `open`: connect its connections now
/// (a node with a broker configured), so the first LIVE order does not wait for a connect.
pub fn lane(pool: &PgPool, open: bool) -> PgPool {
    let options = (*pool.connect_options()).clone();
    super::pool_options()
        .max_connections(LANE_CONNECTIONS)
        .min_connections(if open { LANE_CONNECTIONS } else { 0 })
        .idle_timeout(None::<Duration>)
        .max_lifetime(None::<Duration>)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET plan_cache_mode = force_generic_plan")
                    .await?;
                // A connection that cannot rehearse still writes (only slower the first time).
                if let Err(err) = rehearse(conn).await {
                    tracing::warn!(error = %err, "LIVE lane: write-ahead rehearsal failed");
                }
                Ok(())
            })
        })
        .connect_lazy_with(options)
}

/// Runs the write-ahead's statement once for a node, a LIVE bot and a lease that exist only
/// in a transaction rolled back at the end: nothing is kept but what the connection caches.
pub async fn rehearse(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    // Nothing of it is kept, so no clock: any instant does.
    let now = DateTime::<Utc>::UNIX_EPOCH;
    let mut tx = conn.begin().await?;
    let node = format!("live-lane-rehearsal-{}", Uuid::now_v7().simple());
    let registration = super::nodes::NodeRegistration {
        name: &node,
        incarnation: Uuid::now_v7(),
        host: "rehearsal",
        version: "rehearsal",
        capacity: 1,
        presence_key: None,
    };
    super::nodes::register(&mut *tx, &registration, now).await?;
    let bot = super::bots::insert(
        &mut *tx,
        super::bots::NewBot {
            name: node.clone(),
            symbol: Symbol::Es,
            timeframe: Timeframe::M1,
            stage: Stage::Live,
            strategy: json!({}),
            risk_limits: json!({}),
            created_by: None,
        },
        now,
    )
    .await
    .map_err(|e| match e {
        super::bots::BotWriteError::Db(e) => e,
        other => sqlx::Error::Protocol(other.to_string()),
    })?;
    let epoch = super::bot_leases::acquire(&mut *tx, bot.id, &node, now, now)
        .await?
        .ok_or_else(|| sqlx::Error::Protocol("the rehearsal's bot was held".into()))?;
    let fence = Fence {
        bot_id: bot.id,
        node: node.as_str().into(),
        epoch,
    };
    let order = NewOrder::market(
        bot.id,
        Symbol::Es,
        node.clone(),
        Side::Buy,
        1,
        Stage::Live,
        OrderStatus::Sending,
    );
    let trace = NewDecisionTrace {
        bot_id: bot.id,
        run_id: None,
        trade_log_id: None,
        decision_type: DecisionType::Entry,
        reason_human: "a rehearsal of the LIVE write-ahead, rolled back".into(),
        reason_code: "LIVE_LANE_REHEARSAL".into(),
        signals: json!({}),
        variables_snapshot: json!({}),
        confidence: 0.0,
        expected_value: 0.0,
        risk_snapshot: json!({}),
        trace_id: TraceId::generate(),
    };
    let route = BrokerRoute {
        broker: "rehearsal",
        account: "rehearsal",
    };
    let placed = write_placed(&mut tx, &fence, order, trace, Some(route), Some(route), now).await?;
    tx.rollback().await?;
    match placed {
        Ok(_) => Ok(()),
        Err(_) => Err(sqlx::Error::Protocol("the rehearsal wrote nothing".into())),
    }
}
