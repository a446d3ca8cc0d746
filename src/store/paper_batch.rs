//! Many bots' PAPER and SHADOW order and fill writes in one transaction (group commit: one
//! commit, a few statements, for a boundary where hundreds of bots place or fill at once).
//! Each write is what [`orders::place`] or [`fills::book`] would write for it alone, and is
//! fenced row by row: the batch share-locks the leases of its bots first
//! ([`bot_leases::lock_current`]) and writes only the rows whose fence is their bot's lease.
//! A row the batch does not write (a stale fence, an idempotency key that exists, a bot's
//! second fill) is handed back: the caller writes it alone, which answers it exactly as a
//! single write does (`STALE_LEASE`, [`Placed::Existing`]).

use chrono::{DateTime, SubsecRound, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::bot_leases::{self, Current, Fence};
use super::fills::{self, Booked, FillBooking, Tail};
use super::orders::{self, NewOrder, Order, Placed};
use super::traces::NewDecisionTrace;
use crate::domain::{execution::SimFill, positions::Position};

/// A decision's order and trace to place, as [`orders::place`] takes them (no broker route:
/// PAPER and SHADOW orders are never sent).
pub struct PaperPlace {
    pub fence: Fence,
    pub order: NewOrder,
    pub trace: NewDecisionTrace,
    pub now: DateTime<Utc>,
}

/// An order the batch wrote, with the id of its decision trace ([`PaperPlace::written`]).
pub struct PlacedRow {
    order: Order,
    trace_row: Uuid,
}

impl PaperPlace {
    /// What [`orders::place`] answers for this place once the batch wrote it as `row`.
    pub fn written(self, row: PlacedRow) -> Placed {
        Placed::New {
            order: row.order,
            trace: Box::new(orders::stored_trace(
                row.trace_row,
                self.trace,
                self.now.trunc_subsecs(6),
                &self.fence,
            )),
        }
    }

    /// Writes it alone ([`orders::place`]).
    pub async fn alone(self, pool: sqlx::PgPool) -> Result<Placed, sqlx::Error> {
        orders::place(&pool, &self.fence, self.order, self.trace, None, self.now).await
    }
}

/// A simulated fill of a working order to book, as [`fills::book`] takes it.
pub struct PaperFill {
    pub fence: Fence,
    pub order: Order,
    pub fill: SimFill,
    /// The position before and after the fill, and what it realized.
    pub before: Position,
    pub after: Position,
    pub realized: Decimal,
}

impl PaperFill {
    fn booking(&self) -> FillBooking<'_> {
        FillBooking {
            fence: &self.fence,
            order: &self.order,
            side: self.fill.side,
            quantity: self.fill.quantity,
            price: self.fill.price,
            commission: self.fill.commission,
            filled_at: self.fill.filled_at,
            simulated: true,
            before: &self.before,
            after: &self.after,
            realized: self.realized,
        }
    }

    /// Books it alone ([`fills::book`]).
    pub async fn alone(self, pool: sqlx::PgPool) -> Result<Booked, sqlx::Error> {
        fills::book(&pool, self.booking()).await
    }
}

/// What the batch wrote for each place (`None`: not written, write it alone) and fill.
pub struct Written {
    pub placed: Vec<Option<PlacedRow>>,
    pub booked: Vec<Option<Booked>>,
}

/// Writes `places` and `fills` in the caller's transaction (which commits them). Places come
/// back as `None` when their fence is stale or their key exists, fills when their fence is
/// stale or their bot has another fill in the batch.
pub async fn write(
    tx: &mut PgConnection,
    places: &[PaperPlace],
    fills: &[PaperFill],
) -> Result<Written, sqlx::Error> {
    let current = bot_leases::lock_current(
        &mut *tx,
        places
            .iter()
            .map(|p| p.fence.bot_id)
            .chain(fills.iter().map(|f| f.fence.bot_id)),
    )
    .await?;
    let placed = place_many(&mut *tx, &current, places).await?;
    let booked = book_many(&mut *tx, &current, fills).await?;
    Ok(Written { placed, booked })
}

/// Whether `fence` lets the batch write for `bot`.
fn fenced(current: &Current, fence: &Fence, bot: Uuid) -> bool {
    fence.bot_id == bot && current.holds_fence(fence)
}

