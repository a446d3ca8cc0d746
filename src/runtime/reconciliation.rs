//! Broker reconciliation (issue 17 part 3): per broker account, the broker's positions, orders
//! and fills are read and compared with our ledger (`domain::reconciliation`); the account's
//! open mismatches are replaced in one transaction (`store::reconciliation::apply`). A new
//! mismatch is a SEV-1 `RECONCILIATION_MISMATCH` event naming bot, contract, ours and theirs
//! (and a blocker in the system status while open); the LIVE bots it names are stopped by the
//! `reconciliation` gate at their next evaluation; a mismatch found gone is resolved (INFO
//! `RECONCILIATION_RESOLVED`).
//!
//! When it runs: on each broker login (`CONNECT`), once after the process started (`RESTART`),
//! every `TRADEPLANE_RECONCILE_EVERY_SECS` (default 60, `PERIODIC`) — these three on the
//! cluster's leader only (the `leader` lease) —, before a LIVE runner's first evaluation on a
//! node (`FIRST_ORDER`, on that node), and after an operator's adopt or flatten (`OPERATOR`).
//! A position mismatch is read a second time ~300 ms later before it is raised; an order
//! mismatch its runner resolves on its own must persist for the order's bar plus the send grace.

mod unattended;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::brokers::{BrokerSession, Brokers};
use super::evaluator::live::SEND_GRACE_SECONDS;
use super::lifecycle::record_event;
use super::ownership::Leadership;
use crate::bus::EventBus;
use crate::clock::Clock;
use crate::domain::{
    contracts::Contract,
    execution::OrderStatus,
    reconciliation::{
        self as rules, AccountState, Mismatch, OurOrder, OurOrderState, OurPosition, Rules,
        Settling, TheirOrder, TheirPosition,
    },
    risk::Stage,
};
use crate::integrations::brokers::{BrokerOrderStatus, BrokerVendor};
use crate::store::{
    reconciliation::{self as store, Applied, Run},
    system_events::{NewSystemEvent, Severity},
};
use crate::trace::TraceId;

/// Why a run happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Connect,
    Restart,
    Periodic,
    FirstOrder,
    Operator,
}

impl Trigger {
    pub const fn as_str(self) -> &'static str {
        match self {
            Trigger::Connect => "CONNECT",
            Trigger::Restart => "RESTART",
            Trigger::Periodic => "PERIODIC",
            Trigger::FirstOrder => "FIRST_ORDER",
            Trigger::Operator => "OPERATOR",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// The periodic run (`TRADEPLANE_RECONCILE_EVERY_SECS`, default 60).
    pub every: Duration,
    /// The second read of a position mismatch.
    pub confirm_delay: Duration,
    /// How long a send may be unknown to the broker, and a broker order unknown to us (a
    /// send of ours in flight), before either is a mismatch (default the runner's
    /// `SEND_GRACE_SECONDS`).
    pub send_grace: Duration,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            every: Duration::from_secs(60),
            confirm_delay: Duration::from_millis(300),
            send_grace: Duration::from_secs(SEND_GRACE_SECONDS.unsigned_abs()),
        }
    }
}

/// How a run's vanished mismatches are recorded.
#[derive(Debug, Clone, Copy)]
pub struct Resolution<'a> {
    pub name: &'a str,
    pub by: Option<&'a str>,
}

const RECONCILED: Resolution<'static> = Resolution {
    name: "RECONCILED",
    by: None,
};

pub struct Reconciler {
    pool: PgPool,
    clock: Clock,
    bus: EventBus,
    brokers: Arc<Brokers>,
    node: Option<String>,
    config: ReconcileConfig,
    /// Order mismatches waiting out their settle time, per (broker, account).
    settling: Mutex<HashMap<(String, String), Settling>>,
    /// One run at a time in this process (runs across nodes serialise in the database).
    turn: tokio::sync::Mutex<()>,
    /// The configured per-contract commission, booked for a broker fill that reports none
    /// (a KILLED bot's send resolved here).
    commission_per_contract: rust_decimal::Decimal,
}

