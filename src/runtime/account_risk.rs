//! Account risk at run time (issue 17 part 6): reads an account's limits, figures and latch
//! for the `account_risk` gate (`domain::account_risk`), stores a new latch when the reading
//! breaches the account's daily loss limit (a SEV-1 `ACCOUNT_DAILY_LOSS_LATCHED` event), and
//! serves the API: the overview of every account, limit changes and the human re-arm.
//!
//! A LIVE evaluation's account is the one its orders go to: the ready broker session's
//! (`Brokers::for_live`). The reading is one statement over the account's bots plus the
//! order-rate count, taken in the evaluation (LIVE bots only; no cache to go stale).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::brokers::Brokers;
use crate::domain::account_risk::{
    self, AccountLatch, AccountReading, AccountRiskLimits, AccountRiskView, BotFigures, DayFills,
    FieldProblem, Mark,
};
use crate::domain::calendar::{HolidayCalendar, trade_date, trade_date_start};
use crate::domain::instruments::Symbol;
use crate::domain::risk::{Blocker, ProposedOrder};
use crate::store::{
    account_risk as store,
    bot_leases::Fence,
    orders::{self, BrokerRoute, NewOrder, Placed},
    system_events::{NewSystemEvent, Severity},
    traces::NewDecisionTrace,
};

/// The account's figures now (`None`: a position has no price to be valued at; with
/// `marks_current`, the session is open and its mark must be current).
pub async fn read(
    pool: &PgPool,
    broker: &str,
    account: &str,
    default_route: bool,
    now: DateTime<Utc>,
    marks_current: bool,
) -> Result<Option<AccountReading>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let (bots, rate) = figures(&mut conn, broker, account, default_route, now).await?;
    Ok(account_risk::reading(&bots, rate, now, marks_current))
}

/// Whether marks must be current at `now`: while the session is open (when no calendar is at
/// hand, always: a stale mark is never taken for a current one).
pub fn marks_current(calendar: Option<&HolidayCalendar>, now: DateTime<Utc>) -> bool {
    calendar.is_none_or(|c| c.is_open(now).is_open())
}

/// The bots' figures and the order count of the trailing minute, on one connection.
async fn figures(
    conn: &mut PgConnection,
    broker: &str,
    account: &str,
    default_route: bool,
    now: DateTime<Utc>,
) -> Result<(Vec<BotFigures>, u32), sqlx::Error> {
    let day_start = trade_date_start(trade_date(now));
    let rows = store::account_bots(&mut *conn, broker, account, default_route, day_start).await?;
    let rate =
        store::orders_since(&mut *conn, broker, account, now - Duration::seconds(60)).await?;
    // Each bot's position is valued in the contract it holds (its newest filled order's).
    let held = |r: &store::AccountBotRow| {
        account_risk::contract_key(r.symbol, r.position_at.unwrap_or(now))
    };
    let mut wanted: Vec<(Symbol, String)> = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.quantity != 0 || r.day_net_quantity != 0)
    {
        let key = (r.symbol, held(r));
        if !wanted.contains(&key) {
            wanted.push(key);
        }
    }
    let prices = store::contract_prices(&mut *conn, &wanted, day_start).await?;
    let bots: Vec<BotFigures> = rows
        .into_iter()
        .map(|r| {
            let contract = held(&r);
            let p = prices
                .iter()
                .find(|p| p.symbol == r.symbol && p.contract == contract);
            BotFigures {
                bot_id: r.bot_id,
                symbol: r.symbol,
                quantity: r.quantity,
                day: DayFills {
                    net_quantity: r.day_net_quantity,
                    signed_notional: r.day_signed_notional,
                    commission: r.day_commission,
                },
                mark: p.and_then(|p| match (p.mark_close, p.mark_ts, p.mark_timeframe) {
                    (Some(close), Some(ts), Some(tf)) => Some(Mark {
                        close,
                        ended_at: ts + tf.duration(),
                        bar_seconds: tf.duration().num_seconds(),
                    }),
                    _ => None,
                }),
                day_start_close: p.and_then(|p| p.day_start_close),
                working_signed: r.working_signed,
                position_at: r.position_at,
                working_at: r.working_at,
            }
        })
        .collect();
    Ok((bots, u32::try_from(rate).unwrap_or(u32::MAX)))
}

/// What [`place_live`] did.
#[derive(Debug)]
pub enum LivePlaced {
    /// Written ahead (`SENDING`), or found already placed: as `orders::place` (boxed: it is
    /// far larger than a refusal).
    Placed(Box<Placed>),
    /// The account's check, taken again under the account's lock, refused it: nothing was
    /// written (another bot's order of the account got there first).
    Refused(Vec<Blocker>),
}

