//! Tradovate execution (REST v1). Shapes follow Tradovate's API entities (`PlaceOrder`,
//! `PlaceOrderResult`, `CancelOrder`, `CommandResult`, `Order`, `OrderVersion`, `Fill`,
//! `FillFee`, `Position`, `Contract`). Failures of commands are HTTP 200 with
//! `failureReason`/`failureText` (or `errorText`); a login refusal is HTTP 200 with
//! `errorText`; a login penalty is HTTP 200 with `p-ticket`/`p-time`/`p-captcha`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{
    Account, BrokerFill, BrokerOrder, BrokerOrderStatus, BrokerPosition, ClientBase, Login,
    OrderModify, OrderRequest, OrderTerms, SendError, TimeInForce, decimal_of, parse_time,
    price_json,
};
use crate::config::Secret;
use crate::domain::{execution::OrderType, provider::Outcome, side::Side};
use crate::integrations::{
    http::{Auth, Body, CallKind, Redactor, Reply, Request, bad_response, classify_status},
    outcome::{Failure, codes},
    registry::ProviderConfig,
};

pub struct Tradovate {
    pub base: ClientBase,
}

/// A login penalty: how long to wait (seconds, at most an hour: a larger `p-time` is garbled),
/// and whether a CAPTCHA (about an hour) is demanded.
pub fn penalty(b: &Value) -> Option<(i64, bool)> {
    (b.get("p-ticket").is_some() || b.get("p-captcha").is_some()).then(|| {
        (
            b["p-time"].as_i64().unwrap_or(0).clamp(0, 3600),
            b["p-captcha"].as_bool() == Some(true),
        )
    })
}

fn side_of(action: &Value) -> Option<Side> {
    match action.as_str()? {
        "Buy" => Some(Side::Buy),
        "Sell" => Some(Side::Sell),
        _ => None,
    }
}

fn status_of(s: &str) -> BrokerOrderStatus {
    match s {
        "Working" => BrokerOrderStatus::Working,
        "Filled" | "Completed" => BrokerOrderStatus::Filled,
        "Canceled" | "PendingCancel" => BrokerOrderStatus::Cancelled,
        "Rejected" => BrokerOrderStatus::Rejected,
        "Expired" => BrokerOrderStatus::Expired,
        _ => BrokerOrderStatus::Pending,
    }
}

/// What Tradovate charged for one fill (a `FillFee`): commission and every fee.
pub fn commission_of(fee: &Value) -> Decimal {
    [
        "commission",
        "clearingFee",
        "exchangeFee",
        "nfaFee",
        "brokerageFee",
        "ipFee",
        "orderRoutingFee",
    ]
    .iter()
    .filter_map(|k| decimal_of(&fee[*k]))
    .sum()
}

/// A Tradovate `Order` entity with its latest `OrderVersion` (our key as `text`, the quantity)
/// and its contract's name (REST `order/list` and the user stream alike).
pub fn order_of(
    o: &Value,
    version: Option<&Value>,
    symbol: Option<String>,
) -> Result<BrokerOrder, Failure> {
    let id = o["id"].as_i64().ok_or_else(|| bad_response("order id"))?;
    Ok(BrokerOrder {
        broker_order_id: id.to_string(),
        client_id: version.and_then(|v| v["text"].as_str()).map(str::to_owned),
        symbol,
        side: side_of(&o["action"]).ok_or_else(|| bad_response("order action"))?,
        quantity: version
            .and_then(|v| v["orderQty"].as_u64())
            .and_then(|q| u32::try_from(q).ok())
            .unwrap_or(0),
        status: status_of(o["ordStatus"].as_str().unwrap_or("")),
        created_at: parse_time(&o["timestamp"]),
        terms: version.map(terms_of).unwrap_or_default(),
    })
}

/// An `OrderVersion`'s `orderType` (`Market`, `Limit`, `Stop`; others are not ours), `price`
/// and `stopPrice`.
fn terms_of(v: &Value) -> OrderTerms {
    OrderTerms {
        order_type: match v["orderType"].as_str() {
            Some("Market") => Some(OrderType::Market),
            Some("Limit") => Some(OrderType::Limit),
            Some("Stop") => Some(OrderType::Stop),
            _ => None,
        },
        limit_price: decimal_of(&v["price"]),
        stop_price: decimal_of(&v["stopPrice"]),
    }
}

