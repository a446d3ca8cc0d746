//! A broker's user stream, vendor-neutral (issue 17 part 2): what a stream client reports to
//! its owner ([`Update`]), the one bookkeeping of what the stream knows of the user's orders
//! and fills ([`UserSync`]) and the socket's timing ([`StreamConfig`]). The vendors' clients
//! (`tradovate_stream`: the trading WebSocket and `user/syncrequest`; `ironbeam_stream`:
//! `GET /stream/create` and `/stream/{streamId}`) turn their own frames into [`Update`]s; the
//! vendor's entity shapes are read here through the vendor's own parsers
//! (`tradovate::{order_of, fill_of}`, `ironbeam_stream::{order_of, fill_of, position_of}`), so
//! the runtime reads either stream the same way.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::Value;

use super::{
    Account, BrokerFill, BrokerOrder, BrokerPosition, BrokerVendor, ironbeam_stream, tradovate,
};
use crate::domain::provider::Outcome;
use crate::integrations::outcome::{Failure, codes};

/// The socket's timing.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The client heartbeat (Tradovate's `[]`, 2.5 s; Ironbeam documents none).
    pub heartbeat_every: Duration,
    /// Tradovate: no frame at all (not even `h`, sent every 2.5 s) for this long: the socket
    /// is dead.
    pub silence: Duration,
    /// Ironbeam: no frame at all (not even its ping `p`, documented "every 5 seconds") for
    /// this long: the socket is dead (default 15 s, three pings).
    pub ping_silence: Duration,
    /// Connecting, and each answer to authorize and sync (Ironbeam: the stream id and the
    /// snapshot), within this.
    pub connect_timeout: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            heartbeat_every: Duration::from_millis(2500),
            silence: Duration::from_secs(10),
            ping_silence: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What kind of entity an event changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Order,
    /// Tradovate's `orderVersion` (an order's quantity and our key).
    OrderVersion,
    /// Tradovate's `contract` (a contract id's name).
    Contract,
    Fill,
    Position,
}

/// One entity the stream reports changed (Tradovate `props`; Ironbeam `o`, `f`, `ps`).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EntityKind,
    /// Tradovate `eventType: "Deleted"` (a busted fill); Ironbeam never deletes.
    pub deleted: bool,
    /// The vendor's entity, as sent.
    pub entity: Value,
}

/// What a stream client reports to its owner.
#[derive(Debug)]
pub enum Update {
    /// The socket is open and the token accepted.
    Authorized,
    /// The user's entities now (Tradovate's sync answer; Ironbeam's REST snapshot taken on
    /// the open socket): order and fill reads may be answered from the stream from here on.
    Synced(UserSync),
    /// An entity changed.
    Event(Event),
    /// The vendor's keep-alive (Tradovate `h`, Ironbeam `p`).
    Beat,
}

/// What the stream knows of the user's orders and fills (from the sync, then its events),
/// keyed by the vendor's ids as text. The vendor's entities are kept as sent and read with
/// the vendor's parsers when asked for.
#[derive(Debug, Clone)]
pub struct UserSync {
    vendor: BrokerVendor,
    orders: BTreeMap<String, Value>,
    /// Tradovate: each order's latest version (by order id): our key (`text`), the quantity.
    versions: BTreeMap<String, Value>,
    /// Tradovate: contract names by id (from the sync, `contract` events, or read once).
    contracts: HashMap<i64, String>,
    fills: BTreeMap<String, Value>,
    /// Tradovate: a fill's commission once read (`None`: no fee record for it). Ironbeam's
    /// fills carry no commission (neither `OrderFillOpt` nor REST `OrderFill` has one).
    fees: HashMap<String, Option<Decimal>>,
    /// Ironbeam: positions by account and symbol (`ps`, `psa`).
    positions: BTreeMap<(String, String), Value>,
    /// Order and fill events applied since the sync.
    pub events: u64,
}

/// The id of `v` as text (Tradovate ids are numbers, Ironbeam's strings).
/// `path` on the REST base with its WebSocket scheme (`https` → `wss`; a plain `http`
/// sandbox → `ws`).
pub(super) fn socket_at(base: &url::Url, path: &str) -> Result<url::Url, Failure> {
    let mut url = crate::integrations::providers::join(base, path);
    let scheme = match url.scheme() {
        "https" => "wss",
        "http" => "ws",
        other => {
            return Err(Failure::new(
                Outcome::Unverifiable,
                "NOT_CONFIGURED",
                format!("no WebSocket for a {other} base URL"),
            ));
        }
    };
    url.set_scheme(scheme)
        .map_err(|()| bad_frame("the base URL cannot carry a WebSocket scheme"))?;
    Ok(url)
}

