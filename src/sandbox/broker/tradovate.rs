//! Tradovate's REST v1 as the simulator answers it: login refusals and penalties on HTTP 200
//! (`errorText`, `p-ticket`), 401 for a missing or dead token, command failures on HTTP 200
//! (`failureReason`, `failureText`), entity lists as JSON arrays.

use std::collections::HashMap;

use axum::{
    body::Bytes,
    http::{HeaderMap, Method, StatusCode},
    response::Response,
};
use chrono::{DateTime, Datelike, Utc};
use serde_json::{Value, json};

use super::engine::{self, SimFill, SimOrder, SimOrderKind, SimStatus};
use super::{BrokerFault, BrokerSim, sim_json};
use crate::domain::{
    contracts::{Contract, Vendor},
    side::Side,
};
use crate::sandbox::json_reply;

pub(super) const VENDOR: &str = "tradovate";
pub(super) const ACCOUNT_ID: i64 = 1;
/// The demo login's `userId` (what `user/syncrequest` names).
pub(super) const USER_ID: i64 = 1;
const ACCOUNT_NAME: &str = "SANDBOX1";

/// `ESZ6` → the contract (the one-digit year is the nearest listed one).
pub fn contract_of(symbol: &str, now: DateTime<Utc>) -> Option<Contract> {
    let s = symbol.trim();
    let (head, digit) = s.split_at(s.len().checked_sub(1)?);
    let digit: i32 = digit.parse().ok()?;
    let mut year = now.year() - now.year().rem_euclid(10) + digit;
    if year < now.year() - 1 {
        year += 10;
    }
    let c = Contract::parse(&format!("{head}{:02}", year.rem_euclid(100)))?;
    (c.spelled_for(Vendor::Tradovate) == s).then_some(c)
}

/// A stable contract id per contract name.
fn contract_id(name: &str) -> i64 {
    let h = name.bytes().fold(1_000_003_i64, |h, b| {
        (h * 31 + i64::from(b)) % 1_000_000_007
    });
    1000 + h % 1_000_000
}

fn denied() -> Response {
    json_reply(StatusCode::UNAUTHORIZED, json!("Access is denied"))
}

fn failure(reason: &str, text: &str) -> Response {
    sim_json(json!({"failureReason": reason, "failureText": text}))
}

fn action(side: Side) -> &'static str {
    match side {
        Side::Buy => "Buy",
        Side::Sell => "Sell",
    }
}

fn ord_status(s: SimStatus) -> &'static str {
    match s {
        SimStatus::Working | SimStatus::PartiallyFilled => "Working",
        SimStatus::Filled => "Filled",
        SimStatus::Cancelled => "Canceled",
        SimStatus::Rejected => "Rejected",
    }
}

fn trade_date(t: DateTime<Utc>) -> Value {
    json!({"year": t.year(), "month": t.month(), "day": t.day()})
}

