//! LIVE orders through the one engine (issue 17 part 2): the decision's order is written
//! ahead as `SENDING` with its decision trace (fenced, `account_risk::place_live`), then
//! sent through the bot's broker session; the broker's id makes it WORKING, a refusal
//! REJECTED with `BROKER_ORDER_REJECTED` in its trace. An unclear end (timeout, lost answer,
//! 5xx) leaves it `SENDING`: the next evaluation (or a restarted runner) reads the broker's
//! orders and finds it by our key (Tradovate `text`) or by contract, side and quantity
//! (Ironbeam, which has no client id), and never sends it again. Fills are polled from the
//! broker on every evaluation and booked through the ledger once per broker fill id (partial
//! fills, the vendor's commission where it reports one).
//!
//! [`cancel_live_order`] and [`cancel_all_live`] are plain functions for the kill paths.

use chrono::Duration;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{BotEvaluator, Trading, working_order};

/// How long a LIVE evaluation waits for its first reconciliation before it evaluates with the
/// gate closed (well under the runner's heartbeat timeout).
const FIRST_RECONCILIATION_WAIT: std::time::Duration = std::time::Duration::from_millis(200);
use crate::domain::{
    contracts::Contract,
    engine::{Event, WorkingOrder},
    execution::{OrderStatus, SimFill},
};
use crate::error_code::ErrorCode;
use crate::integrations::brokers::{
    BrokerOrderStatus, BrokerVendor, OrderRequest, SendError, TimeInForce, match_unacknowledged,
};
use crate::runtime::brokers::{BrokerSession, Brokers};
use crate::store::{
    bot_leases::Fence,
    fills::{self, BrokerBooked, BrokerFillBooking},
    orders::{self, Order},
    system_events::{NewSystemEvent, Severity},
    traces,
};

/// How long an unacknowledged send may stay unresolved before an absent broker order means
/// it never arrived (longer than any call's time box, so an answer still in flight counts).
pub const SEND_GRACE_SECONDS: i64 = 30;

/// How long after a LIVE order was closed `CANCELLED` its runner still looks for a fill that
/// crossed the cancel (a vendor reports one within seconds; later, reconciliation names it).
const CROSSED_WINDOW_SECONDS: i64 = 120;

/// Why an order written ahead must not leave after all (its last look, in memory): a kill of
/// the bot (its lease refenced) or the kill switch, trading turned off, or the account's gate
/// closed since the decision. A kill meanwhile found the order `SENDING` and could not cancel
/// what no broker has; not sending it is the cancel. The code to refuse it with, or `None`
/// when the fence is no longer this runner's to write with.
fn withdrawn(
    trading: &Trading,
    session: &BrokerSession,
    fence: &Fence,
) -> Option<(Option<ErrorCode>, &'static str)> {
    use std::sync::atomic::Ordering::Acquire;
    if !trading.ownership.still_holds(fence) {
        Some((
            None,
            "LIVE order not sent: the bot's lease moved on after the decision (killed, or taken over)",
        ))
    } else if trading.kill_switch.load(Acquire) {
        Some((
            Some(ErrorCode::KillSwitchActive),
            "not sent: the kill switch was pulled after the decision",
        ))
    } else if !trading.trading_switch.load(Acquire) {
        Some((
            Some(ErrorCode::LiveTradingDisabled),
            "not sent: the global trading switch was turned off after the decision",
        ))
    } else if !session.can_trade() {
        Some((
            Some(UNAVAILABLE),
            "not sent: the broker session stopped being tradable after the decision",
        ))
    } else {
        None
    }
}

/// A send refused on our side (no session, not sent, a gate closed): the broker never saw it.
pub(super) const UNAVAILABLE: ErrorCode = ErrorCode::ExecutionBrokerUnavailable;

/// The broker request for a stored order: the front contract (`domain::contracts`) of its
/// symbol when it was decided.
pub fn request_of(order: &Order) -> OrderRequest {
    OrderRequest {
        client_id: order.idempotency_key.clone(),
        contract: Contract::front_at(
            order.symbol,
            order.decision_bar_at.unwrap_or(order.created_at),
        ),
        side: order.side,
        quantity: u32::try_from(order.quantity).unwrap_or(0),
        order_type: order.order_type,
        limit_price: order.limit_price,
        stop_price: order.stop_price,
        time_in_force: TimeInForce::Day,
    }
}