/// A LIVE order's account check and its write-ahead, serialised per account across nodes. An
/// account without limits or an open latch has nothing to check: the order is written ahead
/// in one statement (`orders::place_unruled`). Otherwise, in
/// one transaction the account's advisory lock is taken, its limits, latch and figures are
/// read again (every `SENDING` row of the account committed before is counted), the
/// `account_risk` gate is checked against them, and only then is the order written `SENDING`
/// with its decision trace. Two bots evaluating the same bar can no longer both pass a limit
/// that admits one: the second waits for the first's row and reads it.
pub async fn place_live(
    pool: &PgPool,
    fence: &Fence,
    order: NewOrder,
    trace: NewDecisionTrace,
    route: BrokerRoute<'_>,
    now: DateTime<Utc>,
) -> Result<LivePlaced, sqlx::Error> {
    let (order, trace) = match orders::place_unruled(pool, fence, order, trace, route, now).await? {
        Ok(placed) => return Ok(LivePlaced::Placed(Box::new(placed))),
        Err(back) => back,
    };
    let mut tx = pool.begin().await?;
    if store::lock_account(&mut tx, route.broker, route.account).await? {
        let limits = store::limits(&mut *tx, route.broker, route.account).await?;
        let latch = store::open_latch(&mut *tx, route.broker, route.account).await?;
        let (bots, rate) = match &limits {
            Some(_) => figures(&mut tx, route.broker, route.account, true, now).await?,
            None => (Vec::new(), 0),
        };
        // The bot's own position, counting its unfinished orders (as the engine projects it).
        let position = bots
            .iter()
            .filter(|b| b.bot_id == order.bot_id)
            .map(|b| b.quantity + b.working_signed)
            .sum();
        let view = AccountRiskView {
            broker: route.broker.to_owned(),
            account: route.account.to_owned(),
            limits: limits.as_ref().map(store::LimitsRow::limits),
            reading: limits
                .as_ref()
                // An order is only placed in an open session: its marks must be current at
                // the bar it was decided on (as the gate's were).
                .and_then(|_| {
                    let at = order.decision_bar_at.unwrap_or(now);
                    account_risk::reading(&bots, rate, at, true)
                }),
            latch: latch.as_ref().map(store::LatchRow::latch),
        };
        let proposed = ProposedOrder {
            side: order.side,
            quantity: u32::try_from(order.quantity).unwrap_or(0),
            price: order.reference_price.unwrap_or_default(),
        };
        let blockers = account_risk::check(
            &view,
            &account_risk::contract_key(order.symbol, order.decision_bar_at.unwrap_or(now)),
            position,
            Some(&proposed),
        );
        if !blockers.is_empty() {
            tx.rollback().await?;
            return Ok(LivePlaced::Refused(blockers));
        }
    }
    let placed = orders::place_in(&mut tx, fence, order, trace, Some(route), now).await?;
    if let Placed::New { .. } = placed {
        tx.commit().await?;
    }
    Ok(LivePlaced::Placed(Box::new(placed)))
}

/// Where LIVE orders go now: (broker, account) of the ready session.
pub fn live_route(brokers: &Brokers) -> Option<(String, String)> {
    let session = brokers.for_live()?;
    let account = session.account()?;
    Some((session.vendor().id().to_string(), account.id))
}

