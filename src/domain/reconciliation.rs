//! Broker reconciliation (issue 17 part 3): per broker account and contract, the broker's
//! positions and working orders against ours (the ledger positions of the LIVE bots routed to
//! the account, our LIVE orders `SENDING`/`WORKING`). Pure: the runtime reads both sides and
//! passes them in with `now`.
//!
//! Mismatch kinds:
//! - `POSITION`: the broker's net on a contract differs from ours. Ours is the ledger's net plus
//!   the broker fills of our own open orders not booked yet (a runner books its fills at its
//!   next evaluation: that lag is no mismatch for the order's settle time; longer, it is one:
//!   subject `unbooked broker fills`, ours the ledger's net). A contract with a send still in flight (a
//!   `SENDING` order younger than the send grace that the broker does not show yet) is skipped.
//!   A position mismatch is raised only when a second read (≈ 300 ms later) shows it too
//!   ([`confirm`]).
//! - `ORDER_MISSING_AT_BROKER`: our order is working (or `SENDING` for longer than the grace)
//!   and the broker has no such order.
//! - `ORDER_FINISHED_AT_BROKER`: the broker says filled/cancelled/rejected/expired, we say
//!   working.
//! - `UNKNOWN_BROKER_ORDER`: a working broker order that is none of ours.
//!
//! Order mismatches a runner resolves on its own (an acknowledgement or a fill it books at its
//! next bar) must persist for the order's `settle` time before they are raised ([`Settling`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::side::Side;

/// What differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MismatchKind {
    Position,
    OrderMissingAtBroker,
    OrderFinishedAtBroker,
    UnknownBrokerOrder,
}

impl MismatchKind {
    pub const ALL: [MismatchKind; 4] = [
        MismatchKind::Position,
        MismatchKind::OrderMissingAtBroker,
        MismatchKind::OrderFinishedAtBroker,
        MismatchKind::UnknownBrokerOrder,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            MismatchKind::Position => "POSITION",
            MismatchKind::OrderMissingAtBroker => "ORDER_MISSING_AT_BROKER",
            MismatchKind::OrderFinishedAtBroker => "ORDER_FINISHED_AT_BROKER",
            MismatchKind::UnknownBrokerOrder => "UNKNOWN_BROKER_ORDER",
        }
    }

    pub fn parse(raw: &str) -> Option<MismatchKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// A LIVE bot routed to the account and its ledger net on its contract (0 included: a flat
/// bot still names the contract it trades).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurPosition {
    pub bot_id: Uuid,
    /// The vendor's spelling of the contract (`ESZ6`, `XCME:ES.Z26`).
    pub contract: String,
    pub quantity: i64,
}

/// Our LIVE order that is not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OurOrderState {
    /// Written ahead, not acknowledged.
    Sending,
    /// Acknowledged by the broker.
    Working,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurOrder {
    pub order_id: Uuid,
    pub bot_id: Uuid,
    pub contract: String,
    pub side: Side,
    pub quantity: u32,
    pub state: OurOrderState,
    pub broker_order_id: Option<String>,
    /// Our idempotency key (the vendor's client id where it echoes one).
    pub client_id: String,
    pub sent_at: DateTime<Utc>,
    /// Contracts of it booked in our ledger.
    pub booked: u32,
    /// How long a discrepancy its runner resolves by itself may last (its bar plus the send
    /// grace): the runner books fills and acknowledgements at its next evaluation.
    pub settle: Duration,
}

/// An order as the broker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TheirOrder {
    pub broker_order_id: String,
    pub client_id: Option<String>,
    pub contract: Option<String>,
    pub side: Side,
    pub quantity: u32,
    /// Still working (pending, working, partially filled).
    pub working: bool,
    /// The broker's status name, for the message.
    pub status: String,
    /// Contracts the broker reports filled (from its fills).
    pub filled: u32,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TheirPosition {
    pub contract: String,
    pub net: i64,
}

/// Both sides of one broker account, read at one instant.
#[derive(Debug, Clone, Default)]
pub struct AccountState {
    pub ours: Vec<OurPosition>,
    pub our_orders: Vec<OurOrder>,
    pub theirs: Vec<TheirPosition>,
    pub their_orders: Vec<TheirOrder>,
}

#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// How long a `SENDING` order may be unknown to the broker (its answer in flight).
    pub send_grace: Duration,
}

/// One discrepancy, naming the bots it affects and both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub kind: MismatchKind,
    pub contract: String,
    /// Our order id or the broker's order id; empty for a position.
    pub subject: String,
    /// The LIVE bots it stops (those trading the contract at the account).
    pub bots: Vec<Uuid>,
    pub order_id: Option<Uuid>,
    pub broker_order_id: Option<String>,
    /// Our side, as a reader says it (`long 1`, `WORKING BUY 1`, `none`).
    pub ours: String,
    pub theirs: String,
    /// Signed nets of a position mismatch (ours: the ledger plus broker fills of our open
    /// orders not booked yet).
    pub ours_net: Option<i64>,
    pub theirs_net: Option<i64>,
    /// How long an order mismatch must persist before it is raised (zero for a position).
    #[serde(skip)]
    pub settle: Duration,
}

