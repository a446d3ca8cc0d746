//! An operator resolving a reconciliation mismatch for one bot (`POST /api/bots/{id}/reconcile`):
//!
//! - **adopt**: the broker is right. Our orders the broker finished or does not know are
//!   closed in the ledger, and the difference between the broker's net on the bot's contract
//!   and ours (all our bots there, plus broker fills of our still-working orders not booked
//!   yet) is booked to this bot as one adjustment fill (key `tpadopt-…`), priced at the
//!   broker's average price (else the newest stored bar's close; neither → not done, never a
//!   made-up price). A working broker order on the contract none of ours claims becomes the
//!   bot's order (`WORKING` under the broker's id, recorded as a resting LIMIT: the vendors'
//!   order lists carry no type; its fills so far booked from the broker's), so the bot's
//!   cancel, kill and flatten reach it.
//! - **flatten**: the bot's open orders are closed in the ledger, then the account's contract
//!   is flattened exactly as a LIVE kill-and-flatten does (`live_flatten`): every working
//!   broker order on it cancelled there, what the ledgers do not explain adopted by this bot,
//!   and one market order (written ahead, `tpflat-…`) per bot holding the contract on the
//!   account, booked from the broker's fills, so every bot's ledger ends flat with the broker.
//!
//! Both run under the bot's lease: a runner of the bot on this node is stopped first (its
//! evaluation finishes) and started again after under the same lease (it restores the
//! adjusted ledger); a bot another node holds is refused: act there.
//! Then the account is reconciled (`OPERATOR`): mismatches now gone are resolved `ADOPTED` /
//! `FLATTENED` by the operator.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use std::sync::Arc;

use super::brokers::BrokerSession;
use super::ledger_booking::{Adjustment, book_adjustment, book_broker_fill_of, last_close};
use super::lifecycle::record_event;
use super::live_flatten::{FlattenError, LiveFlatten};
use super::ownership::AcquireError;
use super::reconciliation::{Resolution, Trigger};
use super::{RunnerOptions, RuntimeHandle};
use crate::domain::{
    contracts::Contract,
    execution::{OrderStatus, OrderType},
    risk::Stage,
    side::Side,
};
use crate::store::{
    bot_leases::Fence,
    bots::{self, Bot},
    orders::{self, NewOrder},
    reconciliation::{self as store, MismatchRow},
    system_events::{NewSystemEvent, Severity},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Adopt,
    Flatten,
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Adopt => "adopt",
            Action::Flatten => "flatten",
        }
    }

    const fn resolution(self) -> &'static str {
        match self {
            Action::Adopt => "ADOPTED",
            Action::Flatten => "FLATTENED",
        }
    }
}

/// The market order a flatten sent to close the broker's position.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BrokerClose {
    pub broker_order_id: String,
    pub side: Side,
    pub quantity: u32,
    /// Average fill price; `null` when no fill came within the wait.
    #[schema(value_type = Option<String>)]
    pub price: Option<Decimal>,
}

