//! `tradeplane sandbox`: a local simulator of every vendor endpoint the provider clients use,
//! so the product runs end to end with no internet and no paid keys. Each vendor lives under a
//! path prefix (`/polygon`, `/openai/v1`, …; Databento at the root) that its `<ID>_BASE_URL` points at (see
//! `.env.sandbox`); a provider pointed here reports `sandbox: true` and can never serve LIVE.
//! Answers use the vendors' real shapes; credentials must be present but are not checked.
//!
//! This is a vendor double, not part of the product API, so it is one dispatcher (a fallback
//! handler) outside the OpenAPI document. Its times (market status, token expiry) come from the
//! clock it is given: the server's, shifted the same way on a test stack.
//!
//! The market-data endpoints are strict: they refuse what the vendors refuse, in the vendors'
//! error shapes (Databento: Basic auth only, a bare root such as `ES` as a raw symbol fails
//! symbology, unknown schema, start not before end; Massive: futures only under
//! `/futures/v1/aggs/{contract}`, the stocks endpoint has nothing for a futures ticker).
//! The LLM generation endpoints ([`llm`]) are strict the same way (auth and version headers,
//! required fields) and answer deterministically.
//! Finnhub market news ([`news`]) is deterministic (hourly headlines, every 6th risk-off) and
//! takes injected headlines (`POST /_sandbox/finnhub/news`).
//! `POST /_sandbox/faults` injects outages, 429s, plan refusals, timeouts and content refusals
//! on command ([`Fault`]), and late bars for the market-data vendors (`"fault": "late"` with
//! `"seconds": n`: the vendor serves only bars that closed at least n s before the sandbox
//! clock's now, as a vendor lagging behind the market does).
//! Databento's live gateway ([`live`]: CRAM, subscriptions, a DBN stream of the same bars) is
//! served on its own port by [`serve_with_live`]; `"vendor": "databento_live"` faults command it
//! (disconnect, silence, late bars, gap, duplicate bar). An outage commanded for `databento`
//! takes both its historical API and its live gateway down (and clearing it brings both back),
//! so a demo's or a test's outage needs no second command for the stream.

pub mod broker;
mod databento;
mod faults;
pub mod live;
mod llm;
mod macro_data;
mod massive;
mod news;
pub mod ohlcv;
mod redis;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use crate::clock::Clock;
pub use faults::Fault;
pub(crate) use faults::stall;
use faults::{Faults, Late};
use routes::dispatch;

/// Most bars in one Polygon page, so clients exercise `next_url`.
pub const POLYGON_PAGE: usize = 1000;

#[derive(Clone)]
pub struct SandboxState {
    clock: Clock,
    faults: Faults,
    late: Late,
    brokers: broker::BrokerSim,
    news: news::Injected,
    live: live::LiveControl,
}

pub fn router(clock: Clock) -> Router {
    router_with(clock, live::LiveControl::default())
}

/// The HTTP simulator whose `POST /_sandbox/faults` also commands the live gateway `live`.
fn router_with(clock: Clock, live: live::LiveControl) -> Router {
    let state = SandboxState {
        clock,
        faults: Arc::default(),
        late: Arc::default(),
        brokers: broker::BrokerSim::default(),
        news: Arc::default(),
        live,
    };
    Router::new().fallback(entry).with_state(state)
}

/// Tradovate's trading WebSocket (`broker::tradovate_socket`) and Ironbeam's stream socket
/// (`broker::ironbeam_socket`) on their paths, every other request to [`dispatch`].
async fn entry(State(state): State<SandboxState>, req: axum::extract::Request) -> Response {
    use axum::extract::FromRequestParts;
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let ironbeam_stream = path
        .strip_prefix("/ironbeam/v2/stream/")
        .filter(|id| *id != "create" && !id.contains('/'))
        .map(str::to_owned);
    if path != "/tradovate/v1/websocket" && ironbeam_stream.is_none() {
        return axum::handler::Handler::call(dispatch, req, state).await;
    }
    let token = url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    let (mut parts, _) = req.into_parts();
    let ws = axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &state)
        .await
        .map_err(IntoResponse::into_response);
    match ironbeam_stream {
        Some(id) => broker::ironbeam_socket(
            &state.brokers,
            state.clock.clone(),
            &id,
            token.as_deref(),
            ws,
        ),
        None => match ws {
            Ok(ws) => broker::tradovate_socket(&state.brokers, state.clock.clone(), ws),
            Err(refused) => refused,
        },
    }
}

/// Serves HTTP on `http` and the Redis simulator on `redis` until the task is dropped.
pub async fn serve(
    http: tokio::net::TcpListener,
    redis: tokio::net::TcpListener,
    clock: Clock,
) -> std::io::Result<()> {
    tokio::spawn(redis::serve(redis));
    axum::serve(http, router(clock)).await
}

/// [`serve`] plus Databento's live gateway ([`live`]) on `gateway`, on the same clock and
/// commanded by the same `POST /_sandbox/faults` (`"vendor": "databento_live"`).
pub async fn serve_with_live(
    http: tokio::net::TcpListener,
    redis: tokio::net::TcpListener,
    gateway: tokio::net::TcpListener,
    clock: Clock,
) -> std::io::Result<()> {
    let control = live::LiveControl::default();
    tokio::spawn(redis::serve(redis));
    tokio::spawn(live::serve(gateway, clock.clone(), control.clone()));
    axum::serve(http, router_with(clock, control)).await
}

pub async fn bind(
    http: SocketAddr,
    redis: SocketAddr,
) -> std::io::Result<(tokio::net::TcpListener, tokio::net::TcpListener)> {
    Ok((
        tokio::net::TcpListener::bind(http).await?,
        tokio::net::TcpListener::bind(redis).await?,
    ))
}

fn json_reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    json_reply(StatusCode::OK, body)
}

fn has_header(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().is_empty() && v.trim() != "Bearer")
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get(clock: &Clock, path: &str) -> Value {
        let req = Request::get(path)
            .header("authorization", "Bearer sandbox")
            .header("x-finnhub-token", "sandbox")
            .body(Body::empty())
            .unwrap();
        let res = router(clock.clone()).oneshot(req).await.unwrap();
        serde_json::from_slice(&to_bytes(res.into_body(), 1 << 20).await.unwrap()).unwrap()
    }

    #[tokio::test]
    async fn times_come_from_the_clock_it_is_given() {
        let clock = Clock::manual("2026-11-28T18:00:00Z".parse().unwrap());
        let status = get(&clock, "/polygon/v1/marketstatus/now").await;
        assert_eq!(status["serverTime"], "2026-11-28T18:00:00+00:00");
        clock.advance(chrono::TimeDelta::minutes(1));
        let finnhub = get(&clock, "/finnhub/stock/market-status").await;
        assert_eq!(finnhub["t"], 1_795_888_860);
    }
}
