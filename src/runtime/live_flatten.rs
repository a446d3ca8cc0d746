//! Closing a LIVE position at the broker (issue 17 part 5): the one path "kill and flatten"
//! and the desk's close position take for a LIVE bot (`safety::remove_risk`).
//!
//! The broker nets every bot of one account on one contract into one position, so a flatten
//! acts on the account's contract, not on one bot's share of it:
//!
//! 1. every working broker order on the contract is cancelled there (the acting bot's were
//!    cancelled before by `safety`; other bots' runners close theirs in the ledger when they
//!    next read the broker, reconciliation names any left);
//! 2. the broker's net on the contract is read; what our ledgers do not explain (an order
//!    placed behind our back) is first booked to the acting bot as an adjustment priced at the
//!    broker's average (`tpadopt-…`, as reconciliation's adopt books it);
//! 3. each bot holding the contract on the account (the acting bot under the kill's fence, the
//!    others under their own lease: a runner of theirs here is stopped around it, a bot another
//!    node holds is named in `not_done`) gets one MARKET order for the opposite of its ledger
//!    position: written ahead as `SENDING` (fenced, key `tpflat-…` from the bot's ledger state,
//!    sent as the client id), sent, acknowledged, and its broker fills booked through the
//!    ledger (`fills::book_broker_fill`: one row per broker fill id, the vendor's commission
//!    or the configured rate). The fills are awaited up to 5 s (a read still waiting on the
//!    vendor's pacing at the deadline is dropped); an unclear send stays `SENDING`
//!    and is never sent again (the same key finds it: the broker's orders resolve it).
//!
//! Then the account is flat on the contract at the broker and in every bot's ledger.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::RuntimeHandle;
use super::brokers::BrokerSession;
use super::ledger_booking::{self as ledger, Adjustment};
use super::reconciliation_actions as actions;
use super::safety::flatten_key;
use crate::domain::{
    contracts::Contract,
    execution::{OrderStatus, OrderType},
    risk::Stage,
    side::Side,
};
use crate::integrations::brokers::{OrderRequest, SendError, TimeInForce};
use crate::store::{
    bot_leases::Fence,
    bots::{self, Bot},
    orders::{self, BrokerRoute, NewOrder},
    reconciliation as recon,
};

/// How long a flatten waits for its market orders' fills.
const FILL_WAIT: Duration = Duration::from_secs(5);

/// How often a flatten looks for its fills: the synced user stream answers from memory; the
/// REST poll spends the vendor's request budget (Tradovate: 80 a minute, shared with every
/// LIVE bot of the account), so it looks twice a second, not ten times.
fn fill_poll_every(stream_synced: bool) -> Duration {
    if stream_synced {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(500)
    }
}

/// One closing market order of one bot.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveClose {
    pub bot_id: Uuid,
    pub order_id: Uuid,
    /// Null while the send's answer is unknown (the order stays `SENDING`).
    pub broker_order_id: Option<String>,
    pub side: Side,
    pub quantity: u32,
    /// Contracts filled at the broker and booked.
    pub filled: u32,
    /// Average fill price; null when nothing filled within the wait.
    #[schema(value_type = Option<String>)]
    pub price: Option<Decimal>,
    /// Why it did not close (refused, unclear answer, no fill within the wait).
    pub problem: Option<String>,
}

/// What a LIVE flatten did at the broker and in the ledgers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveFlatten {
    pub broker: String,
    pub account: String,
    /// The contract as the vendor spells it.
    pub contract: String,
    /// Working broker orders on the contract cancelled there.
    pub cancelled_at_broker: Vec<String>,
    /// The broker's net on the contract before the closes.
    pub broker_net_before: i64,
    /// What the ledgers did not explain, booked to the acting bot before closing.
    pub adopted: Option<Adjustment>,
    pub closes: Vec<LiveClose>,
    /// Bots holding the contract whose position could not be closed here, and why.
    pub not_done: Vec<String>,
}

