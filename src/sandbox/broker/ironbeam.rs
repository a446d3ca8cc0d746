//! Ironbeam's REST v2 as the simulator answers it (its OpenAPI document): every answer has
//! `status` (`OK`/`ERROR`) and `message`; errors are `{"status":"ERROR","message","error"}`
//! with 400 (bad request, refused order), 401 (no or dead token), 429 (too many requests).
//! `GET /stream/create` and the stream's WebSocket: [`super::ironbeam_ws`].

use axum::{
    body::Bytes,
    http::{HeaderMap, Method, StatusCode},
    response::Response,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::engine::{self, SimOrder, SimOrderKind, SimStatus};
use super::{BrokerFault, BrokerSim, sim_json};
use crate::domain::{
    contracts::{Contract, Vendor},
    side::Side,
};
use crate::sandbox::json_reply;

pub(super) const VENDOR: &str = "ironbeam";
/// The demo account (the schema's `Positions.accountId` is 5–10 digits).
pub const ACCOUNT: &str = "5100001";

pub(super) fn error(status: StatusCode, message: &str, error: &str) -> Response {
    json_reply(
        status,
        json!({"status": "ERROR", "message": message, "error": error}),
    )
}

/// `XCME:ES.Z26` → the contract (the exchange must be the contract's own).
pub fn contract_of(exch_sym: &str) -> Option<Contract> {
    let (_, sym) = exch_sym.split_once(':')?;
    let c = Contract::parse(&sym.replace('.', ""))?;
    (c.spelled_for(Vendor::Ironbeam) == exch_sym).then_some(c)
}

pub(super) fn side_str(side: Side) -> &'static str {
    match side {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

pub(super) fn status_str(o: &SimOrder) -> &'static str {
    match o.status {
        SimStatus::Working => "NEW",
        SimStatus::PartiallyFilled => "PARTIALLY_FILLED",
        SimStatus::Filled => "FILLED",
        SimStatus::Cancelled => "CANCELLED",
        SimStatus::Rejected => "REJECTED",
    }
}

pub(super) fn order_id(o: &SimOrder) -> String {
    format!("{ACCOUNT}-{}", o.id)
}

fn parse_order_id(raw: &str) -> Option<u64> {
    raw.strip_prefix(ACCOUNT)?.strip_prefix('-')?.parse().ok()
}

fn order_json(o: &SimOrder) -> Value {
    let (kind, limit, stop) = match o.kind {
        SimOrderKind::Market => ("1", Value::Null, Value::Null),
        SimOrderKind::Limit(p) => ("2", json!(p), Value::Null),
        SimOrderKind::Stop(p) => ("3", Value::Null, json!(p)),
    };
    let mut v = json!({
        "orderId": order_id(o), "strategyId": o.id, "accountId": o.account,
        "exchSym": o.symbol, "status": status_str(o), "side": side_str(o.side),
        "quantity": o.quantity, "orderType": kind, "duration": o.time_in_force,
        "fillQuantity": o.filled, "timeOrderEvent": o.created_at.timestamp_millis(),
    });
    if !limit.is_null() {
        v["limitPrice"] = limit;
    }
    if !stop.is_null() {
        v["stopPrice"] = stop;
    }
    if let Some(p) = o.avg_price {
        v["fillPrice"] = json!(p);
        v["fillDate"] = json!(o.updated_at.to_rfc3339());
    }
    v
}

pub(super) async fn route(
    sim: &BrokerSim,
    now: DateTime<Utc>,
    method: &Method,
    path: &[&str],
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<Response> {
    let get = method == Method::GET;
    let post = method == Method::POST;
    let delete = method == Method::DELETE;
    let put = method == Method::PUT;
    if sim.take(VENDOR, BrokerFault::RateLimited) {
        return Some(error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "Too Many Requests",
        ));
    }
    if let ["auth"] = path
        && post
    {
        let b: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let user = b["username"].as_str().unwrap_or("");
        let key = b["apiKey"]
            .as_str()
            .or(b["apikey"].as_str())
            .or(b["password"].as_str())
            .unwrap_or("");
        if user.is_empty() || key.is_empty() {
            return Some(error(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "Missing username or password",
            ));
        }
        let (token, _) = sim.issue_token(VENDOR, now);
        return Some(sim_json(
            json!({"status": "OK", "message": "OK", "token": token}),
        ));
    }
    if !sim.authorized(VENDOR, headers, now) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Invalid or expired token",
        ));
    }
    Some(match path {
        ["info", "trader"] if get => sim_json(json!({
            "status": "OK", "message": "OK", "accounts": [ACCOUNT], "isLive": false,
            "traderId": ACCOUNT,
        })),
        ["logout"] if post => sim_json(json!({"status": "OK", "message": "OK"})),
        ["stream", "create"] if get => sim_json(super::ironbeam_ws::create(sim, now)),
        ["order", account, "place"] if post => {
            if *account != ACCOUNT {
                return Some(error(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "Not your account",
                ));
            }
            place(sim, now, body).await
        }
        ["order", account, "cancel", id] if delete && *account == ACCOUNT => {
            let Some(n) = parse_order_id(id) else {
                return Some(error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request",
                    "Unknown order id",
                ));
            };
            match sim.cancel(VENDOR, n, now) {
                Some(o) if o.status == SimStatus::Cancelled => {
                    sim_json(json!({"status": "OK", "message": "OK", "orders": [order_json(&o)]}))
                }
                Some(_) => error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request",
                    "Order is not working",
                ),
                None => error(StatusCode::BAD_REQUEST, "Bad Request", "Unknown order id"),
            }
        }
        ["order", account, "update", id] if put && *account == ACCOUNT => {
            update(sim, now, id, body)
        }
        ["order", account, "cancelMultiple"] if delete && *account == ACCOUNT => {
            let b: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let Some(ids) = b["orderIds"].as_array() else {
                return Some(error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request",
                    "orderIds is required",
                ));
            };
            let mut done = Vec::new();
            for id in ids
                .iter()
                .filter_map(Value::as_str)
                .filter_map(parse_order_id)
            {
                if let Some(o) = sim.cancel(VENDOR, id, now) {
                    done.push(order_json(&o));
                }
            }
            sim_json(json!({"status": "OK", "message": "OK", "orders": done}))
        }
        ["order", account, "fills"] if get && *account == ACCOUNT => {
            let (orders, fills) = sim.advance(VENDOR, now);
            let rows: Vec<Value> = fills
                .iter()
                .map(|f| {
                    let o = orders.iter().find(|o| o.id == f.order_id);
                    json!({
                        "orderId": format!("{ACCOUNT}-{}", f.order_id), "strategyId": f.order_id,
                        "accountId": ACCOUNT, "exchSym": f.symbol,
                        "status": o.map_or("FILLED", status_str), "side": side_str(f.side),
                        "quantity": o.map_or(f.quantity, |o| o.quantity), "price": f.price,
                        "fillQuantity": f.quantity,
                        "fillTotalQuantity": o.map_or(f.quantity, |o| o.filled),
                        "fillPrice": f.price, "avgFillPrice": o.and_then(|o| o.avg_price).unwrap_or(f.price),
                        "fillDate": f.at.to_rfc3339(), "timeOrderEvent": f.at.timestamp_millis(),
                        "orderUpdateId": format!("{}-{}", f.order_id, f.id),
                    })
                })
                .collect();
            sim_json(json!({"status": "OK", "message": "OK", "fills": rows}))
        }
        ["order", account, status] if get && *account == ACCOUNT => {
            let (orders, _) = sim.advance(VENDOR, now);
            let rows: Vec<Value> = orders
                .iter()
                .filter(|o| *status == "ANY" || status_str(o) == *status)
                .map(order_json)
                .collect();
            sim_json(json!({"status": "OK", "message": "OK", "orders": rows}))
        }
        ["account", account, "positions"] if get && *account == ACCOUNT => {
            let (_, fills) = sim.advance(VENDOR, now);
            let rows: Vec<Value> = engine::positions(&fills, ACCOUNT)
                .into_iter()
                .filter(|(_, net, _)| *net != 0)
                .map(|(symbol, net, avg)| {
                    json!({
                        "accountId": ACCOUNT, "currencyCode": "USD", "exchSym": symbol,
                        "positionId": format!("{ACCOUNT}-{symbol}"), "quantity": net.abs(),
                        "price": avg, "dateOpened": now.format("%Y%m%d").to_string(),
                        "side": if net > 0 { "LONG" } else { "SHORT" }, "unrealizedPL": 0.0,
                    })
                })
                .collect();
            sim_json(
                json!({"status": "OK", "message": "OK", "accountId": ACCOUNT, "positions": rows}),
            )
        }
        _ => return None,
    })
}

