//! Broker execution clients (issue 17): one module per vendor, each speaking the vendor's own
//! REST shapes through the one call path (`integrations::http`: time-boxed, rate-limited, one
//! usage event per call, secrets redacted). This module holds what both vendors share: the
//! order we send, what we read back (orders, fills, positions) and how a send can end.
//!
//! - Tradovate (`tradovate`): `POST /auth/accesstokenrequest` (a refusal is HTTP 200 with
//!   `errorText`, a penalty is `p-ticket`; never retried), `GET /auth/renewaccesstoken`,
//!   `POST /order/placeorder` carrying our idempotency key as `clOrdId` and `text`,
//!   `POST /order/cancelorder`, `POST /order/modifyorder`, `GET /order/list`, `GET /orderVersion/list`, `GET /fill/list`,
//!   `GET /fillFee/list`, `GET /fillFee/items`, `GET /position/list`, `GET /contract/item`;
//!   its user stream (`tradovate_stream`: the trading WebSocket, `user/syncrequest`).
//! - Ironbeam (`ironbeam`): `POST /auth`, `GET /info/trader`, `POST /order/{accountId}/place`,
//!   `DELETE /order/{accountId}/cancel/{orderId}`, `DELETE /order/{accountId}/cancelMultiple`,
//!   `PUT /order/{accountId}/update/{orderId}`,
//!   `GET /order/{accountId}/{orderStatus}`, `GET /order/{accountId}/fills`,
//!   `GET /account/{accountId}/positions`, `GET /stream/create`; its user stream
//!   (`ironbeam_stream`: the WebSocket `/stream/{streamId}?token=`, a new stream id per
//!   socket). Both streams report through `user_stream` (one `Update`, one `UserSync`). Its
//!   order request has no client order id
//!   (`OrderRequest` is `additionalProperties: false` without one), so a send whose answer was
//!   lost is found again by [`match_unacknowledged`], never by sending again.
//!
//! The verify-only calls stay in `providers::brokers`.

pub mod ironbeam;
pub mod ironbeam_stream;
pub mod tradovate;
pub mod tradovate_stream;
pub mod user_stream;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{
    http::{ProviderHttp, Reply},
    outcome::{Failure, codes},
    registry::{ProviderConfig, RateLimit},
    usage::UsageSink,
};
use crate::clock::Clock;
use crate::config::Secret;
use crate::domain::{
    contracts::{Contract, Vendor},
    execution::OrderType,
    provider::Outcome,
    side::Side,
};

/// The broker vendors we execute with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BrokerVendor {
    Tradovate,
    Ironbeam,
}

impl BrokerVendor {
    pub const ALL: [BrokerVendor; 2] = [BrokerVendor::Tradovate, BrokerVendor::Ironbeam];

    /// The provider id in the registry (and on `orders.broker`).
    pub const fn id(self) -> &'static str {
        match self {
            BrokerVendor::Tradovate => "tradovate",
            BrokerVendor::Ironbeam => "ironbeam",
        }
    }

    pub fn parse(raw: &str) -> Option<BrokerVendor> {
        Self::ALL.into_iter().find(|v| v.id() == raw)
    }

    /// How this vendor spells contracts (`domain::contracts`).
    pub const fn spelling(self) -> Vendor {
        match self {
            BrokerVendor::Tradovate => Vendor::Tradovate,
            BrokerVendor::Ironbeam => Vendor::Ironbeam,
        }
    }

    /// Whether the vendor cancels many orders in one request (Ironbeam `cancelMultiple`, up
    /// to 1,000 ids; Tradovate documents no bulk cancel: `cancelorder` is one order).
    pub const fn offers_bulk_cancel(self) -> bool {
        matches!(self, BrokerVendor::Ironbeam)
    }

    /// The request budget the execution session paces itself under: Ironbeam's empirical hard
    /// limit is 10 requests per sliding second (we keep 8, so a burst never trips the 15–30 s
    /// cooldown); Tradovate documents 5,000 per hour as its tightest general budget (80 per
    /// minute stays under it).
    pub const fn trading_rate_limit(self) -> RateLimit {
        match self {
            BrokerVendor::Tradovate => RateLimit {
                count: 80,
                per: Duration::from_secs(60),
            },
            BrokerVendor::Ironbeam => RateLimit {
                count: 8,
                per: Duration::from_secs(1),
            },
        }
    }

    /// The share of the trading budget reads (the orders, fills and positions polls, the
    /// session's heartbeat) may take: three quarters. Many LIVE bots polling at once would
    /// otherwise spend all of it and an order, a cancel or a flatten would wait behind their
    /// reads; the lane leaves at least a quarter (Ironbeam 2 a second, Tradovate 20 a minute)
    /// to the writes.
    pub const fn read_lane_limit(self) -> RateLimit {
        let budget = self.trading_rate_limit();
        let count = budget.count * 3 / 4;
        RateLimit {
            count: if count == 0 { 1 } else { count },
            per: budget.per,
        }
    }
}