/// A Tradovate `Fill` entity (REST `fill/list` and the user stream's `fill` events alike).
pub fn fill_of(f: &Value, commission: Option<Decimal>) -> Result<BrokerFill, Failure> {
    let id = f["id"].as_i64().ok_or_else(|| bad_response("fill id"))?;
    let order = f["orderId"]
        .as_i64()
        .ok_or_else(|| bad_response("fill orderId"))?;
    Ok(BrokerFill {
        fill_id: id.to_string(),
        broker_order_id: order.to_string(),
        side: side_of(&f["action"]).ok_or_else(|| bad_response("fill action"))?,
        quantity: f["qty"]
            .as_u64()
            .and_then(|q| u32::try_from(q).ok())
            .ok_or_else(|| bad_response("fill qty"))?,
        price: decimal_of(&f["price"]).ok_or_else(|| bad_response("fill price"))?,
        commission,
        filled_at: parse_time(&f["timestamp"]).ok_or_else(|| bad_response("fill time"))?,
    })
}

/// The JSON body of `POST /order/placeorder` for `order` on `account`.
pub fn place_body(account: &Account, order: &OrderRequest) -> Value {
    let mut body = json!({
        "accountSpec": account.spec,
        "accountId": account.id.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(account.id)),
        "clOrdId": order.client_id,
        "action": match order.side { Side::Buy => "Buy", Side::Sell => "Sell" },
        "symbol": order.contract.spelled_for(crate::domain::contracts::Vendor::Tradovate),
        "orderQty": order.quantity,
        "orderType": match order.order_type {
            OrderType::Market => "Market",
            OrderType::Limit => "Limit",
            OrderType::Stop => "Stop",
        },
        "timeInForce": match order.time_in_force { TimeInForce::Day => "Day", TimeInForce::Gtc => "GTC" },
        // `text` is kept on the order's version (`/orderVersion/list`): how a lost answer is
        // found again by our key.
        "text": order.client_id,
        "isAutomated": true,
    });
    if let Some(p) = order.limit_price {
        body["price"] = price_json(p);
    }
    if let Some(p) = order.stop_price {
        body["stopPrice"] = price_json(p);
    }
    body
}

/// The JSON body of `POST /order/modifyorder` (Tradovate's `ModifyOrder`: the order's whole
/// new terms, `isAutomated` as for every bot order).
pub fn modify_body(order_id: i64, change: &OrderModify) -> Value {
    let mut body = json!({
        "orderId": order_id,
        "orderQty": change.quantity,
        "orderType": match change.order_type {
            OrderType::Market => "Market",
            OrderType::Limit => "Limit",
            OrderType::Stop => "Stop",
        },
        "timeInForce": match change.time_in_force { TimeInForce::Day => "Day", TimeInForce::Gtc => "GTC" },
        "isAutomated": true,
    });
    if let Some(p) = change.limit_price {
        body["price"] = price_json(p);
    }
    if let Some(p) = change.stop_price {
        body["stopPrice"] = price_json(p);
    }
    body
}

/// The JSON body of `POST /auth/accesstokenrequest` from the `TRADOVATE_*` credentials (the
/// verify and the trading session log in the same way).
pub fn login_body(config: &ProviderConfig) -> Result<Value, Failure> {
    let secret = |name: &str| {
        config.secret(name).cloned().ok_or_else(|| {
            Failure::new(
                Outcome::Unverifiable,
                "NOT_CONFIGURED",
                format!("{name} is not set"),
            )
        })
    };
    let mut body = json!({
        "name": secret("TRADOVATE_USERNAME")?.expose(),
        "password": secret("TRADOVATE_PASSWORD")?.expose(),
        "appId": secret("TRADOVATE_APP_ID")?.expose(),
        "appVersion": secret("TRADOVATE_APP_VERSION")?.expose(),
        "sec": secret("TRADOVATE_SEC")?.expose(),
    });
    let cid = secret("TRADOVATE_CID")?;
    body["cid"] = cid
        .expose()
        .parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| json!(cid.expose()));
    if let Some(d) = config.secret("TRADOVATE_DEVICE_ID") {
        body["deviceId"] = json!(d.expose());
    }
    Ok(body)
}

