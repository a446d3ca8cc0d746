//! Order modify (issue 17 part 2, "modify where the strategy needs it", e.g. moving a stop):
//! the exact vendor requests (Tradovate `POST /order/modifyorder`, Ironbeam `PUT
//! /order/{accountId}/update/{orderId}`, its body validated against Ironbeam's OpenAPI
//! `OrderUpdateRequest`), the answers mapped to `Rejected`, and the simulator: a moved stop
//! matches at its new price, and what the vendors refuse (an order no longer working, a type
//! change, a property outside the schema, a mismatched order id) is refused.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as TimeDelta, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradeplane::{
    clock::Clock,
    domain::{
        contracts::{Contract, ContractMonth},
        execution::OrderType,
        instruments::Symbol,
        side::Side,
    },
    integrations::{
        brokers::{
            Account, BrokerClient, BrokerOrderStatus, BrokerVendor, Login, OrderModify,
            OrderRequest, SendError, TimeInForce,
        },
        registry::{EnvMap, ProviderConfig, spec},
        usage::MemoryUsageSink,
    },
    runtime::brokers::Brokers,
    sandbox::ohlcv,
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, method, path},
};

use crate::support::{
    FAKE_KEY, env_for,
    fixtures::{sandbox_broker_book, start_sandbox_with_clock},
};

fn client(vendor: BrokerVendor, base: &str) -> BrokerClient {
    let config = ProviderConfig::from_env(spec(vendor.id()).unwrap(), &env_for(vendor.id(), base));
    BrokerClient::new(
        vendor,
        config,
        Arc::new(MemoryUsageSink::new()),
        Duration::from_secs(2),
        Clock::system(),
    )
    .unwrap()
}

fn login() -> Login {
    Login {
        token: tradeplane::config::Secret::new("tok"),
        expires_at: None,
        is_live: None,
        user_id: None,
    }
}

fn stop_moved_to(price: Decimal) -> OrderModify {
    OrderModify {
        quantity: 2,
        order_type: OrderType::Stop,
        limit_price: None,
        stop_price: Some(price),
        time_in_force: TimeInForce::Day,
    }
}