impl BotEvaluator {
    /// Sends a `SENDING` order. Returns the working order the engine should count (acked, or
    /// still unresolved), `None` when it was refused.
    pub(super) async fn send_live(
        &mut self,
        trading: &Trading,
        session: &BrokerSession,
        order: Order,
        fence: &Fence,
    ) -> Result<Option<WorkingOrder>, sqlx::Error> {
        let now = || trading.clock.now();
        match withdrawn(trading, session, fence) {
            None => {}
            // Not ours to write any more: the order stays SENDING for the lease's new holder,
            // whose reconciliation finds no such order at the broker and closes it.
            Some((None, why)) => {
                tracing::warn!(bot = %self.bot_id, order = %order.id, "{why}");
                return Ok(None);
            }
            Some((Some(code), why)) => {
                self.refused(trading, fence, &order, why, code).await?;
                return Ok(None);
            }
        }
        match session.place(&request_of(&order)).await {
            Ok((_, broker_id)) => {
                match orders::acknowledge(&trading.pool, fence, order.id, &broker_id, now()).await?
                {
                    Some(acked) => {
                        let w = working_order(&acked);
                        self.working = Some(acked);
                        Ok(Some(w))
                    }
                    None => Ok(None),
                }
            }
            Err(SendError::Rejected { reason }) => {
                self.refused(
                    trading,
                    fence,
                    &order,
                    &reason,
                    ErrorCode::BrokerOrderRejected,
                )
                .await?;
                Ok(None)
            }
            Err(SendError::NotSent(f)) => {
                let reason = format!("not sent: {}: {}", f.code, f.message);
                self.refused(trading, fence, &order, &reason, UNAVAILABLE)
                    .await?;
                Ok(None)
            }
            Err(SendError::Unknown(f)) => {
                tracing::warn!(bot = %self.bot_id, order = %order.id, code = f.code,
                    "LIVE send unresolved; the broker's orders will tell");
                let w = working_order(&order);
                self.working = Some(order);
                Ok(Some(w))
            }
        }
    }

    /// Marks a send refused (by the broker, or never sent) and says why in its trace.
    pub(super) async fn refused(
        &mut self,
        trading: &Trading,
        fence: &Fence,
        order: &Order,
        reason: &str,
        code: ErrorCode,
    ) -> Result<(), sqlx::Error> {
        let stored = format!("{}: {reason}", code.as_str());
        // The trace says why first: a reader who sees the order REJECTED finds the reason.
        if let Some(decision) = order.decision_trace_id {
            let answer = json!({
                "code": code.as_str(), "reason": reason, "broker": order.broker,
                "suggested_fix": code.suggested_fix(),
            });
            traces::note_broker_answer(&trading.pool, decision, &answer).await?;
        }
        orders::reject_sending(&trading.pool, fence, order.id, &stored, trading.clock.now())
            .await?;
        let event = NewSystemEvent::new(
            Severity::Sev2,
            code.as_str(),
            format!(
                "bot {}: LIVE order {} refused: {reason}",
                self.bot_id, order.id
            ),
        )
        .bot(self.bot_id)
        .metadata(json!({"order_id": order.id, "broker": order.broker}));
        if let Err(err) =
            crate::store::system_events::insert(&trading.pool, event, trading.clock.now()).await
        {
            tracing::error!(error = %err, "broker refusal event not written");
        }
        if self.working.as_ref().is_some_and(|w| w.id == order.id) {
            self.working = None;
        }
        Ok(())
    }

