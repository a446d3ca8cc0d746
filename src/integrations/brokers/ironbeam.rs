//! Ironbeam execution (REST v2), as its published OpenAPI document ("IronbeamAPI" v2.1)
//! specifies: `OrderRequest` with the schema's enum encodings (`side` `BUY`|`SELL`,
//! `orderType` `"1"` market, `"2"` limit, `"3"` stop; `duration` `"0"` day, `"1"` GTC),
//! answers `{"status": "OK"|"ERROR", "message", …}`, errors `{"status":"ERROR","message",
//! "error"}` with 400/401/403/406/429.

use serde_json::{Value, json};

use super::{
    Account, BrokerFill, BrokerOrder, BrokerOrderStatus, BrokerPosition, ClientBase, Login,
    OrderModify, OrderRequest, OrderTerms, SendError, TimeInForce, decimal_of, parse_time,
    price_json,
};
use crate::config::Secret;
use crate::domain::{contracts::Vendor, execution::OrderType, provider::Outcome, side::Side};
use crate::integrations::{
    http::{Auth, Body, CallKind, Reply, Request, bad_response, classify_status},
    outcome::{Failure, codes},
};

pub struct Ironbeam {
    pub base: ClientBase,
}

/// The JSON body of `POST /order/{accountId}/place`.
pub fn place_body(account: &Account, order: &OrderRequest) -> Value {
    let mut body = json!({
        "accountId": account.id,
        "exchSym": order.contract.spelled_for(Vendor::Ironbeam),
        "side": match order.side { Side::Buy => "BUY", Side::Sell => "SELL" },
        "quantity": order.quantity,
        "orderType": match order.order_type {
            OrderType::Market => "1",
            OrderType::Limit => "2",
            OrderType::Stop => "3",
        },
        "duration": match order.time_in_force { TimeInForce::Day => "0", TimeInForce::Gtc => "1" },
        "waitForOrderId": true,
    });
    if let Some(p) = order.limit_price {
        body["limitPrice"] = price_json(p);
    }
    if let Some(p) = order.stop_price {
        body["stopPrice"] = price_json(p);
    }
    body
}

/// The JSON body of `PUT /order/{accountId}/update/{orderId}` (`OrderUpdateRequest`:
/// `orderId` and `quantity` required, no other properties than the spec's).
pub fn update_body(broker_order_id: &str, change: &OrderModify) -> Value {
    let mut body = json!({"orderId": broker_order_id, "quantity": change.quantity});
    if let Some(p) = change.limit_price {
        body["limitPrice"] = price_json(p);
    }
    if let Some(p) = change.stop_price {
        body["stopPrice"] = price_json(p);
    }
    body
}

pub(super) fn side_of(v: &Value) -> Option<Side> {
    match v.as_str()? {
        "BUY" | "0" => Some(Side::Buy),
        "SELL" | "1" => Some(Side::Sell),
        _ => None,
    }
}

pub(super) fn status_of(s: &str) -> BrokerOrderStatus {
    match s {
        "NEW"
        | "ACCEPTED_FOR_BIDDING"
        | "SUSPENDED"
        | "REPLACED"
        | "PENDING_REPLACE"
        | "PENDING_CANCEL"
        | "CANCEL_REJECTED" => BrokerOrderStatus::Working,
        "PARTIALLY_FILLED" => BrokerOrderStatus::PartiallyFilled,
        "FILLED" | "COMPLETE" => BrokerOrderStatus::Filled,
        "CANCELLED" | "DONE_FOR_DAY" | "STOPPED" => BrokerOrderStatus::Cancelled,
        "REJECTED" | "INVALID" | "ORDER_NOT_FOUND" => BrokerOrderStatus::Rejected,
        "EXPIRED" => BrokerOrderStatus::Expired,
        _ => BrokerOrderStatus::Pending,
    }
}