fn status_name(s: BrokerOrderStatus) -> &'static str {
    match s {
        BrokerOrderStatus::Pending => "PENDING",
        BrokerOrderStatus::Working => "WORKING",
        BrokerOrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
        BrokerOrderStatus::Filled => "FILLED",
        BrokerOrderStatus::Cancelled => "CANCELLED",
        BrokerOrderStatus::Rejected => "REJECTED",
        BrokerOrderStatus::Expired => "EXPIRED",
    }
}

impl Reconciler {
    /// The periodic run's interval.
    pub fn every(&self) -> Duration {
        self.config.every
    }

    pub fn new(
        pool: PgPool,
        clock: Clock,
        bus: EventBus,
        brokers: Arc<Brokers>,
        node: Option<String>,
        config: ReconcileConfig,
    ) -> Self {
        Reconciler {
            pool,
            clock,
            bus,
            brokers,
            node,
            config,
            settling: Mutex::default(),
            turn: tokio::sync::Mutex::new(()),
            commission_per_contract: crate::domain::execution::SimParams::default()
                .commission_per_contract,
        }
    }

    /// The per-contract commission booked for a broker fill that reports none (the runtime's
    /// `SimParams`).
    pub fn with_commission(mut self, per_contract: rust_decimal::Decimal) -> Self {
        self.commission_per_contract = per_contract;
        self
    }

    pub fn config(&self) -> &ReconcileConfig {
        &self.config
    }

    pub fn brokers(&self) -> &Arc<Brokers> {
        &self.brokers
    }

    /// The session a bot's LIVE orders go to: where its newest LIVE order went, else the
    /// session LIVE orders go to now.
    pub fn session_of(&self, broker: Option<&str>) -> Option<Arc<BrokerSession>> {
        match broker.and_then(BrokerVendor::parse) {
            Some(v) => self.brokers.get(v),
            None => self.brokers.for_live(),
        }
    }

    /// Our side of `session`'s account, read now.
    async fn ours(
        &self,
        vendor: BrokerVendor,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<(Vec<OurPosition>, Vec<OurOrder>), sqlx::Error> {
        let default = self
            .brokers
            .for_live()
            .and_then(|s| s.account().map(|a| (s.vendor(), a.id)));
        let spell = |c: Contract| c.spelled_for(vendor.spelling());
        let mut positions = Vec::new();
        for bot in store::live_bots(&self.pool).await? {
            let routed = match (&bot.broker, &bot.broker_account) {
                (Some(b), Some(a)) => b == vendor.id() && a == account,
                _ => default
                    .as_ref()
                    .is_some_and(|(v, a)| *v == vendor && a == account),
            };
            if !routed {
                continue;
            }
            let quantity = match bot.position_stage {
                Some(Stage::Live) => i64::from(bot.quantity.unwrap_or(0)),
                _ => 0,
            };
            positions.push(OurPosition {
                bot_id: bot.id,
                contract: spell(Contract::front_at(
                    bot.symbol,
                    bot.last_order_at.unwrap_or(now),
                )),
                quantity,
            });
        }
        let grace = chrono::Duration::seconds(SEND_GRACE_SECONDS);
        let orders = store::open_live_orders(&self.pool, vendor.id(), account)
            .await?
            .into_iter()
            .map(|o| {
                let request = super::evaluator::live::request_of(&o.order);
                OurOrder {
                    order_id: o.order.id,
                    bot_id: o.order.bot_id,
                    contract: spell(request.contract),
                    side: o.order.side,
                    quantity: u32::try_from(o.order.quantity).unwrap_or(0),
                    state: if o.order.status == OrderStatus::Sending {
                        OurOrderState::Sending
                    } else {
                        OurOrderState::Working
                    },
                    broker_order_id: o.order.broker_order_id.clone(),
                    client_id: o.order.idempotency_key.clone(),
                    sent_at: o.order.sent_at.unwrap_or(o.order.created_at),
                    booked: u32::try_from(o.booked).unwrap_or(0),
                    settle: o.timeframe.duration() + grace,
                }
            })
            .collect();
        Ok((positions, orders))
    }

    /// Both sides of the session's account, now.
    async fn read(
        &self,
        session: &BrokerSession,
        account: &str,
    ) -> Result<(AccountState, DateTime<Utc>), String> {
        let vendor = session.vendor();
        let f = |e: crate::integrations::outcome::Failure| format!("{}: {}", e.code, e.message);
        // The broker first: anything we book meanwhile shows as an unbooked fill, not drift.
        let their_positions = session.positions().await.map_err(f)?;
        let their_orders = session.orders().await.map_err(f)?;
        let their_fills = session.fills().await.map_err(f)?;
        let now = self.clock.now();
        let (ours, our_orders) = self
            .ours(vendor, account, now)
            .await
            .map_err(|e| format!("database: {e}"))?;
        let mut filled: HashMap<&str, u32> = HashMap::new();
        for fill in &their_fills {
            *filled.entry(fill.broker_order_id.as_str()).or_default() += fill.quantity;
        }
        let state = AccountState {
            ours,
            our_orders,
            theirs: their_positions
                .into_iter()
                .map(|p| TheirPosition {
                    contract: p.symbol,
                    net: p.net,
                })
                .collect(),
            their_orders: their_orders
                .iter()
                .map(|o| TheirOrder {
                    broker_order_id: o.broker_order_id.clone(),
                    client_id: o.client_id.clone(),
                    contract: o.symbol.clone(),
                    side: o.side,
                    quantity: o.quantity,
                    working: !o.status.is_final(),
                    status: status_name(o.status).to_owned(),
                    filled: filled.get(o.broker_order_id.as_str()).copied().unwrap_or(0),
                    created_at: o.created_at,
                })
                .collect(),
        };
        Ok((state, now))
    }

    /// Reconciles `session`'s account once and records the run. `Err` when the account could
    /// not be read (the run is recorded failed; the open mismatches stand).
    pub async fn run_session(
        &self,
        session: &BrokerSession,
        trigger: Trigger,
        resolution: Resolution<'_>,
    ) -> Result<Applied, String> {
        let turn = self.turn().await;
        self.run_in_turn(&turn, session, trigger, resolution).await
    }

    /// This process's reconciliation turn: an operator's action holds it from its first read
    /// to its run, so no other run resolves its mismatches in between.
    pub async fn turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.turn.lock().await
    }