/// What a cancel of many orders did at the broker. Only [`Cancels::cancelled`] may be
/// closed in the ledger: an order the broker reports filled or rejected before the cancel
/// reached it (Tradovate `TooLate`, an Ironbeam answer's order state) stays open until its
/// fills or its final state are read from the broker.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cancels {
    /// Cancelled, or holding a cancel at the broker.
    pub cancelled: Vec<String>,
    pub not_cancelled: Vec<String>,
}

impl Cancels {
    fn push(&mut self, id: &str, taken: bool) {
        if taken {
            self.cancelled.push(id.to_owned());
        } else {
            self.not_cancelled.push(id.to_owned());
        }
    }
}

/// Day or good-till-cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TimeInForce {
    Day,
    Gtc,
}

/// One order as we send it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    /// Our idempotency key (the vendor's client order id where it has one).
    pub client_id: String,
    pub contract: Contract,
    pub side: Side,
    pub quantity: u32,
    pub order_type: OrderType,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub time_in_force: TimeInForce,
}

/// A working order's new terms (moving a stop, re-pricing a limit, changing the size): the
/// order keeps its id at the broker. Tradovate `POST /order/modifyorder` asks for the whole
/// terms (quantity, type, prices, time in force); Ironbeam `PUT /order/{accountId}/update/{orderId}`
/// for the quantity and the price that changes.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderModify {
    pub quantity: u32,
    pub order_type: OrderType,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub time_in_force: TimeInForce,
}

/// A logged-in session: the bearer token, when it expires (when the vendor says), the
/// account orders go to, and whether the vendor reports it live.
#[derive(Clone)]
pub struct Login {
    pub token: Secret,
    pub expires_at: Option<DateTime<Utc>>,
    /// Tradovate: `hasLive` of the user; Ironbeam: `isLive` of the trader.
    pub is_live: Option<bool>,
    /// Tradovate's `userId` (what the user stream's `user/syncrequest` names); Ironbeam: none.
    pub user_id: Option<i64>,
}

/// The account a session trades.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Tradovate: the numeric account id; Ironbeam: the account id.
    pub id: String,
    /// Tradovate's `accountSpec` (the account name); Ironbeam: the account id again.
    pub spec: String,
}

/// Where an order stands at the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BrokerOrderStatus {
    /// Accepted, not yet working (pending new).
    Pending,
    Working,
    PartiallyFilled,
    Filled,
    Cancelled,
    Rejected,
    Expired,
}

impl BrokerOrderStatus {
    /// No further fills can come.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            BrokerOrderStatus::Filled
                | BrokerOrderStatus::Cancelled
                | BrokerOrderStatus::Rejected
                | BrokerOrderStatus::Expired
        )
    }
}

/// An order as the broker reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokerOrder {
    pub broker_order_id: String,
    /// Our key, where the vendor echoes it (Tradovate `text`).
    pub client_id: Option<String>,
    /// The vendor's contract spelling (Tradovate: resolved from `contractId`).
    pub symbol: Option<String>,
    pub side: Side,
    pub quantity: u32,
    pub status: BrokerOrderStatus,
    pub created_at: Option<DateTime<Utc>>,
    /// The terms the broker holds: its type (`None`: one we do not trade, e.g. stop-limit, or
    /// not reported) and prices.
    pub terms: OrderTerms,
}

/// An order's type and prices as a broker reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct OrderTerms {
    pub order_type: Option<OrderType>,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
}

