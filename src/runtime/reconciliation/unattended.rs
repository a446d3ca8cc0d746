//! What no runner resolves, resolved by reconciliation before it compares (issue 17 parts 3
//! and 5), each order under its bot's lease taken for the while (`acquire_unowned`: a kill
//! releases the lease; a lease some node holds is left to that node):
//!
//! - a KILLED bot's open LIVE orders: a send left `SENDING` is found at the broker (by key, or
//!   by contract, side and quantity as the runner matches) and acknowledged, or `REJECTED`
//!   after the send grace (it never reached the broker); an acknowledged order has its broker
//!   fills booked and what still works there is cancelled, as the kill cancels the bot's
//!   orders (a kill whose cancel failed, the broker down, is finished here once it is back);
//! - a fill that crossed a cancel: an order the ledger closed `CANCELLED` (the broker took
//!   the cancel, or took it pending) that the broker filled first. A fill is a fact at the
//!   broker: it is booked, so the ledger holds what the broker holds (a KILLED bot then shows
//!   its exposure) instead of a position mismatch no one explains.

use std::sync::Arc;

use super::{Reconciler, f_words};
use crate::domain::execution::OrderStatus;
use crate::integrations::brokers::{BrokerFill, BrokerOrder, match_unacknowledged};
use crate::runtime::brokers::BrokerSession;
use crate::runtime::ledger_booking::book_broker_fill_of;
use crate::store::{
    bot_leases::{self, Fence},
    bots::{self, Bot},
    orders::{self, Order},
    reconciliation as store,
};

/// How far back a cancelled order's crossed fill is looked for: the vendors' fill lists
/// cover the trading day.
const CROSSED_LOOKBACK_HOURS: i64 = 24;

fn db(e: sqlx::Error) -> String {
    format!("database: {e}")
}

/// The broker's side of the account, read once per run.
struct Theirs {
    orders: Vec<BrokerOrder>,
    fills: Vec<BrokerFill>,
}

impl Theirs {
    fn filled(&self, broker_order_id: &str) -> i64 {
        self.fills_of(broker_order_id)
            .map(|f| i64::from(f.quantity))
            .sum()
    }

    fn fills_of<'a>(&'a self, broker_order_id: &'a str) -> impl Iterator<Item = &'a BrokerFill> {
        self.fills
            .iter()
            .filter(move |f| f.broker_order_id == broker_order_id)
    }
}

impl Reconciler {
    /// Resolves the session's unattended orders (module docs). Returns how many orders were
    /// resolved or had fills booked.
    pub(super) async fn resolve_unattended(
        &self,
        session: &BrokerSession,
        account: &str,
        grace: chrono::Duration,
    ) -> Result<usize, String> {
        let Some(node) = self.node.as_deref() else {
            return Ok(0);
        };
        let vendor = session.vendor().id();
        let mut killed = Vec::new();
        for o in store::open_live_orders_of_killed(&self.pool, vendor, account)
            .await
            .map_err(db)?
        {
            if let Some(bot) = bots::get(&self.pool, o.order.bot_id).await.map_err(db)? {
                killed.push((bot, o.order));
            }
        }
        let since = self.clock.now() - chrono::Duration::hours(CROSSED_LOOKBACK_HOURS);
        let cancelled = store::cancelled_without_runner(&self.pool, vendor, account, since)
            .await
            .map_err(db)?;
        if killed.is_empty() && cancelled.is_empty() {
            return Ok(0);
        }
        let theirs = Theirs {
            orders: session.orders().await.map_err(f_words)?,
            fills: session.fills().await.map_err(f_words)?,
        };
        let mut resolved = 0;
        for (bot, order) in killed {
            let Some(fence) = self.unowned_lease(node, bot.id).await? else {
                continue;
            };
            let done = self
                .resolve_killed(session, account, &bot, &order, &fence, &theirs, grace)
                .await;
            self.let_go(&fence).await;
            if done? {
                resolved += 1;
            }
        }
        for o in cancelled {
            let broker_id = o.order.broker_order_id.as_deref().unwrap_or_default();
            if theirs.filled(broker_id) <= o.booked {
                continue;
            }
            let Some(bot) = bots::get(&self.pool, o.order.bot_id).await.map_err(db)? else {
                continue;
            };
            let Some(fence) = self.unowned_lease(node, bot.id).await? else {
                continue;
            };
            let done = self.book_crossed(&bot, &o.order, &fence, &theirs).await;
            self.let_go(&fence).await;
            let filled = done?;
            tracing::warn!(bot = %bot.id, order = %o.order.id, broker_order = broker_id, filled,
                "a fill that crossed the cancel of a LIVE order was booked");
            resolved += 1;
        }
        Ok(resolved)
    }