fn reply(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

#[tokio::test]
async fn tradovate_modifyorder_is_the_documented_request() {
    let server = MockServer::start().await;
    let c = client(BrokerVendor::Tradovate, &server.uri());
    let account = Account {
        id: "7".into(),
        spec: "DEMO7".into(),
    };
    Mock::given(method("POST"))
        .and(path("/order/modifyorder"))
        .and(header("authorization", "Bearer tok"))
        .and(body_json(json!({
            "orderId": 123, "orderQty": 2, "orderType": "Stop", "stopPrice": 5990.5,
            "timeInForce": "Day", "isAutomated": true,
        })))
        .respond_with(reply(200, json!({"commandId": 44})))
        .expect(1)
        .mount(&server)
        .await;
    c.modify(
        &login(),
        &account,
        "123",
        &stop_moved_to(Decimal::new(59905, 1)),
    )
    .await
    .unwrap();
    // A refusal is HTTP 200 with `failureReason`: the order stands, nothing is unknown.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/order/modifyorder"))
        .respond_with(reply(
            200,
            json!({"failureReason": "TooLate", "failureText": "the order is no longer working"}),
        ))
        .mount(&server)
        .await;
    match c
        .modify(
            &login(),
            &account,
            "123",
            &stop_moved_to(Decimal::new(5990, 0)),
        )
        .await
    {
        Err(SendError::Rejected { reason }) => assert!(reason.starts_with("TooLate"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

/// Ironbeam's OpenAPI `OrderUpdateRequest` (strict: `additionalProperties: false`).
fn update_schema() -> (boon::Schemas, boon::SchemaIndex) {
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/vendor/ironbeam-openapi.json"
    ))
    .unwrap();
    let doc: Value = serde_json::from_str(&raw).unwrap();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("https://ironbeam.test/openapi.json", doc)
        .unwrap();
    let mut schemas = boon::Schemas::new();
    let idx = compiler
        .compile(
            "https://ironbeam.test/openapi.json#/components/schemas/OrderUpdateRequest",
            &mut schemas,
        )
        .unwrap();
    (schemas, idx)
}

#[tokio::test]
async fn ironbeam_update_is_the_documented_request_and_validates_against_its_openapi() {
    let server = MockServer::start().await;
    let c = client(BrokerVendor::Ironbeam, &server.uri());
    let account = Account {
        id: "5123345".into(),
        spec: "5123345".into(),
    };
    Mock::given(method("PUT"))
        .and(path("/order/5123345/update/5123345-77"))
        .and(header("authorization", "Bearer tok"))
        .and(body_json(
            json!({"orderId": "5123345-77", "quantity": 2, "stopPrice": 5990.5}),
        ))
        .respond_with(reply(
            200,
            json!({"status": "OK", "message": "OK", "orders": []}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    c.modify(
        &login(),
        &account,
        "5123345-77",
        &stop_moved_to(Decimal::new(59905, 1)),
    )
    .await
    .unwrap();
    let (schemas, idx) = update_schema();
    for r in server.received_requests().await.unwrap() {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        schemas.validate(&body, idx).unwrap();
    }
    let limit = OrderModify {
        order_type: OrderType::Limit,
        limit_price: Some(Decimal::new(600025, 2)),
        stop_price: None,
        ..stop_moved_to(Decimal::ZERO)
    };
    let body = tradeplane::integrations::brokers::ironbeam::update_body("5123345-77", &limit);
    schemas.validate(&body, idx).unwrap();
    // The schema is not a rubber stamp: the account id of the spec's examples is refused.
    let mut extra = body.clone();
    extra["accountId"] = json!("5123345");
    assert!(schemas.validate(&extra, idx).is_err());

    // A 400 is the broker refusing the change; a 504 leaves it unknown.
    server.reset().await;
    Mock::given(method("PUT"))
        .and(path("/order/5123345/update/5123345-77"))
        .respond_with(reply(
            400,
            json!({"status": "ERROR", "message": "Bad Request", "error": "Order is not working"}),
        ))
        .mount(&server)
        .await;
    let change = stop_moved_to(Decimal::new(5990, 0));
    match c.modify(&login(), &account, "5123345-77", &change).await {
        Err(SendError::Rejected { reason }) => assert!(reason.contains("not working"), "{reason}"),
        other => panic!("{other:?}"),
    }
    server.reset().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(504))
        .mount(&server)
        .await;
    assert!(matches!(
        c.modify(&login(), &account, "5123345-77", &change).await,
        Err(SendError::Unknown(_))
    ));
}

/// Tuesday 2026-11-17 10:00 CT: the market is open.
fn open_session() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 16, 0, 20).unwrap()
}

async fn sim(vendor: &str) -> (Clock, EnvMap, Brokers) {
    let clock = Clock::manual(open_session());
    let sandbox = start_sandbox_with_clock(clock.clone()).await;
    let other = if vendor == "tradovate" {
        "IRONBEAM_"
    } else {
        "TRADOVATE_"
    };
    let env: EnvMap = sandbox
        .iter()
        .filter(|(k, _)| !k.starts_with(other))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let brokers = Brokers::from_env(
        &env,
        Arc::new(MemoryUsageSink::new()),
        Duration::from_secs(2),
        &clock,
    );
    (clock, env, brokers)
}

/// A stop placed out of reach, moved to where the next minute trades: it fills at its new
/// price on that bar; a filled order cannot be modified; the type cannot change.
#[tokio::test]
async fn a_moved_stop_matches_at_its_new_price_at_the_simulator() {
    for vendor in [BrokerVendor::Tradovate, BrokerVendor::Ironbeam] {
        let (clock, env, brokers) = sim(vendor.id()).await;
        let s = brokers.get(vendor).unwrap();
        s.maintain().await;
        assert!(s.is_ready(), "{:?}", s.health());
        let next = ohlcv::minute_bars(
            "ESZ6",
            clock.now() + TimeDelta::seconds(40),
            clock.now() + TimeDelta::seconds(100),
            1,
        );
        let bar = &next[0];
        // A buy stop far above the market.
        let far = Decimal::try_from(bar.high + 500.0).unwrap();
        let (_, id) = s
            .place(&OrderRequest {
                client_id: format!("tp1-modify-{}", vendor.id()),
                contract: Contract::new(Symbol::Es, 2026, ContractMonth::Z),
                side: Side::Buy,
                quantity: 2,
                order_type: OrderType::Stop,
                limit_price: None,
                stop_price: Some(far),
                time_in_force: TimeInForce::Day,
            })
            .await
            .unwrap();
        // Moved down to the next bar's low: touched on that bar.
        let touch = Decimal::try_from(bar.low).unwrap().round_dp(2);
        s.modify(&id, &stop_moved_to(touch)).await.unwrap();
        // The type cannot change (Tradovate) / the limit price does not apply (Ironbeam).
        let to_limit = OrderModify {
            order_type: OrderType::Limit,
            limit_price: Some(touch),
            stop_price: None,
            ..stop_moved_to(touch)
        };
        assert!(
            matches!(
                s.modify(&id, &to_limit).await,
                Err(SendError::Rejected { .. })
            ),
            "{vendor:?}"
        );
        clock.advance(TimeDelta::seconds(120));
        let orders = s.orders().await.unwrap();
        let o = orders.iter().find(|o| o.broker_order_id == id).unwrap();
        assert_eq!(o.status, BrokerOrderStatus::Filled, "{vendor:?}: {o:?}");
        let book = sandbox_broker_book(&env, vendor.id()).await;
        let fill = &book["fills"][0];
        let price = fill["price"].as_f64().unwrap();
        let touch_f: f64 = touch.try_into().unwrap();
        assert!(
            (price - bar.open.max(touch_f)).abs() < 1e-9,
            "{vendor:?}: filled at {price}, bar {bar:?}"
        );
        // Filled: too late to modify.
        match s.modify(&id, &stop_moved_to(touch)).await {
            Err(SendError::Rejected { reason }) => {
                assert!(reason.contains("no longer working"), "{reason}")
            }
            other => panic!("{vendor:?}: {other:?}"),
        }
    }
}

/// Ironbeam's simulator refuses an update body outside the schema or naming another order.
#[tokio::test]
async fn the_ironbeam_simulator_refuses_what_ironbeam_refuses() {
    let (_clock, env, brokers) = sim("ironbeam").await;
    let s = brokers.get(BrokerVendor::Ironbeam).unwrap();
    s.maintain().await;
    let (_, id) = s
        .place(&OrderRequest {
            client_id: "tp1-x".into(),
            contract: Contract::new(Symbol::Es, 2026, ContractMonth::Z),
            side: Side::Buy,
            quantity: 1,
            order_type: OrderType::Limit,
            limit_price: Some(Decimal::new(1000, 0)),
            stop_price: None,
            time_in_force: TimeInForce::Day,
        })
        .await
        .unwrap();
    let root = env["IRONBEAM_BASE_URL"].trim_end_matches('/').to_owned();
    let token = {
        let r: Value = reqwest::Client::new()
            .post(format!("{root}/auth"))
            .json(&json!({"username": FAKE_KEY, "apiKey": FAKE_KEY}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["token"].as_str().unwrap().to_owned()
    };
    let account = id.split('-').next().unwrap().to_owned();
    let put = |body: Value, order: String| {
        let (root, token, account) = (root.clone(), token.clone(), account.clone());
        async move {
            reqwest::Client::new()
                .put(format!("{root}/order/{account}/update/{order}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The spec's own example shape (with `accountId`) is outside the schema: refused.
    let status = put(
        json!({"accountId": account, "orderId": id, "quantity": 1, "limitPrice": 1001.0}),
        id.clone(),
    )
    .await;
    assert_eq!(status, 400);
    // No quantity: refused.
    assert_eq!(
        put(json!({"orderId": id, "limitPrice": 1001.0}), id.clone()).await,
        400
    );
    // Another order's id in the body: refused.
    assert_eq!(
        put(
            json!({"orderId": "1-2", "quantity": 1, "limitPrice": 1001.0}),
            id.clone()
        )
        .await,
        400
    );
    // The well-formed request passes.
    assert_eq!(
        put(
            json!({"orderId": id, "quantity": 1, "limitPrice": 1001.0}),
            id.clone()
        )
        .await,
        200
    );
    let book = sandbox_broker_book(&env, "ironbeam").await;
    assert_eq!(
        book["orders"][0]["kind"],
        json!({"type": "LIMIT", "price": 1001.0}),
        "{book}"
    );
}