pub(super) async fn route(
    sim: &BrokerSim,
    now: DateTime<Utc>,
    method: &Method,
    path: &[&str],
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Option<Response> {
    let get = method == Method::GET;
    let post = method == Method::POST;
    if let ["auth", "accesstokenrequest"] = path
        && post
    {
        let b: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if sim.take(VENDOR, BrokerFault::RateLimited) {
            return Some(sim_json(
                json!({"p-ticket": "sim-penalty", "p-time": 15, "p-captcha": false}),
            ));
        }
        let filled = |k: &str| match &b[k] {
            Value::String(s) => !s.is_empty(),
            Value::Number(_) => true,
            _ => false,
        };
        if !["name", "password", "appId", "appVersion", "cid", "sec"]
            .iter()
            .all(|k| filled(k))
        {
            return Some(sim_json(
                json!({"errorText": "Incorrect username or password. Please try again."}),
            ));
        }
        let (token, expires) = sim.issue_token(VENDOR, now);
        return Some(sim_json(json!({
            "accessToken": token, "mdAccessToken": format!("md-{token}"),
            "expirationTime": expires.to_rfc3339(), "userStatus": "Active", "userId": USER_ID,
            "name": b["name"], "hasLive": false,
        })));
    }
    if !sim.authorized(VENDOR, headers, now) {
        return Some(denied());
    }
    if sim.take(VENDOR, BrokerFault::RateLimited) {
        return Some(json_reply(StatusCode::TOO_MANY_REQUESTS, Value::Null));
    }
    Some(match path {
        ["auth", "renewaccesstoken"] if get => match sim.renew(headers, now) {
            Some((token, expires)) => sim_json(json!({
                "accessToken": token, "mdAccessToken": format!("md-{token}"),
                "expirationTime": expires.to_rfc3339(), "userStatus": "Active", "userId": USER_ID,
                "name": "sandbox", "hasLive": false,
            })),
            None => denied(),
        },
        ["auth", "me"] if get => {
            sim_json(json!({"userId": 1, "name": "sandbox", "fullName": "Sandbox User"}))
        }
        ["account", "list"] if get => sim_json(json!([account_json()])),
        ["order", "placeorder"] if post => place(sim, now, body).await,
        ["order", "cancelorder"] if post => {
            let b: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let Some(id) = b["orderId"].as_u64() else {
                return Some(failure("UnknownReason", "orderId is required"));
            };
            match sim.cancel(VENDOR, id, now) {
                Some(o) if o.status == SimStatus::Cancelled => {
                    sim_json(json!({"commandId": sim.next_id()}))
                }
                Some(_) => failure("TooLate", "the order is no longer working"),
                None => failure("UnknownReason", "no such order"),
            }
        }
        ["order", "modifyorder"] if post => modify(sim, now, body),
        ["order", "list"] if get => {
            let (orders, _) = sim.advance(VENDOR, now);
            sim_json(Value::Array(orders.iter().map(order_json).collect()))
        }
        ["orderVersion", "list"] if get => {
            let (orders, _) = sim.advance(VENDOR, now);
            sim_json(Value::Array(orders.iter().map(version_json).collect()))
        }
        ["fill", "list"] if get => {
            let (_, fills) = sim.advance(VENDOR, now);
            sim_json(Value::Array(fills.iter().map(fill_json).collect()))
        }
        ["fillFee", "list"] if get => {
            let (_, fills) = sim.advance(VENDOR, now);
            sim_json(Value::Array(fills.iter().map(fee_json).collect()))
        }
        // The generic entity read (`/<entity>/items?ids=1,2`): the fees of those fills.
        ["fillFee", "items"] if get => {
            let Some(ids) = query
                .get("ids")
                .map(|v| {
                    v.split(',')
                        .map(|i| i.trim().parse::<u64>())
                        .collect::<Result<Vec<_>, _>>()
                })
                .and_then(Result::ok)
            else {
                return Some(json_reply(
                    StatusCode::BAD_REQUEST,
                    json!("ids must be a comma-separated list of ids"),
                ));
            };
            let (_, fills) = sim.advance(VENDOR, now);
            sim_json(Value::Array(
                fills
                    .iter()
                    .filter(|f| ids.contains(&f.id))
                    .map(fee_json)
                    .collect(),
            ))
        }
        ["position", "list"] if get => {
            let (_, fills) = sim.advance(VENDOR, now);
            sim_json(Value::Array(positions_json(&fills, now)))
        }
        ["contract", "item"] if get => {
            let id: i64 = query.get("id").and_then(|v| v.parse().ok()).unwrap_or(0);
            let (orders, _) = sim.advance(VENDOR, now);
            match orders.iter().find(|o| contract_id(&o.symbol) == id) {
                Some(o) => sim_json(contract_json(&o.symbol)),
                None => json_reply(StatusCode::NOT_FOUND, Value::Null),
            }
        }
        _ => return None,
    })
}

/// A `Fill` entity.
pub(super) fn fill_json(f: &SimFill) -> Value {
    json!({
        "id": f.id, "orderId": f.order_id, "contractId": contract_id(&f.symbol),
        "timestamp": f.at.to_rfc3339(), "tradeDate": trade_date(f.at),
        "action": action(f.side), "qty": f.quantity, "price": f.price,
        "active": true, "finallyPaired": 0,
    })
}

/// A `FillFee` entity: $0.59 commission and $1.66 fees per contract, $2.25 in all.
fn fee_json(f: &SimFill) -> Value {
    let q = f64::from(f.quantity);
    json!({
        "id": f.id, "commission": 0.59 * q, "clearingFee": 0.19 * q,
        "exchangeFee": 1.38 * q, "nfaFee": 0.02 * q, "brokerageFee": 0.0,
        "ipFee": 0.0, "orderRoutingFee": 0.07 * q, "currencyId": 1,
    })
}

/// The account's `Position` entities from the fills.
pub(super) fn positions_json(fills: &[SimFill], now: DateTime<Utc>) -> Vec<Value> {
    engine::positions(fills, &ACCOUNT_ID.to_string())
        .into_iter()
        .map(|(symbol, net, avg)| position_json(&symbol, net, avg, now))
        .collect()
}

pub(super) fn position_json(symbol: &str, net: i64, avg: f64, now: DateTime<Utc>) -> Value {
    json!({
        "id": contract_id(symbol) * 10 + ACCOUNT_ID, "accountId": ACCOUNT_ID,
        "contractId": contract_id(symbol), "timestamp": now.to_rfc3339(),
        "tradeDate": trade_date(now), "netPos": net,
        "netPrice": if net == 0 { Value::Null } else { json!(avg) },
        "prevPos": 0,
    })
}

/// A `Contract` entity.
pub(super) fn contract_json(symbol: &str) -> Value {
    let id = contract_id(symbol);
    json!({"id": id, "name": symbol, "contractMaturityId": id, "status": "Verified", "providerTickSize": 0.25})
}

/// The demo user's one `Account` entity.
pub(super) fn account_json() -> Value {
    json!({
        "id": ACCOUNT_ID, "name": ACCOUNT_NAME, "userId": USER_ID, "accountType": "Customer",
        "active": true, "clearingHouseId": 1, "riskCategoryId": 1, "autoLiqProfileId": 1,
        "marginAccountType": "Speculator", "legalStatus": "Individual", "archived": false,
        "timestamp": "2026-01-01T00:00:00Z",
    })
}

pub(super) fn order_json(o: &SimOrder) -> Value {
    json!({
        "id": o.id, "accountId": o.account.parse::<i64>().unwrap_or(ACCOUNT_ID),
        "contractId": contract_id(&o.symbol), "timestamp": o.created_at.to_rfc3339(),
        "action": action(o.side), "ordStatus": ord_status(o.status), "admin": false,
    })
}

pub(super) fn version_json(o: &SimOrder) -> Value {
    let (kind, price, stop) = match o.kind {
        SimOrderKind::Market => ("Market", Value::Null, Value::Null),
        SimOrderKind::Limit(p) => ("Limit", json!(p), Value::Null),
        SimOrderKind::Stop(p) => ("Stop", Value::Null, json!(p)),
    };
    json!({
        "id": o.id, "orderId": o.id, "orderQty": o.quantity, "orderType": kind,
        "price": price, "stopPrice": stop, "timeInForce": o.time_in_force,
        "text": o.client_id,
    })
}

/// `POST /order/modifyorder` (`ModifyOrder`): `orderId`, `orderQty`, `orderType` with its
/// price, `isAutomated`; a `CommandResult` or a failure on HTTP 200.
fn modify(sim: &BrokerSim, now: DateTime<Utc>, body: &Bytes) -> Response {
    let Ok(b) = serde_json::from_slice::<Value>(body) else {
        return json_reply(StatusCode::BAD_REQUEST, json!("malformed JSON"));
    };
    if b["isAutomated"].as_bool() != Some(true) {
        return failure(
            "UnknownReason",
            "isAutomated must be true for automated orders",
        );
    }
    let Some(id) = b["orderId"].as_u64() else {
        return failure("UnknownReason", "orderId is required");
    };
    let Some(quantity) = b["orderQty"]
        .as_u64()
        .and_then(|q| u32::try_from(q).ok())
        .filter(|q| *q > 0)
    else {
        return failure("UnknownReason", "orderQty must be a positive integer");
    };
    let kind = match (
        b["orderType"].as_str(),
        b["price"].as_f64(),
        b["stopPrice"].as_f64(),
    ) {
        (Some("Market"), _, _) => SimOrderKind::Market,
        (Some("Limit"), Some(p), _) => SimOrderKind::Limit(p),
        (Some("Stop"), _, Some(p)) => SimOrderKind::Stop(p),
        _ => return failure("InvalidPrice", "orderType and its price do not agree"),
    };
    let same_type = |old: SimOrderKind| {
        let same = matches!(
            (old, kind),
            (SimOrderKind::Market, SimOrderKind::Market)
                | (SimOrderKind::Limit(_), SimOrderKind::Limit(_))
                | (SimOrderKind::Stop(_), SimOrderKind::Stop(_))
        );
        if same {
            Ok(kind)
        } else {
            Err("the order type cannot change")
        }
    };
    match sim.modify(VENDOR, id, quantity, same_type, now) {
        Ok(_) => sim_json(json!({"commandId": sim.next_id()})),
        Err(why @ "the order is no longer working") => failure("TooLate", why),
        Err(why) => failure("UnknownReason", why),
    }
}

async fn place(sim: &BrokerSim, now: DateTime<Utc>, body: &Bytes) -> Response {
    let Ok(b) = serde_json::from_slice::<Value>(body) else {
        return json_reply(StatusCode::BAD_REQUEST, json!("malformed JSON"));
    };
    if b["isAutomated"].as_bool() != Some(true) {
        return failure(
            "UnknownReason",
            "isAutomated must be true for automated orders",
        );
    }
    if b["accountId"].as_i64() != Some(ACCOUNT_ID)
        || b["accountSpec"].as_str() != Some(ACCOUNT_NAME)
    {
        return failure("Unauthorized", "unknown account");
    }
    let side = match b["action"].as_str() {
        Some("Buy") => Side::Buy,
        Some("Sell") => Side::Sell,
        _ => return failure("UnknownReason", "action must be Buy or Sell"),
    };
    let Some(quantity) = b["orderQty"]
        .as_u64()
        .and_then(|q| u32::try_from(q).ok())
        .filter(|q| *q > 0)
    else {
        return failure("UnknownReason", "orderQty must be a positive integer");
    };
    let symbol = b["symbol"].as_str().unwrap_or("").to_owned();
    let Some(contract) = contract_of(&symbol, now).filter(|c| engine::listed(c, now)) else {
        return failure("InvalidContract", &format!("unknown contract {symbol}"));
    };
    let kind = match (
        b["orderType"].as_str(),
        b["price"].as_f64(),
        b["stopPrice"].as_f64(),
    ) {
        (Some("Market"), _, _) => SimOrderKind::Market,
        (Some("Limit"), Some(p), _) => SimOrderKind::Limit(p),
        (Some("Stop"), _, Some(p)) => SimOrderKind::Stop(p),
        _ => return failure("InvalidPrice", "orderType and its price do not agree"),
    };
    let bar_symbol = contract.spelled_for(Vendor::Databento);
    if sim.take(VENDOR, BrokerFault::RejectMargin) {
        return failure("OtherExecutionRelated", "Insufficient margin for the order");
    }
    if sim.take(VENDOR, BrokerFault::RejectClosedMarket)
        || (kind == SimOrderKind::Market && engine::bar_now(&bar_symbol, now).is_none())
    {
        return failure("SessionClosed", "The market is closed");
    }
    let order = SimOrder {
        id: 0,
        vendor: VENDOR,
        account: ACCOUNT_ID.to_string(),
        client_id: b["clOrdId"].as_str().map(str::to_owned),
        symbol,
        bar_symbol,
        side,
        quantity,
        filled: 0,
        avg_price: None,
        kind,
        time_in_force: b["timeInForce"].as_str().unwrap_or("Day").to_owned(),
        status: SimStatus::Working,
        reject_reason: None,
        created_at: now,
        updated_at: now,
        fill_from: (kind == SimOrderKind::Market).then(|| engine::minute_of(now)),
        partial: sim.take(VENDOR, BrokerFault::Partial),
        modified_at: None,
    };
    let duplicate = sim.take(VENDOR, BrokerFault::DuplicateSubmit);
    let placed = sim.accept(order.clone(), now);
    if duplicate {
        // The retransmission: the same clOrdId answers the first order.
        sim.accept(order, now);
    }
    if sim.take(VENDOR, BrokerFault::LostAck) {
        return json_reply(StatusCode::GATEWAY_TIMEOUT, Value::Null);
    }
    if sim.take(VENDOR, BrokerFault::DelayedAck) {
        tokio::time::sleep(sim.delay()).await;
    }
    sim_json(json!({"orderId": placed.id}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{contracts::ContractMonth, instruments::Symbol};

    #[test]
    fn contract_names_of_every_root_resolve_as_tradovate_lists_them() {
        let now: DateTime<Utc> = "2026-12-03T15:00:00Z".parse().unwrap();
        for root in Symbol::ALL {
            let c = Contract::new(*root, 2027, ContractMonth::H);
            assert_eq!(contract_of(&c.spelled_for(Vendor::Tradovate), now), Some(c));
        }
        assert_eq!(
            contract_of("M2KZ6", now),
            Some(Contract::new(Symbol::M2k, 2026, ContractMonth::Z))
        );
        // A bare root, a two-digit year or an off-cycle month is no contract name.
        for bad in ["M2K", "M2KZ26", "NKDF7", "M2Z6"] {
            assert_eq!(contract_of(bad, now), None, "{bad}");
        }
    }
}