    /// The bot's lease for this node while no node holds it (`None`: one does).
    async fn unowned_lease(&self, node: &str, bot: uuid::Uuid) -> Result<Option<Fence>, String> {
        let now = self.clock.now();
        let epoch = bot_leases::acquire_unowned(
            &self.pool,
            bot,
            node,
            now,
            now + chrono::Duration::seconds(30),
        )
        .await
        .map_err(db)?;
        Ok(epoch.map(|epoch| Fence {
            bot_id: bot,
            node: Arc::from(node),
            epoch,
        }))
    }

    async fn let_go(&self, fence: &Fence) {
        if let Err(e) = bot_leases::release(&self.pool, fence, self.clock.now()).await {
            tracing::warn!(bot = %fence.bot_id, error = %e, "lease not released");
        }
    }

    /// One open order of a KILLED bot; `Ok(true)` once resolved.
    #[allow(clippy::too_many_arguments)]
    async fn resolve_killed(
        &self,
        session: &BrokerSession,
        account: &str,
        bot: &Bot,
        order: &Order,
        fence: &Fence,
        theirs: &Theirs,
        grace: chrono::Duration,
    ) -> Result<bool, String> {
        let vendor = session.vendor();
        let now = self.clock.now();
        let acked = if order.status == OrderStatus::Sending {
            let claimed = orders::claimed_broker_ids(&self.pool, vendor.id(), account)
                .await
                .map_err(db)?;
            let sent_at = order.sent_at.unwrap_or(order.created_at);
            let request = crate::runtime::evaluator::live::request_of(order);
            let found = match_unacknowledged(&theirs.orders, &request, vendor, sent_at, &claimed);
            let Some(t) = found else {
                if now - sent_at <= grace {
                    return Ok(false);
                }
                let reason = "the broker has no such order: the send never reached it \
                              (its bot is KILLED: resolved by reconciliation)";
                return orders::reject_sending(&self.pool, fence, order.id, reason, now)
                    .await
                    .map_err(db);
            };
            match orders::acknowledge(&self.pool, fence, order.id, &t.broker_order_id, now)
                .await
                .map_err(db)?
            {
                Some(acked) => acked,
                None => return Ok(false),
            }
        } else {
            order.clone()
        };
        let Some(broker_id) = acked.broker_order_id.clone() else {
            return Ok(false);
        };
        let filled = self.book_fills(bot, &acked, fence, theirs).await?;
        if filled < i64::from(acked.quantity) {
            // The kill cancels the bot's orders: this one too, at the broker first (an
            // order the broker no longer works needs no cancel; one it refuses to cancel,
            // filled meanwhile, stays open and its fill is booked at the next run).
            let working = theirs
                .orders
                .iter()
                .find(|o| o.broker_order_id == broker_id)
                .is_some_and(|o| !o.status.is_final());
            if working {
                session.cancel(&broker_id).await.map_err(f_words)?;
            }
            let reason = "the bot is KILLED: its order, found working at the broker, cancelled \
                          there by reconciliation";
            orders::mark_cancelled(&self.pool, &[acked.id], reason, now)
                .await
                .map_err(db)?;
        }
        Ok(true)
    }

    /// Books the broker's fills of an order the ledger closed `CANCELLED`; it stays
    /// `CANCELLED` unless they fill it. Returns the quantity filled at the broker.
    async fn book_crossed(
        &self,
        bot: &Bot,
        order: &Order,
        fence: &Fence,
        theirs: &Theirs,
    ) -> Result<i64, String> {
        let filled = self.book_fills(bot, order, fence, theirs).await?;
        orders::cancelled_after_crossed_fill(&self.pool, order, filled, self.clock.now())
            .await
            .map_err(db)?;
        Ok(filled)
    }

    /// Books each broker fill of `order` not booked yet (one row per broker fill id); returns
    /// the quantity the broker filled.
    async fn book_fills(
        &self,
        bot: &Bot,
        order: &Order,
        fence: &Fence,
        theirs: &Theirs,
    ) -> Result<i64, String> {
        let broker_id = order.broker_order_id.as_deref().unwrap_or_default();
        for f in theirs.fills_of(broker_id) {
            book_broker_fill_of(
                &self.pool,
                fence,
                bot,
                order,
                f,
                self.commission_per_contract,
            )
            .await
            .map_err(db)?;
        }
        Ok(theirs.filled(broker_id))
    }
}