/// `PUT /order/{accountId}/update/{orderId}` with an `OrderUpdateRequest`.
fn update(sim: &BrokerSim, now: DateTime<Utc>, id: &str, body: &Bytes) -> Response {
    const FIELDS: [&str; 9] = [
        "orderId",
        "quantity",
        "limitPrice",
        "stopPrice",
        "stopLoss",
        "takeProfit",
        "stopLossOffset",
        "takeProfitOffset",
        "trailingStop",
    ];
    let bad = |m: &str| error(StatusCode::BAD_REQUEST, "Bad Request", m);
    let Ok(Value::Object(b)) = serde_json::from_slice::<Value>(body) else {
        return bad("The request body must be an OrderUpdateRequest object");
    };
    if let Some(k) = b.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return bad(&format!("Unknown property {k}"));
    }
    if b.get("orderId").and_then(Value::as_str) != Some(id) {
        return bad("orderId is required and must be the path's order id");
    }
    let Some(quantity) = b
        .get("quantity")
        .and_then(Value::as_u64)
        .and_then(|q| u32::try_from(q).ok())
    else {
        return bad("quantity is required");
    };
    let Some(n) = parse_order_id(id) else {
        return bad("Unknown order id");
    };
    let limit = b.get("limitPrice").and_then(Value::as_f64);
    let stop = b.get("stopPrice").and_then(Value::as_f64);
    let reprice = |old: SimOrderKind| match (old, limit, stop) {
        (SimOrderKind::Limit(p), l, None) => Ok(SimOrderKind::Limit(l.unwrap_or(p))),
        (SimOrderKind::Stop(p), None, s) => Ok(SimOrderKind::Stop(s.unwrap_or(p))),
        (SimOrderKind::Market, None, None) => Ok(SimOrderKind::Market),
        _ => Err("the price does not apply to the order's type"),
    };
    match sim.modify(VENDOR, n, quantity, reprice, now) {
        Ok(o) => sim_json(json!({"status": "OK", "message": "OK", "orders": [order_json(&o)]})),
        Err(why) => bad(why),
    }
}