impl Mismatch {
    /// Identity across reads: kind, contract, subject.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.kind.as_str(), self.contract, self.subject)
    }

    pub fn message(&self) -> String {
        format!(
            "{} on {}: ours {}, broker {}",
            self.kind.as_str(),
            self.contract,
            self.ours,
            self.theirs
        )
    }
}

fn net_words(q: i64) -> String {
    match q {
        0 => "flat".into(),
        q if q > 0 => format!("long {q}"),
        q => format!("short {}", -q),
    }
}

fn order_words(status: &str, side: Side, quantity: u32) -> String {
    format!("{status} {} {quantity}", side.as_str())
}

/// Compares one account's two sides (module docs). Order mismatches come back with their
/// `settle`; pass them through [`Settling::observe`] and positions through [`confirm`].
pub fn compare(s: &AccountState, now: DateTime<Utc>, rules: Rules) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let bots_on = |contract: &str| -> Vec<Uuid> {
        let set: BTreeSet<Uuid> = s
            .ours
            .iter()
            .filter(|p| p.contract == contract)
            .map(|p| p.bot_id)
            .chain(
                s.our_orders
                    .iter()
                    .filter(|o| o.contract == contract)
                    .map(|o| o.bot_id),
            )
            .collect();
        set.into_iter().collect()
    };

    // Match each of our orders to the broker's.
    let mut claimed: BTreeSet<&str> = BTreeSet::new();
    let mut matched: Vec<(&OurOrder, Option<&TheirOrder>)> = Vec::new();
    for o in &s.our_orders {
        let by_id = o
            .broker_order_id
            .as_deref()
            .and_then(|id| s.their_orders.iter().find(|t| t.broker_order_id == id));
        let by_key = || {
            s.their_orders
                .iter()
                .find(|t| t.client_id.as_deref() == Some(o.client_id.as_str()))
        };
        let found = by_id.or_else(by_key);
        if let Some(t) = found {
            claimed.insert(t.broker_order_id.as_str());
        }
        matched.push((o, found));
    }
    // An unacknowledged send on a vendor without a client id: the broker's order on the same
    // contract, side and quantity that nothing else claims (as the runner resolves it).
    for (o, found) in matched.iter_mut() {
        if found.is_some() || o.state != OurOrderState::Sending {
            continue;
        }
        if let Some(t) = s.their_orders.iter().find(|t| {
            t.client_id.is_none()
                && t.contract.as_deref() == Some(o.contract.as_str())
                && t.side == o.side
                && t.quantity == o.quantity
                && t.created_at
                    .is_none_or(|at| at >= o.sent_at - Duration::seconds(5))
                && !claimed.contains(t.broker_order_id.as_str())
        }) {
            claimed.insert(t.broker_order_id.as_str());
            *found = Some(t);
        }
    }

    // Contracts with a send in flight: their positions are not compared now.
    let mut in_flight: BTreeSet<&str> = BTreeSet::new();
    // Broker fills of our open orders not yet in our ledger, per contract.
    let mut unbooked: BTreeMap<&str, i64> = BTreeMap::new();
    // How long those may stay unbooked: the longest settle of the orders they belong to.
    let mut unbooked_settle: BTreeMap<&str, Duration> = BTreeMap::new();
    for (o, found) in &matched {
        let young = now - o.sent_at < rules.send_grace;
        match found {
            None if o.state == OurOrderState::Sending && young => {
                in_flight.insert(o.contract.as_str());
            }
            None => out.push(Mismatch {
                kind: MismatchKind::OrderMissingAtBroker,
                contract: o.contract.clone(),
                subject: o.order_id.to_string(),
                bots: vec![o.bot_id],
                order_id: Some(o.order_id),
                broker_order_id: o.broker_order_id.clone(),
                ours: order_words(
                    match o.state {
                        OurOrderState::Sending => "SENDING",
                        OurOrderState::Working => "WORKING",
                    },
                    o.side,
                    o.quantity,
                ),
                theirs: "no such order".into(),
                ours_net: None,
                theirs_net: None,
                // Its runner rejects a send the broker never got at its next bar.
                settle: o.settle,
            }),
            Some(t) => {
                let extra = i64::from(t.filled) - i64::from(o.booked);
                if extra != 0 {
                    *unbooked.entry(o.contract.as_str()).or_default() += o.side.sign() * extra;
                    let settle = unbooked_settle
                        .entry(o.contract.as_str())
                        .or_insert(o.settle);
                    *settle = (*settle).max(o.settle);
                }
                if !t.working {
                    out.push(Mismatch {
                        kind: MismatchKind::OrderFinishedAtBroker,
                        contract: o.contract.clone(),
                        subject: o.order_id.to_string(),
                        bots: vec![o.bot_id],
                        order_id: Some(o.order_id),
                        broker_order_id: Some(t.broker_order_id.clone()),
                        ours: order_words("WORKING", o.side, o.quantity),
                        theirs: format!("{} ({} of {} filled)", t.status, t.filled, t.quantity),
                        ours_net: None,
                        theirs_net: None,
                        settle: o.settle,
                    });
                }
            }
        }
    }

    for t in s.their_orders.iter().filter(|t| t.working) {
        if claimed.contains(t.broker_order_id.as_str()) {
            continue;
        }
        let contract = t.contract.clone().unwrap_or_else(|| "?".into());
        out.push(Mismatch {
            kind: MismatchKind::UnknownBrokerOrder,
            bots: bots_on(&contract),
            contract,
            subject: t.broker_order_id.clone(),
            order_id: None,
            broker_order_id: Some(t.broker_order_id.clone()),
            ours: "none".into(),
            theirs: order_words(&t.status, t.side, t.quantity),
            ours_net: None,
            theirs_net: None,
            // A just-placed order of ours may show before its send is written back.
            settle: rules.send_grace,
        });
    }

    let mut contracts: BTreeSet<&str> = BTreeSet::new();
    contracts.extend(s.ours.iter().map(|p| p.contract.as_str()));
    contracts.extend(s.theirs.iter().map(|p| p.contract.as_str()));
    for c in contracts {
        if in_flight.contains(c) {
            continue;
        }
        let ledger: i64 = s
            .ours
            .iter()
            .filter(|p| p.contract == c)
            .map(|p| p.quantity)
            .sum();
        let expected = ledger + unbooked.get(c).copied().unwrap_or(0);
        let theirs: i64 = s
            .theirs
            .iter()
            .filter(|p| p.contract == c)
            .map(|p| p.net)
            .sum();
        if expected != theirs {
            let ours = if expected == ledger {
                net_words(ledger)
            } else {
                format!(
                    "{} (ledger {}, {:+} in broker fills of our orders not booked yet)",
                    net_words(expected),
                    net_words(ledger),
                    expected - ledger
                )
            };
            out.push(Mismatch {
                kind: MismatchKind::Position,
                contract: c.to_owned(),
                subject: String::new(),
                bots: bots_on(c),
                order_id: None,
                broker_order_id: None,
                ours,
                theirs: net_words(theirs),
                ours_net: Some(expected),
                theirs_net: Some(theirs),
                settle: Duration::zero(),
            });
        } else if expected != ledger {
            // The broker's net is ours only counting fills the ledger lacks: a runner books
            // them at its next evaluation; still unbooked after their order's settle time,
            // nobody is booking them (the ledger is off the broker).
            out.push(Mismatch {
                kind: MismatchKind::Position,
                contract: c.to_owned(),
                subject: "unbooked broker fills".into(),
                bots: bots_on(c),
                order_id: None,
                broker_order_id: None,
                ours: format!(
                    "{} in the ledger ({:+} in broker fills of our orders not booked)",
                    net_words(ledger),
                    expected - ledger
                ),
                theirs: net_words(theirs),
                ours_net: Some(ledger),
                theirs_net: Some(theirs),
                settle: unbooked_settle
                    .get(c)
                    .copied()
                    .unwrap_or_else(Duration::zero),
            });
        }
    }
    out.sort_by_key(Mismatch::key);
    out
}