    /// [`Reconciler::run_session`] inside a turn already held.
    pub async fn run_in_turn(
        &self,
        _turn: &tokio::sync::MutexGuard<'_, ()>,
        session: &BrokerSession,
        trigger: Trigger,
        resolution: Resolution<'_>,
    ) -> Result<Applied, String> {
        let Some(account) = session.account() else {
            return Err(format!(
                "{} has no account: not logged in",
                session.vendor().id()
            ));
        };
        let broker = session.vendor().id();
        let started_at = self.clock.now();
        let trace = TraceId::try_current().unwrap_or_else(TraceId::generate);
        let rules = Rules {
            send_grace: chrono::Duration::from_std(self.config.send_grace)
                .unwrap_or(chrono::Duration::MAX),
        };
        // What no runner resolves (a KILLED bot's orders, a fill that crossed a cancel):
        // resolved first, so the read sees them.
        match self
            .resolve_unattended(session, &account.id, rules.send_grace)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(broker, resolved = n, "unattended LIVE orders resolved"),
            Err(e) => tracing::warn!(broker, error = %e, "unattended LIVE orders not resolved"),
        }
        let compared = async {
            let (first, at) = self.read(session, &account.id).await?;
            let mut found = rules::compare(&first, at, rules);
            let mut at_end = at;
            if rules::needs_second_read(&found) {
                tokio::time::sleep(self.config.confirm_delay).await;
                let (second, at2) = self.read(session, &account.id).await?;
                found = rules::confirm(&found, rules::compare(&second, at2, rules));
                at_end = at2;
            }
            Ok::<_, String>((found, at_end))
        }
        .await;
        let run = |finished_at| Run {
            broker,
            account: &account.id,
            trigger: trigger.as_str(),
            node: self.node.as_deref(),
            started_at,
            finished_at,
            trace: &trace,
            resolution: resolution.name,
            resolved_by: resolution.by,
        };
        let (found, at) = match compared {
            Ok(v) => v,
            Err(e) => {
                let finished = self.clock.now();
                if let Err(db) = store::failed(&self.pool, &run(finished), &e).await {
                    tracing::error!(error = %db, "reconciliation run not recorded");
                }
                return Err(e);
            }
        };
        let raised: Vec<Mismatch> = {
            let mut settling = self.settling.lock().unwrap_or_else(|p| p.into_inner());
            settling
                .entry((broker.to_owned(), account.id.clone()))
                .or_default()
                .observe(at, found)
        };
        let applied = store::apply(&self.pool, &run(at), &raised)
            .await
            .map_err(|e| format!("database: {e}"))?;
        for m in &applied.opened {
            let mut event = NewSystemEvent::new(
                Severity::Sev1,
                "RECONCILIATION_MISMATCH",
                format!(
                    "{broker} account {}: {}; bots {}",
                    m.account,
                    m.message,
                    bots_words(&m.bot_ids)
                ),
            )
            .metadata(json!({ "mismatch": m, "trigger": trigger.as_str() }));
            if let Some(bot) = m.bot_ids.first() {
                event = event.bot(*bot);
            }
            record_event(&self.pool, &self.bus, event, at).await;
        }
        for m in &applied.resolved {
            let mut event = NewSystemEvent::new(
                Severity::Info,
                "RECONCILIATION_RESOLVED",
                format!(
                    "{broker} account {}: {} resolved ({})",
                    m.account,
                    m.message,
                    m.resolution.as_deref().unwrap_or("RECONCILED")
                ),
            )
            .metadata(json!({ "mismatch": m, "trigger": trigger.as_str() }));
            if let Some(bot) = m.bot_ids.first() {
                event = event.bot(*bot);
            }
            record_event(&self.pool, &self.bus, event, at).await;
        }
        Ok(applied)
    }

    /// Every ready session's account, once.
    pub async fn run_all(&self, trigger: Trigger) {
        for session in self.brokers.sessions() {
            if !session.is_ready() {
                continue;
            }
            if let Err(e) = self.run_session(session, trigger, RECONCILED).await {
                tracing::warn!(broker = session.vendor().id(), error = %e, "reconciliation failed");
            }
        }
    }

    /// Before a LIVE runner's first order on this node: its account, once.
    pub async fn before_first_order(&self, broker: Option<&str>) -> Result<(), String> {
        let Some(session) = self.session_of(broker) else {
            return Err("no broker session for the bot".into());
        };
        self.run_session(&session, Trigger::FirstOrder, RECONCILED)
            .await
            .map(|_| ())
    }

    /// The leader's loop: each broker's first run after start (`RESTART`), a run after every
    /// new login (`CONNECT`), and one every `every` (`PERIODIC`), until `stop`.
    pub async fn run_loop(
        self: Arc<Self>,
        leadership: Leadership,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let every = self.config.every;
        let poll = every.min(Duration::from_millis(250));
        // Per broker: the logins seen at its last run, and when the next periodic run is due.
        let mut seen: HashMap<BrokerVendor, (u64, tokio::time::Instant)> = HashMap::new();
        loop {
            if leadership.is_leader() {
                for session in self.brokers.sessions() {
                    if !session.is_ready() {
                        continue;
                    }
                    let logins = session.health().logins;
                    let now = tokio::time::Instant::now();
                    let trigger = match seen.get(&session.vendor()) {
                        None => Trigger::Restart,
                        Some((l, _)) if *l != logins => Trigger::Connect,
                        Some((_, due)) if now >= *due => Trigger::Periodic,
                        Some(_) => continue,
                    };
                    seen.insert(session.vendor(), (logins, now + every));
                    if let Err(e) = self.run_session(session, trigger, RECONCILED).await {
                        tracing::warn!(broker = session.vendor().id(), error = %e,
                            "reconciliation failed");
                    }
                }
            } else {
                // A node that becomes leader runs as after a restart.
                seen.clear();
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

fn bots_words(ids: &[Uuid]) -> String {
    if ids.is_empty() {
        return "none (no LIVE bot trades the contract at this account)".into();
    }
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn f_words(f: crate::integrations::outcome::Failure) -> String {
    format!("{}: {}", f.code, f.message)
}