/// The ids of `asked` a cancel's answer (`OrdersResponse`) leaves cancelled: an order the
/// answer reports in another state than a cancel (`FILLED`, `REJECTED`, `CANCEL_REJECTED`, …:
/// not `CANCELLED`, `PENDING_CANCEL` or `QUEUED_CANCEL`) was not cancelled and stays open
/// until its fills or final state are read; one it does not name (`orders` is optional, may
/// be empty) is taken as cancelled on the vendor's `OK` (reconciliation books a fill that
/// crossed the cancel).
pub(super) fn cancelled_in(answer: &Value, asked: &[String]) -> Vec<String> {
    let orders = answer["orders"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    asked
        .iter()
        .filter(|id| {
            orders
                .iter()
                .filter(|o| o["orderId"].as_str() == Some(id.as_str()))
                .all(|o| {
                    matches!(
                        o["status"].as_str(),
                        Some("CANCELLED" | "PENDING_CANCEL" | "QUEUED_CANCEL")
                    )
                })
        })
        .cloned()
        .collect()
}

fn order_of(o: &Value) -> Option<BrokerOrder> {
    Some(BrokerOrder {
        broker_order_id: o["orderId"].as_str()?.to_owned(),
        client_id: None,
        symbol: o["exchSym"].as_str().map(str::to_owned),
        side: side_of(&o["side"])?,
        quantity: decimal_of(&o["quantity"]).and_then(|q| u32::try_from(q).ok())?,
        status: status_of(o["status"].as_str().unwrap_or("")),
        created_at: parse_time(&o["timeOrderEvent"]).or_else(|| parse_time(&o["createdAt"])),
        terms: OrderTerms {
            order_type: order_type_of(&o["orderType"]),
            limit_price: decimal_of(&o["limitPrice"]),
            stop_price: decimal_of(&o["stopPrice"]),
        },
    })
}

/// `OrderType`: `"1"` market, `"2"` limit, `"3"` stop (the document's example spells the
/// names, as its sides are also read); `"4"` stop-limit is not a type we trade.
pub(super) fn order_type_of(v: &Value) -> Option<OrderType> {
    match v.as_str()? {
        "1" | "MARKET" => Some(OrderType::Market),
        "2" | "LIMIT" => Some(OrderType::Limit),
        "3" | "STOP" => Some(OrderType::Stop),
        _ => None,
    }
}

/// A REST `OrderFill` row (`GET /order/{accountId}/fills`).
pub(super) fn fill_of(f: &Value) -> Result<BrokerFill, Failure> {
    let fill = (|| {
        Some(BrokerFill {
            fill_id: f["orderUpdateId"].as_str()?.to_owned(),
            broker_order_id: f["orderId"].as_str()?.to_owned(),
            side: side_of(&f["side"])?,
            quantity: decimal_of(&f["fillQuantity"]).and_then(|q| u32::try_from(q).ok())?,
            price: decimal_of(&f["fillPrice"])?,
            commission: None,
            filled_at: parse_time(&f["fillDate"]).or_else(|| parse_time(&f["timeOrderEvent"]))?,
        })
    })();
    fill.ok_or_else(|| bad_response("a fill lacks a documented field"))
}

impl Ironbeam {
    /// Ironbeam's error body (`{"status":"ERROR","message","error"}`), redacted.
    fn error_text(&self, r: &Reply) -> String {
        let b = r.json().unwrap_or(Value::Null);
        let text = [b["error"].as_str(), b["message"].as_str()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        self.base.http.redactor().redact(&text)
    }

    /// A 2xx whose `status` is OK, as JSON.
    fn ok_json(&self, r: &Reply) -> Result<Value, Failure> {
        classify_status(r, self.base.http.redactor())?;
        let b = r.json().ok_or_else(|| bad_response("not JSON"))?;
        match b["status"].as_str() {
            Some("OK") | Some("WARNING") | Some("INFO") | None => Ok(b),
            Some(_) => Err(Failure::new(
                Outcome::ProviderError,
                codes::PROVIDER_HTTP_4XX,
                self.error_text(r),
            )),
        }
    }

    pub async fn login(&self) -> Result<Login, Failure> {
        let c = &self.base;
        let mut body = json!({
            "username": c.secret("IRONBEAM_USERNAME")?.expose(),
            "apiKey": c.secret("IRONBEAM_API_KEY")?.expose(),
        });
        if let Some(p) = c.optional("IRONBEAM_PASSWORD") {
            body["password"] = json!(p);
        }
        let req = Request::post(
            "broker.auth",
            c.url("/auth"),
            Body::Json(body),
            CallKind::Write,
        );
        c.http
            .call(req, |r| {
                let b = self.ok_json(r)?;
                let token = b["token"]
                    .as_str()
                    .ok_or_else(|| bad_response("auth answer has no token"))?;
                // The token lifetime is not documented: the session logs in again when a
                // call answers 401.
                Ok(Login {
                    token: Secret::new(token),
                    expires_at: None,
                    is_live: None,
                    user_id: None,
                })
            })
            .await
    }

    /// `GET /info/trader`: the first account, and `isLive`.
    pub async fn trader(&self, token: &Secret) -> Result<(Account, Option<bool>), Failure> {
        let req = Request::get(
            "broker.info_trader",
            self.base.url("/info/trader"),
            CallKind::Read,
        )
        .auth(Auth::Bearer(token.clone()));
        self.base
            .http
            .call(req, |r| {
                let b = self.ok_json(r)?;
                let id = b["accounts"][0]
                    .as_str()
                    .ok_or_else(|| {
                        Failure::new(
                            Outcome::InsufficientPlan,
                            codes::INSUFFICIENT_PLAN,
                            "no accounts",
                        )
                    })?
                    .to_owned();
                Ok((
                    Account {
                        spec: id.clone(),
                        id,
                    },
                    b["isLive"].as_bool(),
                ))
            })
            .await
    }

    pub async fn place(
        &self,
        token: &Secret,
        account: &Account,
        order: &OrderRequest,
    ) -> Result<String, SendError> {
        let req = Request::post(
            "broker.place",
            self.base.url(&format!("/order/{}/place", account.id)),
            Body::Json(place_body(account, order)),
            CallKind::Write,
        )
        .auth(Auth::Bearer(token.clone()));
        let result = self
            .base
            .http
            .call(req, |r| {
                // A 400 is the broker refusing this order; other failures leave it unknown.
                if r.status == 400 || r.status == 406 {
                    return Ok(Err(self.error_text(r)));
                }
                let b = self.ok_json(r)?;
                b["orderId"]
                    .as_str()
                    .map(|id| Ok(id.to_owned()))
                    .ok_or_else(|| bad_response("place answer has no orderId"))
            })
            .await
            .map_err(SendError::from_failure)?;
        result.map_err(|reason| SendError::Rejected { reason })
    }

    /// `DELETE /order/{accountId}/cancel/{orderId}`. `Ok(false)`: the answer reports the
    /// order in another state than a cancel ([`cancelled_in`]).
    pub async fn cancel(
        &self,
        token: &Secret,
        account: &Account,
        broker_order_id: &str,
    ) -> Result<bool, Failure> {
        let url = self
            .base
            .url(&format!("/order/{}/cancel/{broker_order_id}", account.id));
        let req = Request {
            method: reqwest::Method::DELETE,
            ..Request::get("broker.cancel", url, CallKind::Write)
        }
        .auth(Auth::Bearer(token.clone()));
        let asked = [broker_order_id.to_owned()];
        self.base
            .http
            .call(req, |r| {
                self.ok_json(r)
                    .map(|b| !cancelled_in(&b, &asked).is_empty())
            })
            .await
    }

    /// `PUT /order/{accountId}/update/{orderId}`: a 400/406 is the broker refusing the change
    /// (the order stands); other failures leave it unknown.
    pub async fn modify(
        &self,
        token: &Secret,
        account: &Account,
        broker_order_id: &str,
        change: &OrderModify,
    ) -> Result<(), SendError> {
        let url = self
            .base
            .url(&format!("/order/{}/update/{broker_order_id}", account.id));
        let req = Request {
            method: reqwest::Method::PUT,
            body: Body::Json(update_body(broker_order_id, change)),
            ..Request::get("broker.update", url, CallKind::Write)
        }
        .auth(Auth::Bearer(token.clone()));
        let result = self
            .base
            .http
            .call(req, |r| {
                if r.status == 400 || r.status == 406 {
                    return Ok(Err(self.error_text(r)));
                }
                self.ok_json(r).map(|_| Ok(()))
            })
            .await
            .map_err(SendError::from_failure)?;
        result.map_err(|reason| SendError::Rejected { reason })
    }

    /// `DELETE /order/{accountId}/cancelMultiple` `{accountId, orderIds}` (at most 1,000).
    pub async fn cancel_multiple(
        &self,
        token: &Secret,
        account: &Account,
        ids: &[String],
    ) -> Result<Vec<String>, Failure> {
        let url = self
            .base
            .url(&format!("/order/{}/cancelMultiple", account.id));
        let req = Request {
            method: reqwest::Method::DELETE,
            body: Body::Json(json!({"accountId": account.id, "orderIds": ids})),
            ..Request::get("broker.cancel_multiple", url, CallKind::Write)
        }
        .auth(Auth::Bearer(token.clone()));
        self.base
            .http
            .call(req, |r| self.ok_json(r).map(|b| cancelled_in(&b, ids)))
            .await
    }

    /// `GET /stream/create` (Bearer): a new `streamId` for the WebSocket `/stream/{streamId}`.
    /// A stream id serves one socket: every reconnect creates another.
    pub async fn create_stream(&self, token: &Secret) -> Result<String, Failure> {
        let req = Request::get(
            "broker.stream_create",
            self.base.url("/stream/create"),
            CallKind::Read,
        )
        .auth(Auth::Bearer(token.clone()));
        self.base
            .http
            .call(req, |r| {
                let b = self.ok_json(r)?;
                b["streamId"]
                    .as_str()
                    .filter(|id| super::ironbeam_stream::valid_stream_id(id))
                    .map(str::to_owned)
                    .ok_or_else(|| bad_response("stream/create answer has no usable streamId"))
            })
            .await
    }

    /// The rows of `field` in the answer to the GET of `path`, read by `read` (a failed read
    /// is the call's failure).
    async fn rows<T>(
        &self,
        token: &Secret,
        action: &'static str,
        path: &str,
        field: &'static str,
        read: impl Fn(&[Value]) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let req = Request::get(action, self.base.url(path), CallKind::Read)
            .auth(Auth::Bearer(token.clone()));
        self.base
            .http
            .call(req, |r| {
                let b = self.ok_json(r)?;
                read(b[field].as_array().map_or(&[][..], Vec::as_slice))
            })
            .await
    }

    /// `GET /order/{accountId}/{orderStatus}` as sent (`Order` rows).
    pub async fn order_rows(
        &self,
        token: &Secret,
        account: &Account,
        status: &str,
    ) -> Result<Vec<Value>, Failure> {
        let path = format!("/order/{}/{status}", account.id);
        self.rows(token, "broker.orders", &path, "orders", |r| Ok(r.to_vec()))
            .await
    }

    /// `GET /order/{accountId}/fills` as sent (`OrderFill` rows).
    pub async fn fill_rows(
        &self,
        token: &Secret,
        account: &Account,
    ) -> Result<Vec<Value>, Failure> {
        let path = format!("/order/{}/fills", account.id);
        self.rows(token, "broker.fills", &path, "fills", |r| Ok(r.to_vec()))
            .await
    }

    /// `GET /order/{accountId}/{orderStatus}` (`ANY` for all).
    pub async fn orders(
        &self,
        token: &Secret,
        account: &Account,
        status: &str,
    ) -> Result<Vec<BrokerOrder>, Failure> {
        let path = format!("/order/{}/{status}", account.id);
        self.rows(token, "broker.orders", &path, "orders", |r| {
            Ok(r.iter().filter_map(order_of).collect())
        })
        .await
    }

    /// `GET /order/{accountId}/fills`: one row per execution (`orderUpdateId` unique).
    pub async fn fills(
        &self,
        token: &Secret,
        account: &Account,
    ) -> Result<Vec<BrokerFill>, Failure> {
        let path = format!("/order/{}/fills", account.id);
        self.rows(token, "broker.fills", &path, "fills", |r| {
            r.iter().map(fill_of).collect()
        })
        .await
    }

    pub async fn positions(
        &self,
        token: &Secret,
        account: &Account,
    ) -> Result<Vec<BrokerPosition>, Failure> {
        let req = Request::get(
            "broker.positions",
            self.base.url(&format!("/account/{}/positions", account.id)),
            CallKind::Read,
        )
        .auth(Auth::Bearer(token.clone()));
        self.base
            .http
            .call(req, |r| {
                let b = self.ok_json(r)?;
                Ok(b["positions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        let q = decimal_of(&p["quantity"]).and_then(|q| i64::try_from(q).ok())?;
                        let sign = if p["side"].as_str() == Some("SHORT") {
                            -1
                        } else {
                            1
                        };
                        Some(BrokerPosition {
                            symbol: p["exchSym"].as_str()?.to_owned(),
                            net: sign * q.abs(),
                            avg_price: decimal_of(&p["price"]),
                        })
                    })
                    .collect())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raw: &[&str]) -> Vec<String> {
        raw.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_cancel_answer_counts_only_the_orders_it_reports_cancelled() {
        let answer = json!({"status": "OK", "message": "OK", "orders": [
            {"orderId": "5100001-1", "status": "CANCELLED"},
            {"orderId": "5100001-2", "status": "FILLED"},
            {"orderId": "5100001-3", "status": "PENDING_CANCEL"},
            {"orderId": "5100001-4", "status": "CANCEL_REJECTED"},
            {"orderId": "5100001-5", "status": "QUEUED_CANCEL"},
        ]});
        let asked = ids(&[
            "5100001-1",
            "5100001-2",
            "5100001-3",
            "5100001-4",
            "5100001-5",
            "5100001-6",
        ]);
        assert_eq!(
            cancelled_in(&answer, &asked),
            ids(&["5100001-1", "5100001-3", "5100001-5", "5100001-6"])
        );
        // No order in the answer: the vendor's OK is all there is.
        for bare in [
            json!({"status": "OK", "message": "OK"}),
            json!({"status": "OK", "orders": []}),
        ] {
            assert_eq!(cancelled_in(&bare, &asked), asked);
        }
    }
}