/// One execution as the broker reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokerFill {
    /// Unique per fill (Tradovate fill `id`; Ironbeam `orderUpdateId`).
    pub fill_id: String,
    pub broker_order_id: String,
    pub side: Side,
    pub quantity: u32,
    pub price: Decimal,
    /// What the vendor reports (Tradovate `fillFee`); `None` when it reports none (Ironbeam's
    /// fills carry no commission: the configured per-contract rate is booked instead).
    pub commission: Option<Decimal>,
    pub filled_at: DateTime<Utc>,
}

/// A net position at the broker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokerPosition {
    /// The vendor's contract spelling.
    pub symbol: String,
    /// Signed: long > 0.
    pub net: i64,
    pub avg_price: Option<Decimal>,
}

/// How a send ended when it did not give an order id.
#[derive(Debug, Clone)]
pub enum SendError {
    /// The broker refused the order (margin, closed market, bad symbol…): nothing is working.
    Rejected { reason: String },
    /// No usable answer (timeout, transport, 5xx, 429): the order may or may not exist at the
    /// broker. Resolve by reading its orders; never by sending again.
    Unknown(Failure),
    /// Refused before the broker acted on it (our limiter, a dead token: 401): not sent.
    NotSent(Failure),
}

impl SendError {
    fn from_failure(f: Failure) -> SendError {
        match f.outcome {
            Outcome::InvalidCredentials => SendError::NotSent(f),
            // Our own limiter, or the vendor's 429: the order was not processed.
            Outcome::RateLimited if f.http_status == Some(429) => SendError::NotSent(f),
            _ if f.code == codes::LOCAL_RATE_LIMITED => SendError::NotSent(f),
            _ => SendError::Unknown(f),
        }
    }
}

/// A vendor's execution client.
pub enum BrokerClient {
    Tradovate(tradovate::Tradovate),
    Ironbeam(ironbeam::Ironbeam),
}

/// What every vendor client holds: the call path (paced at the trading budget), the base URL
/// and the credentials.
pub struct ClientBase {
    pub http: ProviderHttp,
    pub config: ProviderConfig,
    pub base: url::Url,
}

impl ClientBase {
    fn new(
        mut config: ProviderConfig,
        vendor: BrokerVendor,
        sink: Arc<dyn UsageSink>,
        timeout: Duration,
        clock: Clock,
    ) -> Result<ClientBase, String> {
        if !config.configured() {
            return Err(format!("{} is not configured", vendor.id()));
        }
        let base = config
            .base_url
            .clone()
            .ok_or_else(|| format!("{} has no usable base URL", vendor.id()))?;
        config.rate_limit = vendor.trading_rate_limit();
        let http = ProviderHttp::new(&config, sink, timeout, clock)
            .map_err(|e| e.to_string())?
            .with_read_lane(vendor.read_lane_limit());
        Ok(ClientBase { http, config, base })
    }

    fn secret(&self, name: &str) -> Result<Secret, Failure> {
        self.config.secret(name).cloned().ok_or_else(|| {
            Failure::new(
                Outcome::Unverifiable,
                "NOT_CONFIGURED",
                format!("{name} is not set"),
            )
        })
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.config.secret(name).map(|s| s.expose().to_owned())
    }

    fn url(&self, path: &str) -> url::Url {
        super::providers::join(&self.base, path)
    }

    /// `<ID>_ENV=live`.
    pub fn wants_live(&self) -> bool {
        let var = format!("{}_ENV", self.config.spec.id.to_ascii_uppercase());
        self.optional(&var)
            .is_some_and(|v| v.eq_ignore_ascii_case("live"))
    }

    fn excerpt(&self, r: &Reply) -> String {
        self.http
            .redactor()
            .redact(&String::from_utf8_lossy(&r.body[..r.body.len().min(300)]))
    }
}

impl BrokerClient {
    /// The client for `vendor` from its provider configuration.
    pub fn new(
        vendor: BrokerVendor,
        config: ProviderConfig,
        sink: Arc<dyn UsageSink>,
        timeout: Duration,
        clock: Clock,
    ) -> Result<BrokerClient, String> {
        let base = ClientBase::new(config, vendor, sink, timeout, clock)?;
        Ok(match vendor {
            BrokerVendor::Tradovate => BrokerClient::Tradovate(tradovate::Tradovate { base }),
            BrokerVendor::Ironbeam => BrokerClient::Ironbeam(ironbeam::Ironbeam { base }),
        })
    }