    /// The `reconciliation` gate's input: before the runner's first LIVE order on this node
    /// its broker account is reconciled, in a task beside the runner that the evaluation waits
    /// for at most [`FIRST_RECONCILIATION_WAIT`]: the gate stays closed until it has finished
    /// (a failed run is retried at the next bar; no connected session: nothing can be sent
    /// anyway, retried later). Then whether an open mismatch names the bot. A failed read is
    /// not clean.
    pub(super) async fn reconciliation_clean(&mut self, trading: &Trading) -> bool {
        if !self.reconciled && trading.brokers.for_live().is_some() {
            let mut run = self.first_reconciliation.take().unwrap_or_else(|| {
                let reconciler = trading.reconciler.clone();
                let broker = self.working.as_ref().and_then(|o| o.broker.clone());
                tokio::spawn(async move { reconciler.before_first_order(broker.as_deref()).await })
            });
            match tokio::time::timeout(FIRST_RECONCILIATION_WAIT, &mut run).await {
                Err(_) => {
                    // Still reading: the gate stays closed; the next evaluation looks again.
                    self.first_reconciliation = Some(run);
                    return false;
                }
                Ok(Ok(Ok(()))) => self.reconciled = true,
                Ok(Ok(Err(e))) => {
                    tracing::warn!(bot = %self.bot_id, error = %e,
                        "reconciliation before the first LIVE order failed");
                    return false;
                }
                Ok(Err(e)) => {
                    tracing::error!(bot = %self.bot_id, error = %e,
                        "reconciliation before the first LIVE order panicked");
                    return false;
                }
            }
        }
        // A send of the bot still unresolved (SENDING) keeps the gate closed: reconciliation
        // resolves it (`sync_live`) before any new order.
        if self
            .working
            .as_ref()
            .is_some_and(|w| w.status == OrderStatus::Sending)
        {
            return false;
        }
        match crate::store::reconciliation::bot_clean(&trading.pool, self.bot_id).await {
            Ok(clean) => clean,
            Err(e) => {
                tracing::warn!(bot = %self.bot_id, error = %e, "reconciliation state not read");
                false
            }
        }
    }

    /// Before a LIVE evaluation: every open LIVE order of the bot — not only the one this
    /// runner holds: a restart may find an older unresolved send beside a newer acknowledged
    /// order — is resolved from the broker's orders when unacknowledged (matched, or never
    /// sent after [`SEND_GRACE_SECONDS`]), has its new broker fills booked, and is dropped once
    /// its broker finished it. The working order is then the oldest send still unresolved
    /// (which keeps the reconciliation gate closed: no new order before it is resolved), else
    /// the newest acknowledged one.
    pub(super) async fn sync_live(
        &mut self,
        trading: &Trading,
        fence: &Fence,
    ) -> Result<(), sqlx::Error> {
        // A non-LIVE order held over a promotion is the engine's own to finish.
        if self
            .working
            .as_ref()
            .is_some_and(|w| w.stage != crate::domain::risk::Stage::Live)
        {
            return Ok(());
        }
        self.book_crossed_fills(trading, fence).await?;
        let held = self.engine.working().map(|w| (w.id, w.quantity));
        let mut still_open = Vec::new();
        for order in orders::open_live(&trading.pool, self.bot_id).await? {
            if let Some(open) = self.sync_one(trading, fence, order).await? {
                still_open.push(open);
            }
        }
        let next = still_open
            .iter()
            .find(|(o, _)| o.status == OrderStatus::Sending)
            .or_else(|| {
                still_open
                    .iter()
                    .rev()
                    .find(|(o, _)| o.broker_order_id.is_some())
            })
            .cloned();
        // The engine counts what is left of a partially filled order (its fills are in the
        // position already); when the fills could not be read, the count it holds stands.
        let next_working = next.as_ref().map(|(o, filled)| {
            let mut w = working_order(o);
            match filled {
                Some(n) => {
                    w.quantity = w.quantity.saturating_sub(u32::try_from(*n).unwrap_or(0));
                }
                None => {
                    if let Some((_, q)) = held.filter(|(id, _)| *id == o.id) {
                        w.quantity = q;
                    }
                }
            }
            w
        });
        if held != next_working.as_ref().map(|w| (w.id, w.quantity)) {
            self.engine.set_working(next_working);
        }
        self.working = next.map(|(o, _)| o);
        Ok(())
    }