/// The answer to a login or a renewal: the token, or the refusal (`errorText` on HTTP 200:
/// bad credentials; `p-ticket`: a penalty, never retried in a loop).
pub fn interpret_login(r: &Reply, redactor: &Redactor) -> Result<Login, Failure> {
    classify_status(r, redactor)?;
    let b = r.json().unwrap_or(Value::Null);
    if let Some((wait, captcha)) = penalty(&b) {
        let mut f = Failure::new(
            Outcome::RateLimited,
            codes::LOGIN_PENALTY,
            format!(
                "login penalty: wait {wait} s{}; not retried",
                if captcha {
                    " (CAPTCHA: about one hour)"
                } else {
                    ""
                }
            ),
        );
        f.http_status = Some(r.status);
        f.retry_after = Some(std::time::Duration::from_secs(if captcha {
            3600
        } else {
            u64::try_from(wait.max(1)).unwrap_or(1)
        }));
        return Err(f);
    }
    if let Some(text) = b["errorText"].as_str().filter(|t| !t.is_empty()) {
        return Err(Failure::new(
            Outcome::InvalidCredentials,
            codes::INVALID_CREDENTIALS,
            redactor.redact(text),
        ));
    }
    let token = b["accessToken"]
        .as_str()
        .ok_or_else(|| bad_response("no accessToken"))?;
    Ok(Login {
        token: Secret::new(token),
        expires_at: parse_time(&b["expirationTime"]),
        is_live: b["hasLive"].as_bool(),
        user_id: b["userId"].as_i64(),
    })
}

impl Tradovate {
    pub async fn login(&self) -> Result<Login, Failure> {
        let req = Request::post(
            "broker.accesstokenrequest",
            self.base.url("/auth/accesstokenrequest"),
            Body::Json(login_body(&self.base.config)?),
            CallKind::Write,
        );
        let redactor = self.base.http.redactor();
        self.base
            .http
            .call(req, |r| interpret_login(r, redactor))
            .await
    }

    /// `GET /auth/renewaccesstoken`: the same session, a later expiry.
    pub async fn renew(&self, token: &Secret) -> Result<Login, Failure> {
        let req = Request::get(
            "broker.renewaccesstoken",
            self.base.url("/auth/renewaccesstoken"),
            CallKind::Write,
        )
        .auth(Auth::Bearer(token.clone()));
        let redactor = self.base.http.redactor();
        self.base
            .http
            .call(req, |r| interpret_login(r, redactor))
            .await
    }

    fn read(&self, action: &'static str, path: &str, token: &Secret) -> Request {
        Request::get(action, self.base.url(path), CallKind::Read).auth(Auth::Bearer(token.clone()))
    }

    fn array(&self, r: &Reply) -> Result<Vec<Value>, Failure> {
        classify_status(r, self.base.http.redactor())?;
        match r.json() {
            Some(Value::Array(a)) => Ok(a),
            _ => Err(bad_response(&format!(
                "not a JSON array: {}",
                self.base.excerpt(r)
            ))),
        }
    }

    /// The first active account of the user (`GET /account/list`); `hasLive` came with login.
    pub async fn account(&self, token: &Secret) -> Result<(Account, Option<bool>), Failure> {
        let req = self.read("broker.account_list", "/account/list", token);
        let accounts = self.base.http.call(req, |r| self.array(r)).await?;
        accounts
            .iter()
            .find(|a| a["active"].as_bool() != Some(false))
            .and_then(|a| {
                Some(Account {
                    id: a["id"].as_i64()?.to_string(),
                    spec: a["name"].as_str()?.to_owned(),
                })
            })
            .map(|a| (a, None))
            .ok_or_else(|| {
                Failure::new(
                    Outcome::InsufficientPlan,
                    codes::INSUFFICIENT_PLAN,
                    "no active account",
                )
            })
    }

    pub async fn place(
        &self,
        token: &Secret,
        account: &Account,
        order: &OrderRequest,
    ) -> Result<String, SendError> {
        let answer = self
            .write(
                token,
                "broker.placeorder",
                "placeorder",
                place_body(account, order),
            )
            .await?;
        if let Some(id) = answer["orderId"].as_i64() {
            return Ok(id.to_string());
        }
        let reason = answer["failureText"]
            .as_str()
            .or(answer["errorText"].as_str())
            .unwrap_or("");
        match answer["failureReason"].as_str() {
            Some(code) if code != "Success" => Err(SendError::Rejected {
                reason: format!("{code}: {reason}")
                    .trim_end_matches(": ")
                    .to_owned(),
            }),
            _ if !reason.is_empty() => Err(SendError::Rejected {
                reason: reason.to_owned(),
            }),
            _ => Err(SendError::Unknown(bad_response(
                "placeorder gave no orderId",
            ))),
        }
    }