/// What a reconcile action did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reconciled {
    pub bot_id: Uuid,
    pub action: Action,
    pub broker: String,
    pub account: String,
    pub contract: String,
    /// Our orders closed in the ledger (adopt: finished or unknown at the broker; flatten:
    /// cancelled there).
    pub orders_closed: Vec<Uuid>,
    /// Broker order ids cancelled at the broker (flatten).
    pub broker_cancelled: Vec<String>,
    /// Working broker orders none of ours claimed, now the bot's orders (adopt).
    pub orders_adopted: Vec<Uuid>,
    pub broker_close: Option<BrokerClose>,
    pub adjustment: Option<Adjustment>,
    /// Flatten: what was closed at the broker and in each bot's ledger holding the contract.
    pub flatten: Option<LiveFlatten>,
    /// The mismatches resolved by the run after the action.
    pub resolved: Vec<MismatchRow>,
    /// The mismatches still open for the bot after it.
    pub still_open: Vec<MismatchRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("bot {0} does not exist")]
    NoBot(Uuid),
    #[error("this process runs no runtime")]
    NoRuntime,
    #[error("no broker session: {0}")]
    NoBroker(String),
    #[error("node {node} holds the bot's lease until {expires_at}: act on that node")]
    OwnedElsewhere {
        node: String,
        expires_at: DateTime<Utc>,
    },
    #[error("the broker could not be read or refused: {0}")]
    Broker(String),
    #[error("not done: {0}")]
    NotDone(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Takes the bot's lease, stopping its runner here first. Returns the fence
/// and how to start the runner again.
pub(crate) async fn take(
    rt: &RuntimeHandle,
    bot: &Bot,
) -> Result<(Fence, Option<RunnerOptions>), ActionError> {
    let node = rt.ownership().ok_or(ActionError::NoRuntime)?;
    let restart = rt
        .runner(bot.id)
        .filter(|r| r.kill_reason.is_none() && r.status.is_live())
        .map(|r| RunnerOptions {
            timeframe: r.timeframe.unwrap_or(bot.timeframe),
            live: r.live,
        });
    if restart.is_some() {
        let _ = rt.stop_runner(bot.id).await;
    }
    // The runner here was stopped (its evaluation finished); a runner elsewhere holds the
    // lease and is refused below: the current epoch fences everything else.
    match node.acquire(bot.id).await {
        Ok(fence) => Ok((fence, restart)),
        Err(AcquireError::Db(e)) => Err(ActionError::Db(e)),
        Err(AcquireError::HeldElsewhere {
            node, expires_at, ..
        }) => Err(ActionError::OwnedElsewhere { node, expires_at }),
    }
}

/// Starts the runner again; the stopped one may still be leaving its slot (`AlreadyRunning`
/// for a moment): retried for up to 5 s.
pub(crate) async fn restart_runner(rt: &RuntimeHandle, bot_id: Uuid, options: RunnerOptions) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match rt.start_runner(bot_id, options).await {
            Ok(()) => return,
            Err(super::RuntimeError::AlreadyRunning(_))
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => {
                tracing::warn!(bot = %bot_id, error = %e,
                    "runner not restarted after a reconcile action");
                return;
            }
        }
    }
}

/// Resolves the bot's mismatches by `action` (module docs).
pub async fn reconcile_bot(
    rt: &RuntimeHandle,
    pool: &PgPool,
    bot_id: Uuid,
    action: Action,
    by: &str,
) -> Result<Reconciled, ActionError> {
    let bot = bots::get(pool, bot_id)
        .await?
        .ok_or(ActionError::NoBot(bot_id))?;
    let reconciler = rt.reconciler().ok_or(ActionError::NoRuntime)?;
    let routed = store::live_bots(pool)
        .await?
        .into_iter()
        .find(|b| b.id == bot_id);
    let session = reconciler
        .session_of(routed.as_ref().and_then(|b| b.broker.as_deref()))
        .filter(|s| s.is_ready())
        .ok_or_else(|| ActionError::NoBroker("no logged-in broker session".into()))?;
    let account = session
        .account()
        .ok_or_else(|| ActionError::NoBroker("no account".into()))?;
    let now = rt.clock().now();
    let contract_at = routed.as_ref().and_then(|b| b.last_order_at).unwrap_or(now);
    let contract = Contract::front_at(bot.symbol, contract_at);
    // The lease rounds leave the bot alone while its runner is stopped for the action.
    let _acting = rt.ownership().map(|node| node.acting_on(bot.id));
    // No other run of this process resolves the bot's mismatches before the action's own.
    let turn = reconciler.turn().await;
    let (fence, restart) = take(rt, &bot).await?;
    let acted = act(
        rt,
        pool,
        &bot,
        &session,
        &account.id,
        (&contract, contract_at),
        &fence,
        action,
    )
    .await;
    // The action's own run, in the held turn (skipped when the action failed).
    let applied = match &acted {
        Ok(_) => reconciler
            .run_in_turn(
                &turn,
                &session,
                Trigger::Operator,
                Resolution {
                    name: action.resolution(),
                    by: Some(by),
                },
            )
            .await
            .map(Some),
        Err(_) => Ok(None),
    };
    // The turn goes before the runner comes back: a restarted LIVE runner reconciles before
    // its first order, in a turn of its own (holding this one meanwhile left it waiting until
    // its supervisor killed it as stuck).
    drop(turn);
    match restart {
        // The runner starts again under the lease (and epoch) the action took.
        Some(options) => restart_runner(rt, bot.id, options).await,
        None => {
            if let Some(node) = rt.ownership() {
                node.release(bot.id).await;
            }
        }
    }
    let mut done = acted?;
    if let Some(applied) = applied.map_err(ActionError::Broker)? {
        done.resolved = applied.resolved;
    }
    done.still_open = store::open_for_bot(pool, bot.id).await?;
    let severity = if done.still_open.is_empty() {
        Severity::Info
    } else {
        Severity::Sev2
    };
    let event = NewSystemEvent::new(
        severity,
        "RECONCILIATION_ACTION",
        format!(
            "bot {} ({}): {} by {by} on {}: {} resolved, {} still open",
            bot.name,
            bot.id,
            action.as_str(),
            done.contract,
            done.resolved.len(),
            done.still_open.len()
        ),
    )
    .bot(bot.id)
    .metadata(json!({ "result": &done, "by": by }));
    record_event(pool, rt.bus(), event, rt.clock().now()).await;
    Ok(done)
}