/// The orders and their decision traces, in one statement (`PLACE_SQL`'s writes per row).
const PLACE_MANY_SQL: &str = "WITH r AS (SELECT * FROM UNNEST($1::uuid[], $2::uuid[], \
         $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::int4[], $9::text[], \
         $10::numeric[], $11::numeric[], $12::text[], $13::text[], $14::timestamptz[], \
         $15::timestamptz[], $16::numeric[], $17::uuid[], $18::uuid[], $19::uuid[], $20::text[], \
         $21::text[], $22::text[], $23::jsonb[], $24::jsonb[], $25::float8[], $26::float8[], \
         $27::jsonb[], $28::text[], $29::text[], $30::int8[]) \
         AS r(id, bot_id, run_id, trace_row, key, symbol, side, quantity, order_type, \
              limit_price, stop_price, stage, status, at, decision_bar_at, reference_price, \
              t_bot, t_run, t_trade, t_type, t_human, t_code, t_signals, t_variables, \
              t_confidence, t_ev, t_risk, t_trace, node, epoch)), \
     o AS (INSERT INTO orders (id, bot_id, run_id, decision_trace_id, idempotency_key, symbol, \
           side, quantity, order_type, limit_price, stop_price, stage, status, created_at, \
           updated_at, decision_bar_at, reference_price) \
         SELECT id, bot_id, run_id, trace_row, key, symbol, side, quantity, order_type, \
           limit_price, stop_price, stage, status, at, at, decision_bar_at, reference_price \
         FROM r ON CONFLICT (idempotency_key) DO NOTHING RETURNING *), \
     t AS (INSERT INTO decision_traces (id, bot_id, run_id, trade_log_id, created_at, \
           decision_type, reason_human, reason_code, signals, variables_snapshot, confidence, \
           expected_value, risk_snapshot, trace_id, node_id, lease_epoch) \
         SELECT r.trace_row, r.t_bot, r.t_run, r.t_trade, r.at, r.t_type, r.t_human, r.t_code, \
           r.t_signals, r.t_variables, r.t_confidence, r.t_ev, r.t_risk, r.t_trace, r.node, \
           r.epoch FROM o JOIN r ON r.id = o.id) \
     SELECT * FROM o";

async fn place_many(
    tx: &mut PgConnection,
    current: &Current,
    places: &[PaperPlace],
) -> Result<Vec<Option<PlacedRow>>, sqlx::Error> {
    let mut placed: Vec<Option<PlacedRow>> = places.iter().map(|_| None).collect();
    let rows: Vec<usize> = (0..places.len())
        .filter(|&i| fenced(current, &places[i].fence, places[i].order.bot_id))
        .collect();
    if rows.is_empty() {
        return Ok(placed);
    }
    let ids: Vec<(Uuid, Uuid)> = rows
        .iter()
        .map(|_| (Uuid::now_v7(), Uuid::now_v7()))
        .collect();
    let picked: Vec<&PaperPlace> = rows.iter().map(|&i| &places[i]).collect();
    let p = &picked;
    let written: Vec<Order> = sqlx::query_as(PLACE_MANY_SQL)
        .bind(ids.iter().map(|(order, _)| *order).collect::<Vec<_>>())
        .bind(column(p, |x| x.order.bot_id))
        .bind(column(p, |x| x.order.run_id))
        .bind(ids.iter().map(|(_, trace)| *trace).collect::<Vec<_>>())
        .bind(column(p, |x| x.order.idempotency_key.as_str()))
        .bind(column(p, |x| x.order.symbol))
        .bind(column(p, |x| x.order.side))
        .bind(column(p, |x| x.order.quantity))
        .bind(column(p, |x| x.order.order_type))
        .bind(column(p, |x| x.order.limit_price))
        .bind(column(p, |x| x.order.stop_price))
        .bind(column(p, |x| x.order.stage))
        .bind(column(p, |x| x.order.status))
        // As stored: Postgres keeps microseconds.
        .bind(column(p, |x| x.now.trunc_subsecs(6)))
        .bind(column(p, |x| x.order.decision_bar_at))
        .bind(column(p, |x| x.order.reference_price))
        .bind(column(p, |x| x.trace.bot_id))
        .bind(column(p, |x| x.trace.run_id))
        .bind(column(p, |x| x.trace.trade_log_id))
        .bind(column(p, |x| x.trace.decision_type))
        .bind(column(p, |x| x.trace.reason_human.as_str()))
        .bind(column(p, |x| x.trace.reason_code.as_str()))
        .bind(column(p, |x| &x.trace.signals))
        .bind(column(p, |x| &x.trace.variables_snapshot))
        .bind(column(p, |x| x.trace.confidence))
        .bind(column(p, |x| x.trace.expected_value))
        .bind(column(p, |x| &x.trace.risk_snapshot))
        .bind(column(p, |x| x.trace.trace_id.as_str()))
        .bind(column(p, |x| &*x.fence.node))
        .bind(column(p, |x| x.fence.epoch))
        .fetch_all(&mut *tx)
        .await?;
    let mut by_id: std::collections::HashMap<Uuid, Order> =
        written.into_iter().map(|o| (o.id, o)).collect();
    for (k, &i) in rows.iter().enumerate() {
        let (order_id, trace_row) = ids[k];
        placed[i] = by_id
            .remove(&order_id)
            .map(|order| PlacedRow { order, trace_row });
    }
    Ok(placed)
}