    /// [`sync_live`](Self::sync_live) for one open LIVE order: the order still open after it
    /// (acknowledged, still unresolved, or working) with how much of it has filled at the
    /// broker (`None`: not known, its fills were not read), `None` once finished or refused.
    async fn sync_one(
        &mut self,
        trading: &Trading,
        fence: &Fence,
        order: Order,
    ) -> Result<Option<(Order, Option<i64>)>, sqlx::Error> {
        let Some(session) = order
            .broker
            .as_deref()
            .and_then(BrokerVendor::parse)
            .and_then(|v| trading.brokers.get(v))
        else {
            return Ok(Some((order, None)));
        };
        let now = trading.clock.now();
        let order = if order.status == OrderStatus::Sending {
            let Ok(at_broker) = session.orders().await else {
                return Ok(Some((order, Some(0))));
            };
            let claimed = orders::claimed_broker_ids(
                &trading.pool,
                order.broker.as_deref().unwrap_or(""),
                order.broker_account.as_deref().unwrap_or(""),
            )
            .await?;
            let sent_at = order.sent_at.unwrap_or(order.created_at);
            let found = match_unacknowledged(
                &at_broker,
                &request_of(&order),
                session.vendor(),
                sent_at,
                &claimed,
            );
            match found {
                Some(b) => {
                    let id = b.broker_order_id.clone();
                    match orders::acknowledge(&trading.pool, fence, order.id, &id, now).await? {
                        Some(acked) => acked,
                        // Resolved meanwhile: the next evaluation reads it as it stands.
                        None => return Ok(None),
                    }
                }
                None if now - sent_at > Duration::seconds(SEND_GRACE_SECONDS) => {
                    let reason = "the broker has no such order: the send never reached it";
                    self.refused(trading, fence, &order, reason, UNAVAILABLE)
                        .await?;
                    return Ok(None);
                }
                None => return Ok(Some((order, Some(0)))),
            }
        } else {
            order
        };
        let Some(broker_id) = order.broker_order_id.clone() else {
            return Ok(Some((order, Some(0))));
        };
        let Ok(fills_at_broker) = session.fills().await else {
            return Ok(Some((order, None)));
        };
        let filled = self
            .book_broker_fills(trading, fence, &order, &broker_id, &fills_at_broker)
            .await?;
        let done = filled >= i64::from(order.quantity);
        let closed = if done {
            None
        } else {
            match session.orders().await {
                Ok(list) => list
                    .into_iter()
                    .find(|o| o.broker_order_id == broker_id)
                    .filter(|o| o.status.is_final() && o.status != BrokerOrderStatus::Filled),
                Err(_) => None,
            }
        };
        if let Some(b) = &closed {
            let status = match b.status {
                BrokerOrderStatus::Rejected => OrderStatus::Rejected,
                _ => OrderStatus::Cancelled,
            };
            let reason = format!("the broker reports the order {:?}", b.status);
            orders::close_at_broker(&trading.pool, fence, order.id, status, &reason, now).await?;
        }
        Ok((!done && closed.is_none()).then_some((order, Some(filled))))
    }

    /// Books through the engine each broker fill of `order` not booked yet (one row per broker
    /// fill id); returns the quantity filled at the broker.
    async fn book_broker_fills(
        &mut self,
        trading: &Trading,
        fence: &Fence,
        order: &Order,
        broker_id: &str,
        fills_at_broker: &[crate::integrations::brokers::BrokerFill],
    ) -> Result<i64, sqlx::Error> {
        let mut filled = 0i64;
        for f in fills_at_broker
            .iter()
            .filter(|f| f.broker_order_id == broker_id)
        {
            let commission = f.commission.unwrap_or(
                trading.sim.commission_per_contract * rust_decimal::Decimal::from(f.quantity),
            );
            let sim = SimFill {
                idempotency_key: order.idempotency_key.clone(),
                side: order.side,
                quantity: f.quantity,
                price: f.price,
                commission,
                filled_at: f.filled_at,
            };
            let (before, after, realized) = self.engine.preview_fill(&sim);
            let booked = fills::book_broker_fill(
                &trading.pool,
                BrokerFillBooking {
                    fence,
                    order,
                    broker_fill_id: &f.fill_id,
                    quantity: f.quantity,
                    price: f.price,
                    commission,
                    filled_at: f.filled_at,
                    before: &before,
                    after: &after,
                    realized,
                },
            )
            .await?;
            match booked {
                BrokerBooked::Filled { filled: n, .. } => {
                    self.engine.handle(Event::Fill(sim));
                    filled = n;
                }
                BrokerBooked::AlreadyBooked => filled += i64::from(f.quantity),
            }
        }
        Ok(filled)
    }

