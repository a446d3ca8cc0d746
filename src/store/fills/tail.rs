//! What a booked fill does to the trades, the position and its decision trace's link: the
//! rules ([`trade_write`]), and the writes of one fill or of a batch of fills of different
//! bots as a fixed pair of statements over arrays ([`Tail`]), the same text whatever the
//! count, so Postgres plans each once per connection.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::FillBooking;
use crate::domain::{instruments::Symbol, risk::Stage, side::TradeSide};

/// What a fill does to the bot's trades.
enum TradeWrite {
    /// A new trade of `signed` contracts.
    Open {
        id: Uuid,
        signed: i64,
        commission: Decimal,
    },
    /// The open trade grows (same direction).
    Grow { id: Uuid },
    /// The open trade is reduced or closed; `then_open` on a flip.
    Reduce {
        id: Uuid,
        exit: Decimal,
        commission: Decimal,
        closes: bool,
        then_open: Option<NewTrade>,
    },
}

/// A flip's new trade: id, signed contracts, commission.
type NewTrade = (Uuid, i64, Decimal);

/// The trade decision of a fill given the bot's open trade `open` (id, contracts, exit price
/// so far), without its writes: what to write, and the trade to link.
fn trade_write(
    b: &FillBooking<'_>,
    open: Option<(Uuid, i32, Option<Decimal>)>,
) -> (TradeWrite, Uuid) {
    let held = b.before.quantity;
    let signed = b.side.sign() * i64::from(b.quantity);
    let Some((trade_id, trade_qty, exit_price)) = open.filter(|_| held != 0) else {
        let id = Uuid::now_v7();
        return (
            TradeWrite::Open {
                id,
                signed,
                commission: b.commission,
            },
            id,
        );
    };
    if held.signum() == signed.signum() {
        return (TradeWrite::Grow { id: trade_id }, trade_id);
    }
    let closing = held.abs().min(signed.abs());
    let closed_before = (i64::from(trade_qty) - held.abs()).max(0);
    let exit = (exit_price.unwrap_or_default() * Decimal::from(closed_before)
        + b.price * Decimal::from(closing))
        / Decimal::from(closed_before + closing);
    let close_commission = b.commission * Decimal::from(closing) / Decimal::from(signed.abs());
    let closes = b.after.quantity == 0 || b.after.quantity.signum() != held.signum();
    let then_open =
        (b.after.quantity != 0 && b.after.quantity.signum() != held.signum()).then(|| {
            (
                Uuid::now_v7(),
                b.after.quantity,
                b.commission - close_commission,
            )
        });
    let linked = then_open.map_or(trade_id, |(id, _, _)| id);
    (
        TradeWrite::Reduce {
            id: trade_id,
            exit,
            commission: close_commission,
            closes,
            then_open,
        },
        linked,
    )
}

fn contracts(n: i64) -> i32 {
    i32::try_from(n.abs()).unwrap_or(i32::MAX)
}

/// New trades, column by column.
#[derive(Default)]
struct Opens {
    id: Vec<Uuid>,
    bot: Vec<Uuid>,
    run: Vec<Option<Uuid>>,
    symbol: Vec<Symbol>,
    side: Vec<TradeSide>,
    quantity: Vec<i32>,
    entry: Vec<Decimal>,
    at: Vec<DateTime<Utc>>,
    commission: Vec<Decimal>,
    stage: Vec<Stage>,
}

impl Opens {
    fn push(&mut self, b: &FillBooking<'_>, id: Uuid, signed: i64, commission: Decimal) {
        self.id.push(id);
        self.bot.push(b.order.bot_id);
        self.run.push(b.order.run_id);
        self.symbol.push(b.order.symbol);
        self.side.push(TradeSide::of(signed));
        self.quantity.push(contracts(signed));
        self.entry.push(b.price);
        self.at.push(b.filled_at);
        self.commission.push(commission);
        self.stage.push(b.order.stage);
    }
}

/// Decision traces linked to their trades.
#[derive(Default)]
struct Links {
    trace: Vec<Uuid>,
    trade: Vec<Uuid>,
}

/// The writes that follow the claim of one fill or of many (each of another bot): per fill
/// the trade opened, grown, reduced or closed, the position, and the decision trace's link, in
/// one statement; the new trades of flips and the links to them in a second, after it (in
/// one statement the closing update and the insert would both hold an open trade:
/// `trades_one_open`).
#[derive(Default)]
pub(in crate::store) struct Tail {
    opens: Opens,
    grows: (Vec<Uuid>, Vec<i32>, Vec<Decimal>, Vec<Decimal>),
    reduces: Reduces,
    positions: Positions,
    links: Links,
    flips: Opens,
    flip_links: Links,
}

#[derive(Default)]
struct Reduces {
    id: Vec<Uuid>,
    exit: Vec<Decimal>,
    realized: Vec<Decimal>,
    commission: Vec<Decimal>,
    closes: Vec<bool>,
    at: Vec<DateTime<Utc>>,
}

#[derive(Default)]
struct Positions {
    bot: Vec<Uuid>,
    symbol: Vec<Symbol>,
    quantity: Vec<i32>,
    average: Vec<Option<Decimal>>,
    realized: Vec<Decimal>,
    at: Vec<DateTime<Utc>>,
    stage: Vec<Stage>,
}