/// The gate's view for one LIVE evaluation (`None`: no ready session, so no order can be
/// sent anyway). Stores a latch the reading breaches. A failed read is a view without a
/// reading (the gate closes for raises).
pub async fn gate_view(
    pool: &PgPool,
    brokers: &Brokers,
    calendar: &HolidayCalendar,
    now: DateTime<Utc>,
) -> Option<(AccountRiskView, Option<NewSystemEvent>)> {
    let (broker, account) = live_route(brokers)?;
    let mut view = AccountRiskView {
        broker: broker.clone(),
        account: account.clone(),
        limits: None,
        reading: None,
        latch: None,
    };
    let read_all = async {
        let limits = store::limits(pool, &broker, &account).await?;
        let latch = store::open_latch(pool, &broker, &account).await?;
        // Without limits only a stored latch applies: the figures are not needed.
        let reading = match &limits {
            Some(_) => {
                let current = marks_current(Some(calendar), now);
                read(pool, &broker, &account, true, now, current).await?
            }
            None => None,
        };
        Ok::<_, sqlx::Error>((limits, latch, reading))
    };
    let (limits, latch, reading) = match read_all.await {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(%broker, %account, error = %e, "account risk not read");
            return Some((view, None));
        }
    };
    view.limits = limits.map(|l| l.limits());
    view.latch = latch.map(|l| l.latch());
    view.reading = reading;
    let mut event = None;
    if let (Some(limits), Some(reading)) = (&view.limits, &view.reading)
        && let Some(new) = account_risk::breach(limits, reading, view.latch.as_ref(), now)
    {
        match store::latch(pool, &broker, &account, &new, &reading.bots).await {
            Ok(Some(row)) => {
                event = Some(latch_event(&broker, &account, &new, &reading.bots, row.id));
                view.latch = Some(row.latch());
            }
            // Another evaluation latched it first: read its latch.
            Ok(None) => {
                view.latch = store::open_latch(pool, &broker, &account)
                    .await
                    .ok()
                    .flatten()
                    .map(|l| l.latch())
                    .or(Some(new));
            }
            Err(e) => {
                tracing::error!(%broker, %account, error = %e, "account latch not stored");
                // Still refuse this evaluation's raises.
                view.latch = Some(new);
            }
        }
    }
    Some((view, event))
}

fn latch_event(
    broker: &str,
    account: &str,
    latch: &AccountLatch,
    bots: &[Uuid],
    latch_id: Uuid,
) -> NewSystemEvent {
    NewSystemEvent::new(
        Severity::Sev1,
        crate::error_code::ErrorCode::AccountDailyLossLatched.as_str(),
        format!("account {broker}/{account}: {}", latch.reason),
    )
    .metadata(json!({
        "broker": broker, "account": account, "latch_id": latch_id, "bot_ids": bots,
        "daily_pnl": latch.daily_pnl, "daily_loss_limit": latch.daily_loss_limit,
    }))
}

/// One account as `GET /api/account-risk` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountRiskStatus {
    pub broker: String,
    pub account: String,
    /// LIVE orders go to this account now (the ready broker session's).
    pub is_live_route: bool,
    /// Null: no account limits configured (only the bots' own limits apply).
    pub limits: Option<AccountRiskLimits>,
    pub updated_by: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Null when the figures could not be read (an open position without a mark).
    pub reading: Option<AccountReading>,
    /// Null when not latched.
    pub latch: Option<AccountLatch>,
}

/// Every account that has limits, a latch, or is the live route now.
pub async fn overview(
    pool: &PgPool,
    brokers: Option<&Brokers>,
    calendar: Option<&HolidayCalendar>,
    now: DateTime<Utc>,
) -> Result<Vec<AccountRiskStatus>, sqlx::Error> {
    let route = brokers.and_then(live_route);
    let limits = store::all_limits(pool).await?;
    let latches = store::open_latches(pool).await?;
    let mut keys: Vec<(String, String)> = limits
        .iter()
        .map(|l| (l.broker.clone(), l.account.clone()))
        .chain(
            latches
                .iter()
                .map(|l| (l.broker.clone(), l.account.clone())),
        )
        .chain(route.clone())
        .collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::with_capacity(keys.len());
    for (broker, account) in keys {
        let is_live_route = route.as_ref() == Some(&(broker.clone(), account.clone()));
        let l = limits
            .iter()
            .find(|l| l.broker == broker && l.account == account);
        let current = marks_current(calendar, now);
        let reading = read(pool, &broker, &account, is_live_route, now, current).await?;
        out.push(AccountRiskStatus {
            is_live_route,
            limits: l.map(store::LimitsRow::limits),
            updated_by: l.map(|l| l.updated_by.clone()),
            updated_at: l.map(|l| l.updated_at),
            reading,
            latch: latches
                .iter()
                .find(|x| x.broker == broker && x.account == account)
                .map(store::LatchRow::latch),
            broker,
            account,
        });
    }
    Ok(out)
}

#[derive(Debug)]
pub enum PutError {
    Invalid(Vec<FieldProblem>),
    Db(sqlx::Error),
}

/// Validates and stores an account's limits.
pub async fn put_limits(
    pool: &PgPool,
    broker: &str,
    account: &str,
    limits: &AccountRiskLimits,
    by: &str,
    now: DateTime<Utc>,
) -> Result<store::LimitsRow, PutError> {
    let problems = limits.validate();
    if !problems.is_empty() {
        return Err(PutError::Invalid(problems));
    }
    store::put_limits(pool, broker, account, limits, by, now)
        .await
        .map_err(PutError::Db)
}