#[allow(clippy::too_many_arguments)]
async fn act(
    rt: &RuntimeHandle,
    pool: &PgPool,
    bot: &Bot,
    session: &Arc<BrokerSession>,
    account: &str,
    (contract, contract_at): (&Contract, DateTime<Utc>),
    fence: &Fence,
    action: Action,
) -> Result<Reconciled, ActionError> {
    let vendor = session.vendor();
    let spelled = contract.spelled_for(vendor.spelling());
    let broker_err = |f: crate::integrations::outcome::Failure| {
        ActionError::Broker(format!("{}: {}", f.code, f.message))
    };
    let mut out = Reconciled {
        bot_id: bot.id,
        action,
        broker: vendor.id().to_owned(),
        account: account.to_owned(),
        contract: spelled.clone(),
        orders_closed: Vec::new(),
        broker_cancelled: Vec::new(),
        orders_adopted: Vec::new(),
        broker_close: None,
        adjustment: None,
        flatten: None,
        resolved: Vec::new(),
        still_open: Vec::new(),
    };
    let their_orders = session.orders().await.map_err(broker_err)?;
    let their_fills = session.fills().await.map_err(broker_err)?;
    let filled_of = |id: &str| -> i64 {
        their_fills
            .iter()
            .filter(|f| f.broker_order_id == id)
            .map(|f| i64::from(f.quantity))
            .sum()
    };
    let open = store::open_live_orders(pool, vendor.id(), account).await?;
    let now = rt.clock().now();
    match action {
        Action::Adopt => {
            // Close ours the broker finished or does not know; count unbooked broker fills of
            // those still working (their runner books them).
            let mut pending_fills = 0i64;
            for o in open.iter().filter(|o| o.order.bot_id == bot.id) {
                let at_broker = o
                    .order
                    .broker_order_id
                    .as_deref()
                    .and_then(|id| their_orders.iter().find(|t| t.broker_order_id == id));
                match at_broker {
                    Some(t) if !t.status.is_final() => {
                        pending_fills +=
                            o.order.side.sign() * (filled_of(&t.broker_order_id) - o.booked);
                    }
                    _ => {
                        let reason = "reconcile adopt: the broker finished it or has no such order";
                        let closed = if o.order.status == OrderStatus::Sending {
                            orders::reject_sending(pool, fence, o.order.id, reason, now).await?
                        } else {
                            orders::close_at_broker(
                                pool,
                                fence,
                                o.order.id,
                                OrderStatus::Cancelled,
                                reason,
                                now,
                            )
                            .await?
                        };
                        if closed {
                            out.orders_closed.push(o.order.id);
                        }
                    }
                }
            }
            // Working broker orders none of ours claims become the bot's.
            let route = orders::BrokerRoute {
                broker: vendor.id(),
                account,
            };
            // Ever claimed by one of ours (a finished one too), or possibly the lost answer of
            // a send of ours still unresolved (same side and size): not unknown.
            let ever = orders::claimed_broker_ids(pool, vendor.id(), account).await?;
            let unresolved = |t: &&crate::integrations::brokers::BrokerOrder| {
                open.iter().any(|o| {
                    o.order.status == OrderStatus::Sending
                        && o.order.side == t.side
                        && i64::from(o.order.quantity) == i64::from(t.quantity)
                })
            };
            for t in their_orders
                .iter()
                .filter(|t| !t.status.is_final())
                .filter(|t| t.symbol.as_deref() == Some(spelled.as_str()))
                .filter(|t| !ever.contains(&t.broker_order_id))
                .filter(|t| !unresolved(t))
            {
                let new = NewOrder {
                    bot_id: bot.id,
                    run_id: None,
                    decision_trace_id: None,
                    idempotency_key: String::new(),
                    symbol: bot.symbol,
                    side: t.side,
                    quantity: i32::try_from(t.quantity).unwrap_or(i32::MAX),
                    // The broker's terms; a type we do not trade (stop-limit) is kept as a
                    // limit order with every price the broker reported.
                    order_type: t.terms.order_type.unwrap_or(OrderType::Limit),
                    limit_price: t.terms.limit_price,
                    stop_price: t.terms.stop_price,
                    stage: Stage::Live,
                    status: OrderStatus::Working,
                    decision_bar_at: None,
                    reference_price: None,
                };
                let (order, _) =
                    orders::adopt_working(pool, fence, new, route, &t.broker_order_id, now).await?;
                for f in their_fills
                    .iter()
                    .filter(|f| f.broker_order_id == t.broker_order_id)
                {
                    let per_contract = rt.sim_params().commission_per_contract;
                    book_broker_fill_of(pool, fence, bot, &order, f, per_contract).await?;
                }
                out.orders_adopted.push(order.id);
            }
            // Other bots' still-working orders count as they stand.
            for o in open.iter().filter(|o| o.order.bot_id != bot.id) {
                if let Some(t) = o
                    .order
                    .broker_order_id
                    .as_deref()
                    .and_then(|id| their_orders.iter().find(|t| t.broker_order_id == id))
                {
                    pending_fills +=
                        o.order.side.sign() * (filled_of(&t.broker_order_id) - o.booked);
                }
            }
            let positions = session.positions().await.map_err(broker_err)?;
            let theirs = positions.iter().find(|p| p.symbol == spelled);
            let their_net = theirs.map_or(0, |p| p.net);
            let ours_all: i64 = store::live_bots(pool)
                .await?
                .iter()
                .filter(|b| b.symbol == bot.symbol && b.position_stage == Some(Stage::Live))
                .filter(|b| {
                    b.broker.as_deref().is_none_or(|v| v == vendor.id())
                        && b.broker_account.as_deref().is_none_or(|a| a == account)
                })
                .map(|b| i64::from(b.quantity.unwrap_or(0)))
                .sum();
            let delta = their_net - ours_all - pending_fills;
            if delta != 0 {
                let (price, from) = match theirs.and_then(|p| p.avg_price) {
                    Some(p) => (p, "broker_average"),
                    None => last_close(pool, bot, *contract, now).await?.ok_or_else(|| {
                        ActionError::NotDone(format!(
                            "no broker average price and no stored {} bar to price the adjustment",
                            contract.code()
                        ))
                    })?,
                };
                out.adjustment =
                    book_adjustment(pool, fence, bot, delta, (price, from), "tpadopt", now).await?;
            }
        }
        Action::Flatten => {
            // The bot's own orders are cancelled at the broker by the flatten (every working
            // order on the contract): closed in the ledger here.
            for o in open.iter().filter(|o| o.order.bot_id == bot.id) {
                let reason = "reconcile flatten: cancelled at the broker";
                let closed = if o.order.status == OrderStatus::Sending {
                    orders::reject_sending(pool, fence, o.order.id, reason, now).await?
                } else {
                    orders::close_at_broker(
                        pool,
                        fence,
                        o.order.id,
                        OrderStatus::Cancelled,
                        reason,
                        now,
                    )
                    .await?
                };
                if closed {
                    out.orders_closed.push(o.order.id);
                }
            }
            // The account's contract flat at the broker and in every bot's ledger holding it.
            let route = super::live_flatten::Route {
                session: session.clone(),
                contract: *contract,
                contract_at,
            };
            let done = super::live_flatten::flatten(rt, pool, bot, fence, &route)
                .await
                .map_err(|e| match e {
                    FlattenError::Db(e) => ActionError::Db(e),
                    FlattenError::NoSession => ActionError::NoBroker(e.to_string()),
                    FlattenError::Broker(m) => ActionError::Broker(m),
                    FlattenError::NotDone(m) => ActionError::NotDone(m),
                })?;
            out.broker_cancelled = done.cancelled_at_broker.clone();
            out.broker_close = done
                .closes
                .iter()
                .find(|c| c.bot_id == bot.id)
                .and_then(|c| {
                    Some(BrokerClose {
                        broker_order_id: c.broker_order_id.clone()?,
                        side: c.side,
                        quantity: c.quantity,
                        price: c.price,
                    })
                });
            out.adjustment = done.adopted.clone();
            out.flatten = Some(done);
        }
    }
    Ok(out)
}