    pub fn vendor(&self) -> BrokerVendor {
        match self {
            BrokerClient::Tradovate(_) => BrokerVendor::Tradovate,
            BrokerClient::Ironbeam(_) => BrokerVendor::Ironbeam,
        }
    }

    pub fn base(&self) -> &ClientBase {
        match self {
            BrokerClient::Tradovate(c) => &c.base,
            BrokerClient::Ironbeam(c) => &c.base,
        }
    }

    /// One login attempt (never retried: a Tradovate penalty grows with every bad login).
    pub async fn login(&self) -> Result<Login, Failure> {
        match self {
            BrokerClient::Tradovate(c) => c.login().await,
            BrokerClient::Ironbeam(c) => c.login().await,
        }
    }

    /// Extends the session before it expires (Tradovate `renewaccesstoken`); Ironbeam has no
    /// renewal, so it logs in again.
    pub async fn renew(&self, login: &Login) -> Result<Login, Failure> {
        match self {
            BrokerClient::Tradovate(c) => c.renew(&login.token).await,
            BrokerClient::Ironbeam(c) => c.login().await,
        }
    }

    /// The account orders go to, and whether the vendor says it is live (`isLive`).
    pub async fn account(&self, login: &Login) -> Result<(Account, Option<bool>), Failure> {
        match self {
            BrokerClient::Tradovate(c) => c.account(&login.token).await,
            BrokerClient::Ironbeam(c) => c.trader(&login.token).await,
        }
    }

    /// Sends one order; `Ok` is the broker's order id.
    pub async fn place(
        &self,
        login: &Login,
        account: &Account,
        order: &OrderRequest,
    ) -> Result<String, SendError> {
        match self {
            BrokerClient::Tradovate(c) => c.place(&login.token, account, order).await,
            BrokerClient::Ironbeam(c) => c.place(&login.token, account, order).await,
        }
    }

    /// Cancels one order. `Err` also when the broker answers that the order had finished
    /// otherwise (filled, rejected): nothing was cancelled, its fills are booked as any fill.
    pub async fn cancel(
        &self,
        login: &Login,
        account: &Account,
        broker_order_id: &str,
    ) -> Result<(), Failure> {
        let taken = match self {
            BrokerClient::Tradovate(c) => c.cancel(&login.token, broker_order_id).await?,
            BrokerClient::Ironbeam(c) => c.cancel(&login.token, account, broker_order_id).await?,
        };
        if taken {
            Ok(())
        } else {
            Err(Failure::new(
                Outcome::ProviderError,
                codes::PROVIDER_HTTP_4XX,
                format!(
                    "the broker reports order {broker_order_id} no longer working: not cancelled"
                ),
            ))
        }
    }

    /// Changes a working order's terms (`OrderModify`). `Rejected`: the broker refused (too
    /// late, a bad price); the order stands as it was.
    pub async fn modify(
        &self,
        login: &Login,
        account: &Account,
        broker_order_id: &str,
        change: &OrderModify,
    ) -> Result<(), SendError> {
        match self {
            BrokerClient::Tradovate(c) => c.modify(&login.token, broker_order_id, change).await,
            BrokerClient::Ironbeam(c) => {
                c.modify(&login.token, account, broker_order_id, change)
                    .await
            }
        }
    }

    /// Cancels many orders, in one request where the vendor offers bulk cancel (Ironbeam
    /// `cancelMultiple`, up to 1,000 ids), one by one otherwise.
    /// A failure stops at once (the rest are not asked); an order the broker reports
    /// finished otherwise is named in [`Cancels::not_cancelled`] and the others still go.
    pub async fn cancel_many(
        &self,
        login: &Login,
        account: &Account,
        ids: &[String],
    ) -> Result<Cancels, Failure> {
        let mut out = Cancels::default();
        match self {
            BrokerClient::Tradovate(c) => {
                for id in ids {
                    let taken = c.cancel(&login.token, id).await?;
                    out.push(id, taken);
                }
            }
            BrokerClient::Ironbeam(c) => {
                for chunk in ids.chunks(1000) {
                    let cancelled = c.cancel_multiple(&login.token, account, chunk).await?;
                    for id in chunk {
                        out.push(id, cancelled.contains(id));
                    }
                }
            }
        }
        Ok(out)
    }