    /// `POST /order/<command>` with `body` (`action` names the call): the vendor's JSON
    /// answer. Place and modify share it.
    async fn write(
        &self,
        token: &Secret,
        action: &'static str,
        command: &'static str,
        body: Value,
    ) -> Result<Value, SendError> {
        let req = Request::post(
            action,
            self.base.url(&format!("/order/{command}")),
            Body::Json(body),
            CallKind::Write,
        )
        .auth(Auth::Bearer(token.clone()));
        self.base
            .http
            .call(req, |r| {
                classify_status(r, self.base.http.redactor())?;
                r.json()
                    .ok_or_else(|| bad_response(&format!("{command} answer is not JSON")))
            })
            .await
            .map_err(SendError::from_failure)
    }

    /// `POST /order/cancelorder`. `Ok(false)`: `TooLate`, the order had finished (filled,
    /// rejected) before the cancel reached it.
    pub async fn cancel(&self, token: &Secret, broker_order_id: &str) -> Result<bool, Failure> {
        let id = broker_order_id
            .parse::<i64>()
            .map_err(|_| bad_response("a Tradovate order id is numeric"))?;
        let req = Request::post(
            "broker.cancelorder",
            self.base.url("/order/cancelorder"),
            Body::Json(json!({"orderId": id, "isAutomated": true})),
            CallKind::Write,
        )
        .auth(Auth::Bearer(token.clone()));
        self.base
            .http
            .call(req, |r| {
                classify_status(r, self.base.http.redactor())?;
                let b = r.json().unwrap_or(Value::Null);
                match b["failureReason"].as_str() {
                    Some("TooLate") => Ok(false),
                    Some(code) if code != "Success" => Err(Failure::new(
                        Outcome::ProviderError,
                        codes::PROVIDER_HTTP_4XX,
                        format!(
                            "cancel refused: {code} {}",
                            b["failureText"].as_str().unwrap_or("")
                        ),
                    )),
                    _ => Ok(true),
                }
            })
            .await
    }

    /// `POST /order/modifyorder`: a `CommandResult` (`commandId`), or `failureReason` /
    /// `failureText` on HTTP 200 (refused: the order stands).
    pub async fn modify(
        &self,
        token: &Secret,
        broker_order_id: &str,
        change: &OrderModify,
    ) -> Result<(), SendError> {
        let id = broker_order_id
            .parse::<i64>()
            .map_err(|_| SendError::Rejected {
                reason: "a Tradovate order id is numeric".into(),
            })?;
        let answer = self
            .write(
                token,
                "broker.modifyorder",
                "modifyorder",
                modify_body(id, change),
            )
            .await?;
        match answer["failureReason"].as_str() {
            Some(code) if code != "Success" => Err(SendError::Rejected {
                reason: format!("{code}: {}", answer["failureText"].as_str().unwrap_or(""))
                    .trim_end_matches(": ")
                    .to_owned(),
            }),
            _ if answer["commandId"].is_i64() => Ok(()),
            _ => Err(SendError::Unknown(bad_response(
                "modifyorder gave no commandId",
            ))),
        }
    }

    /// The account's orders, each with our key (`text` of its latest version) and contract.
    pub async fn orders(
        &self,
        token: &Secret,
        account: &Account,
    ) -> Result<Vec<BrokerOrder>, Failure> {
        let req = self.read("broker.order_list", "/order/list", token);
        let orders = self.base.http.call(req, |r| self.array(r)).await?;
        let req = self.read("broker.order_version_list", "/orderVersion/list", token);
        let versions = self.base.http.call(req, |r| self.array(r)).await?;
        let mut out = Vec::new();
        for o in orders {
            if o["accountId"].as_i64().map(|a| a.to_string()).as_deref() != Some(&account.id) {
                continue;
            }
            let Some(id) = o["id"].as_i64() else { continue };
            let version = versions
                .iter()
                .filter(|v| v["orderId"].as_i64() == Some(id))
                .max_by_key(|v| v["id"].as_i64().unwrap_or(0));
            let symbol = match o["contractId"].as_i64() {
                Some(cid) => Some(self.contract_name(token, cid).await?),
                None => None,
            };
            out.push(order_of(&o, version, symbol)?);
        }
        Ok(out)
    }