    /// Fills that crossed the cancel of this bot's LIVE orders closed `CANCELLED` in the last
    /// [`CROSSED_WINDOW_SECONDS`] (a kill path, the trading switch or a desk action cancelled
    /// them while the broker filled them): booked through the engine like any fill, the
    /// order left `CANCELLED` unless they fill it. Read from the broker only while such an
    /// order is that recent.
    async fn book_crossed_fills(
        &mut self,
        trading: &Trading,
        fence: &Fence,
    ) -> Result<(), sqlx::Error> {
        let now = trading.clock.now();
        let since = now - Duration::seconds(CROSSED_WINDOW_SECONDS);
        for (order, booked) in
            orders::cancelled_live_since(&trading.pool, self.bot_id, since).await?
        {
            let (Some(session), Some(broker_id)) = (
                order
                    .broker
                    .as_deref()
                    .and_then(BrokerVendor::parse)
                    .and_then(|v| trading.brokers.get(v)),
                order.broker_order_id.clone(),
            ) else {
                continue;
            };
            let Ok(fills_at_broker) = session.fills().await else {
                continue;
            };
            let at_broker: i64 = fills_at_broker
                .iter()
                .filter(|f| f.broker_order_id == broker_id)
                .map(|f| i64::from(f.quantity))
                .sum();
            if at_broker <= booked {
                continue;
            }
            let filled = self
                .book_broker_fills(trading, fence, &order, &broker_id, &fills_at_broker)
                .await?;
            tracing::warn!(bot = %self.bot_id, order = %order.id, broker_order = %broker_id, filled,
                "a fill that crossed the cancel of a LIVE order was booked");
            orders::cancelled_after_crossed_fill(&trading.pool, &order, filled, now).await?;
        }
        Ok(())
    }
}

/// Cancels one LIVE order at its broker and in the ledger (a kill path calls this). Returns
/// false when the order is not a working LIVE order or has no session.
pub async fn cancel_live_order(
    pool: &PgPool,
    brokers: &Brokers,
    order: &Order,
    reason: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, String> {
    let (Some(broker_id), Some(session)) = (
        order.broker_order_id.as_deref(),
        order
            .broker
            .as_deref()
            .and_then(BrokerVendor::parse)
            .and_then(|v| brokers.get(v)),
    ) else {
        return Ok(false);
    };
    session
        .cancel(broker_id)
        .await
        .map_err(|f| format!("{}: {}", f.code, f.message))?;
    orders::mark_cancelled(pool, &[order.id], reason, now)
        .await
        .map_err(|e| e.to_string())?;
    Ok(true)
}

/// Cancels every LIVE order working at every session's account, in bulk where the vendor
/// offers it (Ironbeam `cancelMultiple`), and marks those the broker cancelled cancelled in
/// the ledger (one it reports filled stays open for its fills to be booked). Returns how many
/// were cancelled.
pub async fn cancel_all_live(
    pool: &PgPool,
    brokers: &Brokers,
    reason: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, String> {
    let mut total = 0;
    for session in brokers.sessions() {
        let Some(account) = session.account() else {
            continue;
        };
        let working = orders::live_working_at(pool, session.vendor().id(), &account.id)
            .await
            .map_err(|e| e.to_string())?;
        if working.is_empty() {
            continue;
        }
        let ids: Vec<String> = working
            .iter()
            .filter_map(|o| o.broker_order_id.clone())
            .collect();
        let done = session
            .cancel_many(&ids)
            .await
            .map_err(|f| format!("{}: {}", f.code, f.message))?;
        let ours: Vec<Uuid> = working
            .iter()
            .filter(|o| {
                o.broker_order_id
                    .as_ref()
                    .is_some_and(|b| done.cancelled.contains(b))
            })
            .map(|o| o.id)
            .collect();
        total += orders::mark_cancelled(pool, &ours, reason, now)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(total)
}