const MAIN_SQL: &str = "WITH o AS (INSERT INTO trades (id, bot_id, run_id, symbol, side, quantity, \
         entry_price, opened_at, commission, stage) \
       SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], \
         $6::int4[], $7::numeric[], $8::timestamptz[], $9::numeric[], $10::text[])), \
     g AS (UPDATE trades t SET quantity = GREATEST(t.quantity, u.quantity), entry_price = u.entry, \
         commission = t.commission + u.commission \
       FROM UNNEST($11::uuid[], $12::int4[], $13::numeric[], $14::numeric[]) \
         AS u(id, quantity, entry, commission) WHERE t.id = u.id), \
     r AS (UPDATE trades t SET exit_price = u.exit, \
         realized_pnl = COALESCE(t.realized_pnl, 0) + u.realized, \
         commission = t.commission + u.commission, \
         closed_at = CASE WHEN u.closes THEN u.at ELSE t.closed_at END \
       FROM UNNEST($15::uuid[], $16::numeric[], $17::numeric[], $18::numeric[], $19::bool[], \
         $20::timestamptz[]) AS u(id, exit, realized, commission, closes, at) WHERE t.id = u.id), \
     p AS (INSERT INTO positions (bot_id, symbol, quantity, average_price, realized_pnl, \
         updated_at, stage) \
       SELECT * FROM UNNEST($21::uuid[], $22::text[], $23::int4[], $24::numeric[], \
         $25::numeric[], $26::timestamptz[], $27::text[]) \
       ON CONFLICT (bot_id, symbol) DO UPDATE SET quantity = EXCLUDED.quantity, \
         average_price = EXCLUDED.average_price, realized_pnl = EXCLUDED.realized_pnl, \
         updated_at = EXCLUDED.updated_at, stage = EXCLUDED.stage), \
     l AS (UPDATE decision_traces d SET trade_log_id = u.trade \
       FROM UNNEST($28::uuid[], $29::uuid[]) AS u(id, trade) WHERE d.id = u.id) \
     SELECT 1";

const FLIPS_SQL: &str = "WITH o AS (INSERT INTO trades (id, bot_id, run_id, symbol, side, \
         quantity, entry_price, opened_at, commission, stage) \
       SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], \
         $6::int4[], $7::numeric[], $8::timestamptz[], $9::numeric[], $10::text[])), \
     l AS (UPDATE decision_traces d SET trade_log_id = u.trade \
       FROM UNNEST($11::uuid[], $12::uuid[]) AS u(id, trade) WHERE d.id = u.id) \
     SELECT 1";

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind_opens(q: Query<'_>, o: Opens) -> Query<'_> {
    q.bind(o.id)
        .bind(o.bot)
        .bind(o.run)
        .bind(o.symbol)
        .bind(o.side)
        .bind(o.quantity)
        .bind(o.entry)
        .bind(o.at)
        .bind(o.commission)
        .bind(o.stage)
}

impl Tail {
    /// Adds the writes of fill `b` given the bot's open trade `open` (locked by the caller);
    /// returns the trade its decision is linked to (the one opened, grown or closed; on a
    /// flip, the new one). At most one fill per bot in a tail.
    pub(in crate::store) fn add(
        &mut self,
        b: &FillBooking<'_>,
        open: Option<(Uuid, i32, Option<Decimal>)>,
    ) -> Uuid {
        let (write, linked) = trade_write(b, open);
        let mut flipped = false;
        match write {
            TradeWrite::Open {
                id,
                signed,
                commission,
            } => self.opens.push(b, id, signed, commission),
            TradeWrite::Grow { id } => {
                self.grows.0.push(id);
                self.grows.1.push(contracts(b.after.quantity));
                self.grows.2.push(b.after.avg_price);
                self.grows.3.push(b.commission);
            }
            TradeWrite::Reduce {
                id,
                exit,
                commission,
                closes,
                then_open,
            } => {
                let r = &mut self.reduces;
                r.id.push(id);
                r.exit.push(exit);
                r.realized.push(b.realized);
                r.commission.push(commission);
                r.closes.push(closes);
                r.at.push(b.filled_at);
                if let Some((id, signed, commission)) = then_open {
                    self.flips.push(b, id, signed, commission);
                    flipped = true;
                }
            }
        }
        let p = &mut self.positions;
        p.bot.push(b.order.bot_id);
        p.symbol.push(b.after.symbol);
        p.quantity
            .push(i32::try_from(b.after.quantity).unwrap_or(i32::MAX));
        p.average
            .push((b.after.quantity != 0).then_some(b.after.avg_price));
        p.realized.push(b.after.realized_pnl);
        p.at.push(b.filled_at);
        p.stage.push(b.order.stage);
        if let Some(trace) = b.order.decision_trace_id {
            let links = if flipped {
                &mut self.flip_links
            } else {
                &mut self.links
            };
            links.trace.push(trace);
            links.trade.push(linked);
        }
        linked
    }

    /// Runs the writes added (nothing when none were).
    pub(in crate::store) async fn execute(
        self,
        conn: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        if self.positions.bot.is_empty() {
            return Ok(());
        }
        let (g, r, p, l) = (self.grows, self.reduces, self.positions, self.links);
        bind_opens(sqlx::query(MAIN_SQL), self.opens)
            .bind(g.0)
            .bind(g.1)
            .bind(g.2)
            .bind(g.3)
            .bind(r.id)
            .bind(r.exit)
            .bind(r.realized)
            .bind(r.commission)
            .bind(r.closes)
            .bind(r.at)
            .bind(p.bot)
            .bind(p.symbol)
            .bind(p.quantity)
            .bind(p.average)
            .bind(p.realized)
            .bind(p.at)
            .bind(p.stage)
            .bind(l.trace)
            .bind(l.trade)
            .execute(&mut *conn)
            .await?;
        if !self.flips.id.is_empty() {
            bind_opens(sqlx::query(FLIPS_SQL), self.flips)
                .bind(self.flip_links.trace)
                .bind(self.flip_links.trade)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}