    pub async fn orders(
        &self,
        login: &Login,
        account: &Account,
    ) -> Result<Vec<BrokerOrder>, Failure> {
        match self {
            BrokerClient::Tradovate(c) => c.orders(&login.token, account).await,
            BrokerClient::Ironbeam(c) => c.orders(&login.token, account, "ANY").await,
        }
    }

    pub async fn fills(
        &self,
        login: &Login,
        account: &Account,
    ) -> Result<Vec<BrokerFill>, Failure> {
        match self {
            BrokerClient::Tradovate(c) => c.fills(&login.token, account).await,
            BrokerClient::Ironbeam(c) => c.fills(&login.token, account).await,
        }
    }

    pub async fn positions(
        &self,
        login: &Login,
        account: &Account,
    ) -> Result<Vec<BrokerPosition>, Failure> {
        match self {
            BrokerClient::Tradovate(c) => c.positions(&login.token, account).await,
            BrokerClient::Ironbeam(c) => c.positions(&login.token, account).await,
        }
    }
}

/// The broker order a send whose answer was lost became, if any: Tradovate echoes our key
/// (`text`); Ironbeam does not, so the order is the one on the same contract, side and
/// quantity created at or after the send that no other order of ours already claims.
pub fn match_unacknowledged<'a>(
    orders: &'a [BrokerOrder],
    request: &OrderRequest,
    vendor: BrokerVendor,
    sent_at: DateTime<Utc>,
    claimed: &[String],
) -> Option<&'a BrokerOrder> {
    if let Some(o) = orders
        .iter()
        .find(|o| o.client_id.as_deref() == Some(request.client_id.as_str()))
    {
        return Some(o);
    }
    if vendor == BrokerVendor::Tradovate {
        // Tradovate echoes the key: no echo means no order.
        return None;
    }
    let symbol = request.contract.spelled_for(vendor.spelling());
    orders.iter().find(|o| {
        o.client_id.is_none()
            && o.symbol.as_deref() == Some(symbol.as_str())
            && o.side == request.side
            && o.quantity == request.quantity
            && o.created_at
                .is_none_or(|t| t >= sent_at - chrono::Duration::seconds(5))
            && !claimed.contains(&o.broker_order_id)
    })
}

/// A price as vendors take it (a JSON number).
fn price_json(p: Decimal) -> serde_json::Value {
    serde_json::Number::from_f64(p.try_into().unwrap_or(0.0))
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// A JSON number as a decimal on the contract's tick (vendors send doubles). A magnitude of a
/// trillion or more (no price, quantity or amount a futures account sees) is garbled: refused,
/// so position and PnL arithmetic never overflows on it.
fn decimal_of(v: &serde_json::Value) -> Option<Decimal> {
    let d: Decimal = match v {
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Decimal::from)
            .or_else(|| n.as_f64().and_then(|f| Decimal::try_from(f).ok()))
            .map(|d| d.round_dp(6).normalize()),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }?;
    (d.abs() < Decimal::from(1_000_000_000_000_i64)).then_some(d)
}

fn parse_time(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    let t = match v {
        serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        serde_json::Value::Number(n) => n.as_i64().and_then(DateTime::from_timestamp_millis),
        _ => None,
    };
    // A year no broker means (a garbled field) is no time: date arithmetic on it would panic.
    t.filter(|t| crate::domain::instants::supported(*t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn garbled_vendor_numbers_and_times_are_refused_not_carried() {
        assert_eq!(decimal_of(&json!(5012.25)), Some(Decimal::new(501225, 2)));
        assert_eq!(decimal_of(&json!("5012.25")), Some(Decimal::new(501225, 2)));
        assert_eq!(decimal_of(&json!("2000000000000000000000000000")), None);
        assert_eq!(decimal_of(&json!(-1e13)), None);
        assert!(parse_time(&json!("2026-12-07T15:00:00Z")).is_some());
        assert!(parse_time(&json!(1_796_655_600_000_i64)).is_some());
        // Years no broker means: a date arithmetic on them would panic.
        assert_eq!(parse_time(&json!(8_210_266_876_799_000_i64)), None);
        assert_eq!(parse_time(&json!(-8_334_601_315_200_000_i64)), None);
    }
}