/// A frame or message the stream cannot read.
pub(super) fn bad_frame(what: &str) -> Failure {
    Failure::new(
        Outcome::ProviderError,
        codes::BAD_RESPONSE,
        format!("user stream: {what}"),
    )
}

/// The socket is gone or never opened.
pub(super) fn down(what: String) -> Failure {
    Failure::new(Outcome::Unreachable, codes::UNREACHABLE, what)
}

fn key(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_i64().map(|i| i.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

impl UserSync {
    /// Nothing known yet.
    pub fn new(vendor: BrokerVendor) -> UserSync {
        UserSync {
            vendor,
            orders: BTreeMap::new(),
            versions: BTreeMap::new(),
            contracts: HashMap::new(),
            fills: BTreeMap::new(),
            fees: HashMap::new(),
            positions: BTreeMap::new(),
            events: 0,
        }
    }

    pub fn vendor(&self) -> BrokerVendor {
        self.vendor
    }

    /// Records `entity` as the snapshot or an event reports it (not counted as an event);
    /// false when it is not one to keep (no id, a kind this vendor does not send).
    pub fn insert(&mut self, kind: EntityKind, deleted: bool, entity: &Value) -> bool {
        match (self.vendor, kind) {
            (BrokerVendor::Tradovate, EntityKind::OrderVersion) => {
                let (Some(order), Some(id)) = (key(&entity["orderId"]), entity["id"].as_i64())
                else {
                    return false;
                };
                if self
                    .versions
                    .get(&order)
                    .is_none_or(|old| old["id"].as_i64().unwrap_or(0) <= id)
                {
                    self.versions.insert(order, entity.clone());
                }
                true
            }
            (BrokerVendor::Tradovate, EntityKind::Contract) => {
                match (entity["id"].as_i64(), entity["name"].as_str()) {
                    (Some(id), Some(name)) => {
                        self.contracts.insert(id, name.to_owned());
                        true
                    }
                    _ => false,
                }
            }
            (BrokerVendor::Tradovate, EntityKind::Order | EntityKind::Fill) => {
                let Some(id) = key(&entity["id"]) else {
                    return false;
                };
                let map = if kind == EntityKind::Order {
                    &mut self.orders
                } else {
                    &mut self.fills
                };
                if deleted {
                    map.remove(&id);
                } else {
                    map.insert(id, entity.clone());
                }
                true
            }
            (BrokerVendor::Ironbeam, EntityKind::Order) => {
                let Some(id) = key(&entity["oid"]) else {
                    return false;
                };
                let merged = match self.orders.get(&id) {
                    Some(old) => ironbeam_stream::merge_order(old, entity),
                    None => entity.clone(),
                };
                self.orders.insert(id, merged);
                true
            }
            (BrokerVendor::Ironbeam, EntityKind::Fill) => {
                let Some(id) = key(&entity["ouid"]) else {
                    return false;
                };
                self.fills.insert(id, entity.clone());
                true
            }
            (BrokerVendor::Ironbeam, EntityKind::Position) => {
                let (Some(a), Some(s)) = (key(&entity["a"]), key(&entity["s"])) else {
                    return false;
                };
                self.positions.insert((a, s), entity.clone());
                true
            }
            _ => false,
        }
    }

    /// Applies one event; false when it is not one to keep. Order, fill and order-version
    /// events count in [`UserSync::events`].
    pub fn apply(&mut self, event: &Event) -> bool {
        let kept = self.insert(event.kind, event.deleted, &event.entity);
        if kept
            && matches!(
                event.kind,
                EntityKind::Order | EntityKind::Fill | EntityKind::OrderVersion
            )
        {
            self.events += 1;
        }
        kept
    }

    fn order_account(&self, o: &Value) -> Option<String> {
        match self.vendor {
            BrokerVendor::Tradovate => key(&o["accountId"]),
            BrokerVendor::Ironbeam => key(&o["a"]),
        }
    }

    fn account_orders(&self, account: &Account) -> Vec<&String> {
        self.orders
            .iter()
            .filter(|(_, o)| self.order_account(o).as_deref() == Some(account.id.as_str()))
            .map(|(id, _)| id)
            .collect()
    }

    fn account_fills<'a>(
        &'a self,
        account: &Account,
    ) -> impl Iterator<Item = (&'a String, &'a Value)> {
        let ours = self.account_orders(account);
        let vendor = self.vendor;
        let id = account.id.clone();
        self.fills.iter().filter(move |(_, f)| match vendor {
            BrokerVendor::Tradovate => {
                key(&f["orderId"]).is_some_and(|o| ours.contains(&&o))
                    && f["active"].as_bool() != Some(false)
            }
            // A fill names its account (`a`); without one, its order's.
            BrokerVendor::Ironbeam => match key(&f["a"]) {
                Some(a) => a == id,
                None => key(&f["oid"]).is_some_and(|o| ours.contains(&&o)),
            },
        })
    }

    /// The account's fills whose fee has not been read yet (Tradovate's fill ids; Ironbeam
    /// reports no fee to read: none).
    pub fn fees_unknown(&self, account: &Account) -> Vec<i64> {
        if self.vendor != BrokerVendor::Tradovate {
            return Vec::new();
        }
        self.account_fills(account)
            .filter(|(id, _)| !self.fees.contains_key(*id))
            .filter_map(|(id, _)| id.parse().ok())
            .collect()
    }

    /// Records the fees read for `asked` (`found`: those the vendor has a record for).
    pub fn set_fees(&mut self, asked: &[i64], found: &[(i64, Decimal)]) {
        for id in asked {
            let fee = found.iter().find(|(f, _)| f == id).map(|(_, d)| *d);
            self.fees.insert(id.to_string(), fee);
        }
    }

    /// The account's fills with their commission (Tradovate fills whose fee is unknown are
    /// left out: read them first, [`UserSync::fees_unknown`]; Ironbeam's have none, so the
    /// configured rate applies when they are booked).
    pub fn fills(&self, account: &Account) -> Result<Vec<BrokerFill>, Failure> {
        match self.vendor {
            BrokerVendor::Tradovate => self
                .account_fills(account)
                .filter_map(|(id, f)| self.fees.get(id).map(|fee| (f, *fee)))
                .map(|(f, fee)| tradovate::fill_of(f, fee))
                .collect(),
            BrokerVendor::Ironbeam => self
                .account_fills(account)
                .map(|(_, f)| ironbeam_stream::fill_of(f))
                .collect(),
        }
    }

    /// Contracts of the account's orders whose name is not known yet (Tradovate; Ironbeam's
    /// orders carry their symbol).
    pub fn contracts_unknown(&self, account: &Account) -> Vec<i64> {
        if self.vendor != BrokerVendor::Tradovate {
            return Vec::new();
        }
        let mut ids: Vec<i64> = self
            .account_orders(account)
            .into_iter()
            .filter_map(|id| self.orders[id]["contractId"].as_i64())
            .filter(|c| !self.contracts.contains_key(c))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    pub fn set_contract(&mut self, id: i64, name: String) {
        self.contracts.insert(id, name);
    }

    /// The account's orders as the broker reports them (a Tradovate order whose contract name
    /// is not known yet has no symbol: read them first, [`UserSync::contracts_unknown`]).
    pub fn orders(&self, account: &Account) -> Result<Vec<BrokerOrder>, Failure> {
        self.account_orders(account)
            .into_iter()
            .map(|id| {
                let o = &self.orders[id];
                match self.vendor {
                    BrokerVendor::Tradovate => {
                        let symbol = o["contractId"]
                            .as_i64()
                            .and_then(|c| self.contracts.get(&c).cloned());
                        tradovate::order_of(o, self.versions.get(id), symbol)
                    }
                    BrokerVendor::Ironbeam => ironbeam_stream::order_of(o),
                }
            })
            .collect()
    }

    /// The account's positions the stream reported (Ironbeam `ps`/`psa`; the runtime's
    /// reconciliation still reads them over REST).
    pub fn positions(&self, account: &Account) -> Vec<BrokerPosition> {
        self.positions
            .iter()
            .filter(|((a, _), _)| *a == account.id)
            .filter_map(|(_, p)| ironbeam_stream::position_of(p))
            .collect()
    }

    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    pub fn fill_count(&self) -> usize {
        self.fills.len()
    }
}