    /// `GET /contract/item?id=`: the contract's name (`ESZ6`).
    pub async fn contract_name(&self, token: &Secret, contract_id: i64) -> Result<String, Failure> {
        let req = self
            .read("broker.contract_item", "/contract/item", token)
            .query("id", contract_id.to_string());
        self.base
            .http
            .call(req, |r| {
                classify_status(r, self.base.http.redactor())?;
                r.json()
                    .and_then(|b| b["name"].as_str().map(str::to_owned))
                    .ok_or_else(|| bad_response("contract/item has no name"))
            })
            .await
    }

    /// Fills of the account's orders, with the fees Tradovate charged for each (`fillFee`,
    /// keyed by the fill's id).
    pub async fn fills(
        &self,
        token: &Secret,
        account: &Account,
    ) -> Result<Vec<BrokerFill>, Failure> {
        let req = self.read("broker.order_list", "/order/list", token);
        let orders = self.base.http.call(req, |r| self.array(r)).await?;
        let ours: Vec<i64> = orders
            .iter()
            .filter(|o| {
                o["accountId"].as_i64().map(|a| a.to_string()).as_deref() == Some(&account.id)
            })
            .filter_map(|o| o["id"].as_i64())
            .collect();
        let req = self.read("broker.fill_list", "/fill/list", token);
        let fills = self.base.http.call(req, |r| self.array(r)).await?;
        let req = self.read("broker.fill_fee_list", "/fillFee/list", token);
        let fees = self.base.http.call(req, |r| self.array(r)).await?;
        let mut out = Vec::new();
        for f in fills {
            let (Some(id), Some(order)) = (f["id"].as_i64(), f["orderId"].as_i64()) else {
                continue;
            };
            if !ours.contains(&order) || f["active"].as_bool() == Some(false) {
                continue;
            }
            let commission = fees
                .iter()
                .find(|x| x["id"].as_i64() == Some(id))
                .map(commission_of);
            out.push(fill_of(&f, commission)?);
        }
        Ok(out)
    }

    /// `GET /fillFee/items?ids=…` (the generic entity read): what Tradovate charged for each of
    /// `fill_ids`, keyed by the fill's id; a fill without a fee record is absent. The user
    /// stream carries fills but not their fees (`SyncMessage` has no `fillFees`).
    pub async fn fill_fees(
        &self,
        token: &Secret,
        fill_ids: &[i64],
    ) -> Result<Vec<(i64, Decimal)>, Failure> {
        let ids: Vec<String> = fill_ids.iter().map(i64::to_string).collect();
        let req = self
            .read("broker.fill_fee_items", "/fillFee/items", token)
            .query("ids", ids.join(","));
        let fees = self.base.http.call(req, |r| self.array(r)).await?;
        Ok(fees
            .iter()
            .filter_map(|x| Some((x["id"].as_i64()?, commission_of(x))))
            .collect())
    }

    pub async fn positions(
        &self,
        token: &Secret,
        account: &Account,
    ) -> Result<Vec<BrokerPosition>, Failure> {
        let req = self.read("broker.position_list", "/position/list", token);
        let rows = self.base.http.call(req, |r| self.array(r)).await?;
        let mut out = Vec::new();
        for p in rows {
            if p["accountId"].as_i64().map(|a| a.to_string()).as_deref() != Some(&account.id) {
                continue;
            }
            let (Some(cid), Some(net)) = (p["contractId"].as_i64(), p["netPos"].as_i64()) else {
                continue;
            };
            out.push(BrokerPosition {
                symbol: self.contract_name(token, cid).await?,
                net,
                avg_price: decimal_of(&p["netPrice"]),
            });
        }
        Ok(out)
    }
}

/// When a token issued at `now` must be renewed: 10 minutes before it expires (Tradovate's
/// own guidance is to renew at 85 of 90 minutes), or after 70 minutes when no expiry came.
pub fn renew_at(login: &Login, now: DateTime<Utc>) -> DateTime<Utc> {
    login
        .expires_at
        .map(|e| e - chrono::Duration::minutes(10))
        .unwrap_or(now + chrono::Duration::minutes(70))
}