/// The claims of many fills (`fills::CLAIM_SQL` per row, the fence checked by the batch): each
/// order claimed while still working, its one fill, and the bot's open trade, locked.
const CLAIM_MANY_SQL: &str = "WITH r AS (SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], \
         $3::uuid[], $4::uuid[], $5::int4[], $6::numeric[], $7::numeric[], $8::text[]) \
         AS r(order_id, at, fill_id, bot_id, quantity, price, commission, symbol)), \
     claimed AS (UPDATE orders o SET status = 'FILLED', updated_at = r.at FROM r \
         WHERE o.id = r.order_id AND o.bot_id = r.bot_id \
           AND o.status IN ('NEW', 'WORKING', 'PARTIALLY_FILLED') RETURNING o.id), \
     f AS (INSERT INTO fills (id, order_id, bot_id, quantity, price, commission, simulated, \
           filled_at, created_at) \
         SELECT r.fill_id, r.order_id, r.bot_id, r.quantity, r.price, r.commission, true, r.at, \
           now() FROM r JOIN claimed c ON c.id = r.order_id RETURNING order_id) \
     SELECT r.order_id, EXISTS (SELECT 1 FROM f WHERE f.order_id = r.order_id) AS filled, \
       t.id, t.quantity, t.exit_price \
     FROM r LEFT JOIN LATERAL (SELECT id, quantity, exit_price FROM trades \
         WHERE bot_id = r.bot_id AND symbol = r.symbol AND closed_at IS NULL LIMIT 1 FOR UPDATE) t \
     ON true";

type Claim = (Uuid, bool, Option<Uuid>, Option<i32>, Option<Decimal>);

async fn book_many(
    tx: &mut PgConnection,
    current: &Current,
    fills: &[PaperFill],
) -> Result<Vec<Option<Booked>>, sqlx::Error> {
    let mut booked: Vec<Option<Booked>> = fills.iter().map(|_| None).collect();
    // A bot's second fill would read the trade and position its first one changes: it goes
    // alone, after the batch (a runner awaits each fill, so this does not happen in a fleet).
    let mut bots = std::collections::HashSet::new();
    let rows: Vec<usize> = (0..fills.len())
        .filter(|&i| fenced(current, &fills[i].fence, fills[i].order.bot_id))
        .filter(|&i| bots.insert(fills[i].order.bot_id))
        .collect();
    if rows.is_empty() {
        return Ok(booked);
    }
    let fill_ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
    let picked: Vec<&PaperFill> = rows.iter().map(|&i| &fills[i]).collect();
    let f = &picked;
    let claims: Vec<Claim> = sqlx::query_as(CLAIM_MANY_SQL)
        .bind(column(f, |x| x.order.id))
        .bind(column(f, |x| x.fill.filled_at))
        .bind(&fill_ids)
        .bind(column(f, |x| x.order.bot_id))
        .bind(column(f, |x| {
            i32::try_from(x.fill.quantity).unwrap_or(i32::MAX)
        }))
        .bind(column(f, |x| x.fill.price))
        .bind(column(f, |x| x.fill.commission))
        .bind(column(f, |x| x.order.symbol))
        .fetch_all(&mut *tx)
        .await?;
    let claims: std::collections::HashMap<Uuid, Claim> =
        claims.into_iter().map(|c| (c.0, c)).collect();
    let mut tail = Tail::default();
    for (k, &i) in rows.iter().enumerate() {
        let b = fills[i].booking();
        let Some(&(_, true, trade_id, trade_qty, exit_price)) = claims.get(&b.order.id) else {
            booked[i] = Some(Booked::NotWorking);
            continue;
        };
        let open = trade_id.map(|id| (id, trade_qty.unwrap_or(0), exit_price));
        booked[i] = Some(Booked::Filled {
            fill_id: fill_ids[k],
            trade_id: tail.add(&b, open),
        });
    }
    tail.execute(&mut *tx).await?;
    Ok(booked)
}

/// One column of a batch's rows, to bind as an array.
fn column<'a, R, T>(rows: &[&'a R], f: impl Fn(&'a R) -> T) -> Vec<T> {
    rows.iter().map(|r| f(r)).collect()
}