async fn place(sim: &BrokerSim, now: DateTime<Utc>, body: &Bytes) -> Response {
    let bad = |e: &str| error(StatusCode::BAD_REQUEST, "Bad Request", e);
    let Ok(b) = serde_json::from_slice::<Value>(body) else {
        return bad("Malformed JSON");
    };
    if b["accountId"].as_str() != Some(ACCOUNT) {
        return bad("accountId does not match the path");
    }
    let side = match b["side"].as_str() {
        Some("BUY") => Side::Buy,
        Some("SELL") => Side::Sell,
        _ => return bad("side must be BUY or SELL"),
    };
    let Some(quantity) = b["quantity"]
        .as_f64()
        .filter(|q| *q >= 1.0 && q.fract() == 0.0)
        .map(|q| q as u32)
    else {
        return bad("quantity must be a positive whole number");
    };
    let symbol = b["exchSym"].as_str().unwrap_or("").to_owned();
    let Some(contract) = contract_of(&symbol).filter(|c| engine::listed(c, now)) else {
        return bad(&format!("Unknown symbol {symbol}"));
    };
    let kind = match (
        b["orderType"].as_str(),
        b["limitPrice"].as_f64(),
        b["stopPrice"].as_f64(),
    ) {
        (Some("1"), _, _) => SimOrderKind::Market,
        (Some("2"), Some(p), _) => SimOrderKind::Limit(p),
        (Some("3"), _, Some(p)) => SimOrderKind::Stop(p),
        _ => return bad("orderType must be 1, 2 or 3 with its price"),
    };
    let duration = match b["duration"].as_str() {
        Some(d @ ("0" | "1")) => d.to_owned(),
        _ => return bad("duration must be 0 (DAY) or 1 (GOOD_TILL_CANCEL)"),
    };
    let bar_symbol = contract.spelled_for(Vendor::Databento);
    if sim.take(VENDOR, BrokerFault::RejectMargin) {
        return bad("Order rejected: insufficient margin");
    }
    if sim.take(VENDOR, BrokerFault::RejectClosedMarket)
        || (kind == SimOrderKind::Market && engine::bar_now(&bar_symbol, now).is_none())
    {
        return bad("Order rejected: market closed");
    }
    let order = SimOrder {
        id: 0,
        vendor: VENDOR,
        account: ACCOUNT.to_owned(),
        client_id: None,
        symbol,
        bar_symbol,
        side,
        quantity,
        filled: 0,
        avg_price: None,
        kind,
        time_in_force: duration,
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
        // A retransmission: Ironbeam's request has no client id, so it is a second order.
        sim.accept(order, now);
    }
    if sim.take(VENDOR, BrokerFault::LostAck) {
        return json_reply(StatusCode::GATEWAY_TIMEOUT, Value::Null);
    }
    if sim.take(VENDOR, BrokerFault::DelayedAck) {
        tokio::time::sleep(sim.delay()).await;
    }
    sim_json(json!({
        "status": "OK", "message": "OK", "orderId": order_id(&placed), "strategyId": placed.id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{contracts::ContractMonth, instruments::Symbol};

    #[test]
    fn exchange_symbols_name_the_roots_own_exchange() {
        for root in Symbol::ALL {
            let c = Contract::new(*root, 2027, ContractMonth::H);
            assert_eq!(contract_of(&c.spelled_for(Vendor::Ironbeam)), Some(c));
        }
        assert_eq!(
            contract_of("XCBT:MYM.H27"),
            Some(Contract::new(Symbol::Mym, 2027, ContractMonth::H))
        );
        assert_eq!(
            contract_of("XCME:NKD.Z26"),
            Some(Contract::new(Symbol::Nkd, 2026, ContractMonth::Z))
        );
        // The micro Dow is CBOT's, the others CME's: the wrong exchange is refused.
        for bad in ["XCME:MYM.H27", "XCBT:M2K.H27", "XCME:M2K.H7", "M2K.H27"] {
            assert_eq!(contract_of(bad), None, "{bad}");
        }
    }
}