/// Whether a first read's mismatches need a second read before any position mismatch is
/// raised.
pub fn needs_second_read(first: &[Mismatch]) -> bool {
    first.iter().any(|m| m.kind == MismatchKind::Position)
}

/// Keeps a position mismatch only when both reads show one on the contract (the second
/// read's figures); every other mismatch comes from the second read.
pub fn confirm(first: &[Mismatch], second: Vec<Mismatch>) -> Vec<Mismatch> {
    second
        .into_iter()
        .filter(|m| {
            m.kind != MismatchKind::Position
                || first
                    .iter()
                    .any(|f| f.kind == MismatchKind::Position && f.contract == m.contract)
        })
        .collect()
}

/// When each order mismatch was first seen: one that persists for its `settle` is raised;
/// one that is gone is forgotten. Positions (confirmed by a second read) pass at once.
#[derive(Debug, Clone, Default)]
pub struct Settling {
    first_seen: BTreeMap<String, DateTime<Utc>>,
}

impl Settling {
    pub fn observe(&mut self, now: DateTime<Utc>, candidates: Vec<Mismatch>) -> Vec<Mismatch> {
        let keys: BTreeSet<String> = candidates.iter().map(Mismatch::key).collect();
        self.first_seen.retain(|k, _| keys.contains(k));
        candidates
            .into_iter()
            .filter(|m| {
                let since = *self.first_seen.entry(m.key()).or_insert(now);
                now - since >= m.settle
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "reconciliation_tests.rs"]
mod tests;