/// Why a LIVE flatten could not start.
#[derive(Debug, thiserror::Error)]
pub enum FlattenError {
    #[error("no logged-in broker session for the bot's account")]
    NoSession,
    #[error("the broker could not be read: {0}")]
    Broker(String),
    #[error("{0}")]
    NotDone(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Where a LIVE bot's orders go: the session (its newest LIVE order's broker, else the one
/// LIVE orders go to now) and the contract (that order's, else the front one now).
pub struct Route {
    pub session: std::sync::Arc<BrokerSession>,
    pub contract: Contract,
    /// A time [`Contract::front_at`] resolves to `contract` (stored on the closing orders).
    pub contract_at: DateTime<Utc>,
}

/// The bot's [`Route`]; `None` without a logged-in session.
pub async fn route_of(
    rt: &RuntimeHandle,
    pool: &PgPool,
    bot: &Bot,
    now: DateTime<Utc>,
) -> Result<Option<Route>, sqlx::Error> {
    let Some(reconciler) = rt.reconciler() else {
        return Ok(None);
    };
    let routed = recon::live_bots(pool)
        .await?
        .into_iter()
        .find(|b| b.id == bot.id);
    let session = reconciler
        .session_of(routed.as_ref().and_then(|b| b.broker.as_deref()))
        .filter(|s| s.is_ready());
    let contract_at = routed.as_ref().and_then(|b| b.last_order_at).unwrap_or(now);
    Ok(session.map(|session| Route {
        session,
        contract: Contract::front_at(bot.symbol, contract_at),
        contract_at,
    }))
}

/// Flattens the account's `contract` (module docs). `fence` is the acting bot's.
pub async fn flatten(
    rt: &RuntimeHandle,
    pool: &PgPool,
    bot: &Bot,
    fence: &Fence,
    at: &Route,
) -> Result<LiveFlatten, FlattenError> {
    let session = at.session.as_ref();
    let contract = &at.contract;
    let vendor = session.vendor();
    let account = session.account().ok_or(FlattenError::NoSession)?.id;
    let spelled = contract.spelled_for(vendor.spelling());
    let broker_err = |f: crate::integrations::outcome::Failure| {
        FlattenError::Broker(format!("{}: {}", f.code, f.message))
    };
    let mut out = LiveFlatten {
        broker: vendor.id().to_owned(),
        account: account.clone(),
        contract: spelled.clone(),
        cancelled_at_broker: Vec::new(),
        broker_net_before: 0,
        adopted: None,
        closes: Vec::new(),
        not_done: Vec::new(),
    };
    // 1. No working order on the contract at the broker.
    let working: Vec<String> = session
        .orders()
        .await
        .map_err(broker_err)?
        .into_iter()
        .filter(|o| !o.status.is_final() && o.symbol.as_deref() == Some(spelled.as_str()))
        .map(|o| o.broker_order_id)
        .collect();
    if !working.is_empty() {
        let done = session.cancel_many(&working).await.map_err(broker_err)?;
        // One the broker did not cancel: filled meanwhile (its fill is in the net read
        // next) or still working (a refused cancel: named, the flatten cannot promise flat).
        if !done.not_cancelled.is_empty() {
            let still: Vec<String> = session
                .orders()
                .await
                .map_err(broker_err)?
                .into_iter()
                .filter(|o| !o.status.is_final() && done.not_cancelled.contains(&o.broker_order_id))
                .map(|o| o.broker_order_id)
                .collect();
            if !still.is_empty() {
                out.not_done.push(format!(
                    "the broker refused to cancel {} on {spelled}: still working there",
                    still.join(", ")
                ));
            }
        }
        out.cancelled_at_broker = done.cancelled;
    }
    // 2. The broker's net against our ledgers.
    let positions = session.positions().await.map_err(broker_err)?;
    let theirs = positions.iter().find(|p| p.symbol == spelled);
    out.broker_net_before = theirs.map_or(0, |p| p.net);
    let now = rt.clock().now();
    let holders = holders(pool, bot, vendor.id(), &account, contract, now).await?;
    let own = ledger::held(pool, bot).await?.position;
    let ours: i64 = own.quantity + holders.iter().map(|(_, q)| q).sum::<i64>();
    let drift = out.broker_net_before - ours;
    if drift != 0 {
        let price = match theirs.and_then(|p| p.avg_price) {
            Some(p) => (p, "broker_average"),
            None => ledger::last_close(pool, bot, *contract, now).await?.ok_or_else(|| {
                FlattenError::NotDone(format!(
                    "the broker holds {} {spelled} our ledgers do not explain, and neither its average price nor a stored {} bar can price it",
                    out.broker_net_before,
                    contract.code()
                ))
            })?,
        };
        out.adopted =
            ledger::book_adjustment(pool, fence, bot, drift, price, "tpadopt", now).await?;
    }
    let route = BrokerRoute {
        broker: vendor.id(),
        account: &account,
    };
    // 3. Each holder's close: the acting bot under its fence, the others under their lease.
    if let Some(close) = close_bot(rt, pool, at, route, bot, fence).await? {
        out.closes.push(close);
    }
    for (other_id, _) in holders {
        let Some(other) = bots::get(pool, other_id).await? else {
            continue;
        };
        let _acting = rt.ownership().map(|node| node.acting_on(other.id));
        let (other_fence, restart) = match actions::take(rt, &other).await {
            Ok(x) => x,
            Err(e) => {
                out.not_done
                    .push(format!("bot {} ({}): {e}", other.name, other.id));
                continue;
            }
        };
        let closed = close_bot(rt, pool, at, route, &other, &other_fence).await;
        match restart {
            Some(options) => actions::restart_runner(rt, other.id, options).await,
            None => {
                if let Some(node) = rt.ownership() {
                    node.release(other.id).await;
                }
            }
        }
        if let Some(close) = closed? {
            out.closes.push(close);
        }
    }
    Ok(out)
}

/// The other bots holding `contract` on the account in their ledgers, with their nets.
async fn holders(
    pool: &PgPool,
    bot: &Bot,
    broker: &str,
    account: &str,
    contract: &Contract,
    now: DateTime<Utc>,
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    Ok(recon::live_bots(pool)
        .await?
        .into_iter()
        .filter(|b| b.id != bot.id && b.symbol == bot.symbol)
        .filter(|b| b.position_stage == Some(Stage::Live))
        .filter(|b| b.quantity.unwrap_or(0) != 0)
        .filter(|b| {
            b.broker.as_deref().is_none_or(|v| v == broker)
                && b.broker_account.as_deref().is_none_or(|a| a == account)
        })
        .filter(|b| Contract::front_at(b.symbol, b.last_order_at.unwrap_or(now)) == *contract)
        .map(|b| (b.id, i64::from(b.quantity.unwrap_or(0))))
        .collect())
}

/// Closes one bot's ledger position with a market order at the broker (module docs, step 3).
async fn close_bot(
    rt: &RuntimeHandle,
    pool: &PgPool,
    at: &Route,
    route: BrokerRoute<'_>,
    bot: &Bot,
    fence: &Fence,
) -> Result<Option<LiveClose>, sqlx::Error> {
    let session = at.session.as_ref();
    let ledger::Held {
        position: before,
        fills: n,
        ..
    } = ledger::held(pool, bot).await?;
    if before.quantity == 0 {
        return Ok(None);
    }
    let side = if before.quantity > 0 {
        Side::Sell
    } else {
        Side::Buy
    };
    let quantity = u32::try_from(before.quantity.unsigned_abs()).unwrap_or(u32::MAX);
    let now = rt.clock().now();
    let key = flatten_key(bot.id, n, before.quantity);
    let new = NewOrder {
        decision_bar_at: Some(at.contract_at),
        ..NewOrder::market(
            bot.id,
            bot.symbol,
            key,
            side,
            quantity,
            Stage::Live,
            OrderStatus::Sending,
        )
    };
    let (order, new) = orders::write_ahead(pool, fence, new, route, now).await?;
    let mut close = LiveClose {
        bot_id: bot.id,
        order_id: order.id,
        broker_order_id: order.broker_order_id.clone(),
        side,
        quantity,
        filled: 0,
        price: None,
        problem: None,
    };
    let order = match (new, order.status) {
        (true, _) => {
            let request = OrderRequest {
                client_id: order.idempotency_key.clone(),
                contract: at.contract,
                side,
                quantity,
                order_type: OrderType::Market,
                limit_price: None,
                stop_price: None,
                time_in_force: TimeInForce::Day,
            };
            match session.place(&request).await {
                Ok((_, id)) => {
                    close.broker_order_id = Some(id.clone());
                    match orders::acknowledge(pool, fence, order.id, &id, now).await? {
                        Some(acked) => acked,
                        None => return Ok(Some(close)),
                    }
                }
                Err(SendError::Rejected { reason }) => {
                    let why = format!("the broker refused the closing order: {reason}");
                    orders::reject_sending(pool, fence, order.id, &why, now).await?;
                    close.problem = Some(why);
                    return Ok(Some(close));
                }
                Err(SendError::NotSent(f)) => {
                    let why = format!("the closing order was not sent: {}: {}", f.code, f.message);
                    orders::reject_sending(pool, fence, order.id, &why, now).await?;
                    close.problem = Some(why);
                    return Ok(Some(close));
                }
                Err(SendError::Unknown(f)) => {
                    close.problem = Some(format!(
                        "the closing order's answer is unknown ({}): it stays SENDING until the broker's orders resolve it",
                        f.code
                    ));
                    return Ok(Some(close));
                }
            }
        }
        // A retry found the order: never sent again; its fills are booked below.
        (false, OrderStatus::Sending) => {
            close.problem = Some(
                "a closing order with this key is still unresolved (SENDING): the broker's orders resolve it".into(),
            );
            return Ok(Some(close));
        }
        (false, _) => order,
    };
    let Some(broker_id) = order.broker_order_id.clone() else {
        return Ok(Some(close));
    };
    let commission_rate = rt.sim_params().commission_per_contract;
    let deadline = tokio::time::Instant::now() + FILL_WAIT;
    let notional = loop {
        // A read waiting on the pacing past the deadline is dropped (a read changes nothing):
        // the close answers within its wait, whatever the budget left.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let at_broker = tokio::time::timeout(left, session.fills())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let (mut filled, mut notional) = (0u32, Decimal::ZERO);
        for f in at_broker.iter().filter(|f| f.broker_order_id == broker_id) {
            ledger::book_broker_fill_of(pool, fence, bot, &order, f, commission_rate).await?;
            filled += f.quantity;
            notional += f.price * Decimal::from(f.quantity);
        }
        close.filled = filled;
        if filled >= quantity || tokio::time::Instant::now() >= deadline {
            break notional;
        }
        tokio::time::sleep(fill_poll_every(session.stream_synced())).await;
    };
    if close.filled > 0 {
        close.price = Some(
            (notional / Decimal::from(close.filled))
                .round_dp(6)
                .normalize(),
        );
    }
    if close.filled < quantity {
        close.problem = Some(format!(
            "{} of {quantity} filled within {} s",
            close.filled,
            FILL_WAIT.as_secs()
        ));
    }
    Ok(Some(close))
}
