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
pub mod live;
mod llm;
mod macro_data;
mod news;
pub mod ohlcv;
mod redis;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;

use crate::clock::Clock;

/// Most bars in one Polygon page, so clients exercise `next_url`.
pub const POLYGON_PAGE: usize = 1000;

/// A fault the market-data endpoints answer with instead of data, set on command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// HTTP 503 in the vendor's shape.
    Outage,
    /// HTTP 429 with `Retry-After: 1`.
    RateLimited,
    /// Massive 403 `NOT_AUTHORIZED` (a plan without the data); Databento 403; an LLM's
    /// bad-key answer.
    NotAuthorized,
    /// No answer for a minute, then the vendor's 5xx (a hanging vendor).
    Timeout,
    /// LLMs: the vendor's content-refusal shape (market data: an outage).
    Refusal,
}

/// `POST /_sandbox/faults`: `{"vendor": "databento"|"polygon"|"fmp"|"fred"|<LLM provider id>, "fault": <Fault>|"late"|null,
/// "count": n, "seconds": n}` (`count` absent: until cleared with `"fault": null`; `seconds`:
/// the delay of a `late` fault, market-data vendors only).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultCommand {
    vendor: String,
    fault: Option<Injected>,
    count: Option<u32>,
    seconds: Option<u32>,
}

/// A live-gateway fault command (`"vendor": "databento_live"`): `None` for any other vendor.
#[allow(clippy::type_complexity)]
fn live_fault(body: &[u8]) -> Option<Result<(Option<live::LiveFault>, Option<u32>), String>> {
    #[derive(serde::Deserialize)]
    struct Cmd {
        vendor: String,
        fault: Option<Value>,
        count: Option<u32>,
    }
    let cmd: Cmd = serde_json::from_slice(body).ok()?;
    (cmd.vendor == "databento_live").then(|| {
        let fault = cmd
            .fault
            .map(serde_json::from_value::<live::LiveFault>)
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok((fault, cmd.count))
    })
}

/// What a fault command sets: an answer instead of data, or late data.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(untagged)]
enum Injected {
    Answer(Fault),
    Late(LateTag),
}

#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum LateTag {
    Late,
}

/// The vendors whose bars can be late.
const LATE_VENDORS: [&str; 2] = ["databento", "polygon"];

/// Most a `late` fault delays bars: a day.
const MAX_LATE_SECONDS: u32 = 86_400;

/// vendor → (fault, requests left; `None` = until cleared).
type Faults = Arc<Mutex<HashMap<String, (Fault, Option<u32>)>>>;

/// vendor → (delay in seconds, requests left; `None` = until cleared).
type Late = Arc<Mutex<HashMap<String, (u32, Option<u32>)>>>;

#[derive(Clone)]
pub struct SandboxState {
    clock: Clock,
    faults: Faults,
    late: Late,
    brokers: broker::BrokerSim,
    news: news::Injected,
    live: live::LiveControl,
}

impl SandboxState {
    /// The fault `vendor`'s next bars request gets, if any (consumes one of a counted fault).
    fn take_fault(&self, vendor: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let (fault, left) = faults.get_mut(vendor)?;
        let fault = *fault;
        match left {
            Some(0) => {
                faults.remove(vendor);
                return None;
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(fault)
    }

    /// The newest bar end `vendor`'s next bars request may serve, when its bars are late
    /// (consumes one request of a counted `late` fault): the clock's now less the delay.
    fn take_late(&self, vendor: &str) -> Option<DateTime<Utc>> {
        let mut late = self.late.lock().unwrap_or_else(|p| p.into_inner());
        let (seconds, left) = late.get_mut(vendor)?;
        let seconds = *seconds;
        match left {
            Some(0) => {
                late.remove(vendor);
                return None;
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(self.clock.now() - chrono::Duration::seconds(i64::from(seconds)))
    }

    fn command(&self, cmd: FaultCommand) -> Result<(), String> {
        if cmd.vendor == "databento" {
            self.databento_down_everywhere(&cmd);
        }
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let mut late = self.late.lock().unwrap_or_else(|p| p.into_inner());
        match (cmd.fault, cmd.seconds) {
            (None, _) => {
                faults.remove(&cmd.vendor);
                late.remove(&cmd.vendor);
            }
            (Some(Injected::Answer(f)), None) => {
                faults.insert(cmd.vendor, (f, cmd.count));
            }
            (Some(Injected::Answer(_)), Some(_)) => {
                return Err("seconds is for a late fault only".into());
            }
            (Some(Injected::Late(_)), _) if !LATE_VENDORS.contains(&cmd.vendor.as_str()) => {
                return Err(format!(
                    "late bars are for {}, not {}",
                    LATE_VENDORS.join(" and "),
                    cmd.vendor
                ));
            }
            (Some(Injected::Late(_)), Some(s)) if (1..=MAX_LATE_SECONDS).contains(&s) => {
                late.insert(cmd.vendor, (s, cmd.count));
            }
            (Some(Injected::Late(_)), _) => {
                return Err(format!(
                    "a late fault needs seconds between 1 and {MAX_LATE_SECONDS}"
                ));
            }
        }
        Ok(())
    }
}

impl SandboxState {
    /// Databento down is down for both of its doors: an outage of its historical API
    /// (`outage`, `timeout`, `refusal`) also takes its live gateway down (open sessions
    /// closed, new connections dropped: [`live::LiveFault::Disconnect`]), until cleared or, for
    /// a counted fault, for that many connections; clearing Databento's fault clears the
    /// gateway's disconnect too. A late, rate-limited or plan-refused historical API leaves
    /// the gateway streaming (they are the HTTP API's answers, not an outage).
    fn databento_down_everywhere(&self, cmd: &FaultCommand) {
        match cmd.fault {
            Some(Injected::Answer(Fault::Outage | Fault::Timeout | Fault::Refusal))
                if cmd.seconds.is_none() =>
            {
                self.live.set(Some(live::LiveFault::Disconnect), cmd.count);
            }
            None => self.live.clear_if(live::LiveFault::Disconnect),
            _ => {}
        }
    }
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

async fn dispatch(
    State(state): State<SandboxState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let clock = state.clock.clone();
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let bearer = has_header(&headers, "authorization");
    let q = |k: &str| query.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let get = method == Method::GET;
    let post = method == Method::POST;
    if post && let Some(reply) = llm::route(&state, &segments, &headers, &query, &body).await {
        return reply;
    }
    if get && let Some(reply) = macro_data::route(&state, &segments, &query).await {
        return reply;
    }
    if let Some(reply) = news::route(&state, &method, &segments, &headers, &query, &body).await {
        return reply;
    }
    if let Some(reply) = broker::route(
        &state.brokers,
        &clock,
        &method,
        &segments,
        &headers,
        &query,
        &body,
    )
    .await
    {
        return reply;
    }
    match segments.as_slice() {
        // Databento (Basic auth, key as user name), at the root: the official crate replaces
        // the base URL's path with `/v0/…`.
        ["v0", "metadata.list_datasets"] if get => {
            if !bearer {
                return json_reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"detail": "Authentication failed."}),
                );
            }
            ok(json!(["GLBX.MDP3", "XNAS.ITCH", "OPRA.PILLAR"]))
        }
        ["v0", "timeseries.get_range"] if post => {
            if !databento_basic_auth(&headers) {
                return json_reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"detail": "Authentication failed."}),
                );
            }
            if let Some(fault) = state.take_fault("databento") {
                stall(fault).await;
                return databento_fault(fault);
            }
            databento_range(&body, state.take_late("databento"))
        }
        ["polygon", "v1", "marketstatus", "now"] if get => {
            if !bearer {
                return json_reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"status": "ERROR", "request_id": "sandbox", "error": "API Key was not provided"}),
                );
            }
            ok(
                json!({"market": "extended-hours", "serverTime": clock.now().to_rfc3339(), "earlyHours": false,
                "afterHours": true, "exchanges": {"nasdaq": "extended-hours", "nyse": "extended-hours", "otc": "closed"}}),
            )
        }
        [
            "polygon",
            "v2",
            "aggs",
            "ticker",
            ticker,
            "range",
            mult,
            span,
            from,
            to,
        ] if get => {
            if !bearer {
                return json_reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"status": "ERROR", "request_id": "sandbox", "error": "API Key was not provided"}),
                );
            }
            if let Some(fault) = state.take_fault("polygon") {
                stall(fault).await;
                return massive_fault(fault);
            }
            // A stocks call for a futures ticker: Massive has no such stock (`ES` would even be
            // a different company), so nothing comes back.
            if ohlcv::futures_root(ticker).is_some() || ticker.eq_ignore_ascii_case("ES") {
                return ok(json!({
                    "ticker": ticker, "queryCount": 0, "resultsCount": 0, "adjusted": true,
                    "status": "OK", "request_id": "sandbox", "count": 0,
                }));
            }
            polygon_aggs(&headers, ticker, mult, span, from, to, &query)
        }
        ["polygon", "futures", "v1", "aggs", ticker] if get => {
            if !bearer {
                return json_reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"status": "ERROR", "request_id": "sandbox", "error": "API Key was not provided"}),
                );
            }
            if let Some(fault) = state.take_fault("polygon") {
                stall(fault).await;
                return massive_fault(fault);
            }
            massive_futures_aggs(&headers, ticker, &query, state.take_late("polygon"))
        }
        ["_sandbox", "faults"] if post && live_fault(&body).is_some() => match live_fault(&body) {
            Some(Ok((fault, count))) => {
                state.live.set(fault, count);
                ok(json!({"ok": true}))
            }
            Some(Err(e)) => json_reply(StatusCode::BAD_REQUEST, json!({"error": e})),
            None => json_reply(StatusCode::BAD_REQUEST, json!({"error": "no fault"})),
        },
        ["_sandbox", "faults"] if post => {
            match serde_json::from_slice::<FaultCommand>(&body)
                .map_err(|e| e.to_string())
                .and_then(|cmd| state.command(cmd))
            {
                Ok(()) => ok(json!({"ok": true})),
                Err(e) => json_reply(StatusCode::BAD_REQUEST, json!({"error": e})),
            }
        }
        ["finnhub", "stock", "market-status"] if get => {
            if !has_header(&headers, "x-finnhub-token") && q("token").is_none() {
                return json_reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "Invalid API key."}),
                );
            }
            ok(
                json!({"exchange": "US", "holiday": null, "isOpen": false, "session": "closed", "t": clock.now().timestamp(), "timezone": "America/New_York"}),
            )
        }
        ["alphavantage", "query"] if get => {
            if q("apikey").is_none() {
                return ok(json!({"Error Message": "the parameter apikey is invalid or missing."}));
            }
            ok(
                json!({"Global Quote": {"01. symbol": q("symbol").unwrap_or("IBM"), "05. price": "210.0000"}}),
            )
        }
        ["fmp", "stable", "quote"] if get => {
            if q("apikey").is_none() {
                return json_reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"Error Message": "Invalid API KEY. Please retry or visit our documentation to create one FREE https://financialmodelingprep.com/developer/docs"}),
                );
            }
            ok(
                json!([{"symbol": q("symbol").unwrap_or("AAPL"), "name": "Sandbox quote", "price": 230.0}]),
            )
        }
        ["fred", "fred", "series"] if get => {
            if q("api_key").is_none() {
                return json_reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error_code": 400, "error_message": "Bad Request.  Variable api_key has not been set."}),
                );
            }
            ok(
                json!({"realtime_start": "2026-01-01", "realtime_end": "2026-01-01", "seriess": [{"id": q("series_id").unwrap_or("GNPCA"), "title": "Sandbox series", "frequency": "Annual", "units": "Billions"}]}),
            )
        }
        ["openai", "v1", "models"] | ["groq", "openai", "v1", "models"] if get => {
            if !bearer {
                return json_reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
                );
            }
            ok(
                json!({"object": "list", "data": [{"id": "sandbox-model", "object": "model", "created": 0, "owned_by": "sandbox"}]}),
            )
        }
        ["anthropic", "v1", "models"] if get => {
            if !has_header(&headers, "x-api-key") {
                return json_reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
                );
            }
            ok(
                json!({"data": [{"type": "model", "id": "sandbox-model", "display_name": "Sandbox", "created_at": "2026-01-01T00:00:00Z"}], "has_more": false, "first_id": "sandbox-model", "last_id": "sandbox-model"}),
            )
        }
        ["gemini", "v1beta", "models"] if get => {
            if !has_header(&headers, "x-goog-api-key") && q("key").is_none() {
                return json_reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}),
                );
            }
            ok(
                json!({"models": [{"name": "models/sandbox", "displayName": "Sandbox", "supportedGenerationMethods": ["generateContent"]}]}),
            )
        }
        ["xai", "v1", "api-key"] if get => {
            if !bearer {
                return json_reply(
                    StatusCode::BAD_REQUEST,
                    json!({"code": "Client specified an invalid argument", "error": "Incorrect API key provided"}),
                );
            }
            ok(
                json!({"redacted_api_key": "xai-***", "user_id": "sandbox", "name": "sandbox", "api_key_id": "sandbox", "team_id": "sandbox", "acls": [], "team_blocked": false, "api_key_blocked": false, "api_key_disabled": false}),
            )
        }
        ["openrouter", "api", "v1", "key"] if get => {
            if !bearer {
                return json_reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": {"code": 401, "message": "No auth credentials found"}}),
                );
            }
            ok(
                json!({"data": {"label": "sandbox", "limit": null, "limit_remaining": null, "usage": 0, "is_free_tier": true}}),
            )
        }
        ["unusual_whales", "api", "stock", ticker, "info"] if get => {
            if !bearer {
                return json_reply(StatusCode::UNAUTHORIZED, json!({"message": "Unauthorized"}));
            }
            ok(json!({"data": {"ticker": ticker, "full_name": "Sandbox instrument"}}))
        }
        ["api", "webhooks", id, _token] if get => ok(
            json!({"id": id, "type": 1, "guild_id": "0", "channel_id": "0", "name": "tradeplane sandbox", "avatar": null, "application_id": null}),
        ),
        ["api", "webhooks", _id, _token] if post => discord_execute(&body),
        _ => json_reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("the sandbox does not simulate {method} {}", uri.path())}),
        ),
    }
}

/// Discord "Execute Webhook" (reference/providers.md §10.1): `204 No Content` for a message
/// with `content` (≤ 2000 characters) or `embeds`; Discord's own 400s otherwise — invalid JSON
/// (50109), an empty message (50006), content over 2000 characters (50035 with the field error).
fn discord_execute(body: &[u8]) -> Response {
    let Ok(msg) = serde_json::from_slice::<Value>(body) else {
        return json_reply(
            StatusCode::BAD_REQUEST,
            json!({"message": "The request body contains invalid JSON.", "code": 50109}),
        );
    };
    let content = msg["content"].as_str().unwrap_or("");
    let embeds = msg["embeds"].as_array().is_some_and(|e| !e.is_empty());
    if content.trim().is_empty() && !embeds {
        return json_reply(
            StatusCode::BAD_REQUEST,
            json!({"message": "Cannot send an empty message", "code": 50006}),
        );
    }
    if content.chars().count() > 2000 {
        return json_reply(
            StatusCode::BAD_REQUEST,
            json!({"message": "Invalid Form Body", "code": 50035, "errors": {"content": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
            ]}}}),
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `from`/`to` as Polygon takes them: `YYYY-MM-DD` (whole days, `to` inclusive) or ms epoch.
fn polygon_time(raw: &str, end: bool) -> Option<DateTime<Utc>> {
    if let Ok(ms) = raw.parse::<i64>() {
        return DateTime::from_timestamp_millis(ms + i64::from(end));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    let day = if end { day.succ_opt()? } else { day };
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

fn polygon_aggs(
    headers: &HeaderMap,
    ticker: &str,
    mult: &str,
    span: &str,
    from: &str,
    to: &str,
    query: &HashMap<String, String>,
) -> Response {
    let unit: i64 = match span {
        "second" => 1,
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        _ => {
            return json_reply(
                StatusCode::BAD_REQUEST,
                json!({"status": "ERROR", "error": format!("timespan {span} is not simulated")}),
            );
        }
    };
    let (Ok(mult), Some(start), Some(end)) = (
        mult.parse::<i64>(),
        polygon_time(from, false),
        polygon_time(to, true),
    ) else {
        return json_reply(
            StatusCode::BAD_REQUEST,
            json!({"status": "ERROR", "error": "bad multiplier or date"}),
        );
    };
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(5000)
        .clamp(1, 50_000)
        .min(POLYGON_PAGE);
    // The cursor is the start (ms) of the next page's first bar, so a page costs O(page), not
    // O(everything before it).
    let start = query
        .get("cursor")
        .and_then(|c| c.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
        .map_or(start, |c| c.max(start));
    let all = ohlcv::bars(
        ticker,
        unit.saturating_mul(mult.clamp(1, 10_000)),
        start,
        end,
        limit + 1,
    );
    let page: Vec<Value> = all
        .iter()
        .take(limit)
        .map(|b| json!({"o": b.open, "h": b.high, "l": b.low, "c": b.close, "v": b.volume, "vw": (b.high + b.low + b.close) / 3.0, "t": b.ts.timestamp_millis(), "n": b.volume / 3}))
        .collect();
    let mut body = json!({
        "ticker": ticker, "queryCount": page.len(), "resultsCount": page.len(), "adjusted": true,
        "results": page, "status": "OK", "request_id": "sandbox", "count": page.len(),
    });
    if let Some(next) = all.get(limit) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        body["next_url"] = json!(format!(
            "http://{host}/polygon/v2/aggs/ticker/{ticker}/range/{mult}/{span}/{from}/{to}?cursor={}&limit={limit}",
            next.ts.timestamp_millis()
        ));
    }
    ok(body)
}

/// Databento authenticates with HTTP Basic: the key as user name, an empty password.
fn databento_basic_auth(headers: &HeaderMap) -> bool {
    use base64::Engine as _;
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| pair.strip_suffix(':').map(str::to_owned))
        .is_some_and(|key| !key.is_empty() && !key.contains(':'))
}

/// Databento's structured error: `{"detail": {"case", "message", "docs", "payload"}}` (the
/// shape the official crate reads; case names beyond `symbology_invalid_request` are the
/// simulator's).
fn databento_error(status: StatusCode, case: &str, message: &str, payload: Value) -> Response {
    json_reply(
        status,
        json!({"detail": {"case": case, "message": message, "status_code": status.as_u16(),
            "docs": "https://databento.com/docs/api-reference-historical", "payload": payload}}),
    )
}

/// A `timeout` fault hangs for a minute before its answer, as a vendor that stopped
/// answering does (callers time out first).
pub(crate) async fn stall(fault: Fault) {
    if fault == Fault::Timeout {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}

fn databento_fault(fault: Fault) -> Response {
    match fault {
        Fault::Outage | Fault::Timeout | Fault::Refusal => json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"detail": "Service temporarily unavailable."}),
        ),
        Fault::RateLimited => {
            let mut res = json_reply(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"detail": "Too many requests."}),
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            res
        }
        Fault::NotAuthorized => databento_error(
            StatusCode::FORBIDDEN,
            "license_not_found",
            "No license for dataset GLBX.MDP3.",
            json!({"dataset": "GLBX.MDP3"}),
        ),
    }
}

fn massive_fault(fault: Fault) -> Response {
    match fault {
        Fault::Outage | Fault::Timeout | Fault::Refusal => json_reply(
            StatusCode::BAD_GATEWAY,
            json!({"status": "ERROR", "request_id": "sandbox", "error": "Bad gateway"}),
        ),
        Fault::RateLimited => {
            let mut res = json_reply(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"status": "ERROR", "request_id": "sandbox", "error": "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://massive.com/pricing"}),
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            res
        }
        Fault::NotAuthorized => json_reply(
            StatusCode::FORBIDDEN,
            json!({"status": "NOT_AUTHORIZED", "request_id": "sandbox", "message": "You are not entitled to this data. Please upgrade your plan at https://massive.com/pricing"}),
        ),
    }
}

/// A Massive time filter: UNIX ns or `YYYY-MM-DD` (midnight UTC).
fn massive_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(ns) = raw.parse::<i64>() {
        return Some(DateTime::from_timestamp_nanos(ns));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// Massive's futures `resolution` (`1sec`…`59sec`, `1min`…`59min`, `1hour`…`23hour`,
/// `1session`) as seconds; `None` for what Massive refuses.
fn massive_resolution(raw: &str) -> Option<i64> {
    let digits = raw.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = raw.split_at(digits);
    let n: i64 = n.parse().ok()?;
    let unit = unit
        .strip_suffix('s')
        .filter(|u| *u != "se")
        .unwrap_or(unit);
    let (len, max) = match unit {
        "sec" => (1, 59),
        "min" => (60, 59),
        "hour" => (3600, 23),
        "session" => (86_400, 1),
        _ => return None,
    };
    (1..=max).contains(&n).then_some(n * len)
}

/// The end of a bars range a late vendor serves: only bars of `len` seconds that ended by
/// `late_until` (`None`: not late, the range's own end).
fn late_end(end: DateTime<Utc>, len: i64, late_until: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let Some(until) = late_until else { return end };
    let len = len.clamp(1, 86_400);
    // Bars start on multiples of their length: the last served one ends at or before `until`.
    let cut = DateTime::from_timestamp(until.timestamp().div_euclid(len) * len, 0).unwrap_or(end);
    end.min(cut)
}

/// Massive futures aggregates `GET /futures/v1/aggs/{ticker}` for a listed contract (`ESZ6`),
/// paged by `next_url` (a cursor at the next bar's start); `late_until`: a `late` fault's
/// newest bar end.
fn massive_futures_aggs(
    headers: &HeaderMap,
    ticker: &str,
    query: &HashMap<String, String>,
    late_until: Option<DateTime<Utc>>,
) -> Response {
    let bad = |msg: &str| {
        json_reply(
            StatusCode::BAD_REQUEST,
            json!({"status": "ERROR", "request_id": "sandbox", "error": msg}),
        )
    };
    if ohlcv::futures_root(ticker).is_none() || ticker.contains('.') {
        return json_reply(
            StatusCode::NOT_FOUND,
            json!({"status": "NOT_FOUND", "request_id": "sandbox", "message": format!("Ticker {ticker} not found.")}),
        );
    }
    let resolution = query.get("resolution").map_or("1min", String::as_str);
    let Some(len) = massive_resolution(resolution) else {
        return bad("Bad Request - resolution value is not allowed.");
    };
    let q = |k: &str| query.get(k).map(String::as_str);
    let (Some(start), Some(end)) = (
        q("window_start.gte").and_then(massive_time),
        q("window_start.lt").and_then(massive_time),
    ) else {
        return bad(
            "the sandbox serves window_start.gte with window_start.lt (UNIX ns or YYYY-MM-DD)",
        );
    };
    if q("sort").is_some_and(|s| s != "window_start.asc") {
        return bad("the sandbox serves sort=window_start.asc");
    }
    let limit = q("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(1000)
        .clamp(1, 50_000)
        .min(POLYGON_PAGE);
    let start = q("cursor")
        .and_then(|c| c.parse::<i64>().ok())
        .map(DateTime::from_timestamp_nanos)
        .map_or(start, |c| c.max(start));
    let all = ohlcv::bars(
        ticker,
        len,
        start,
        late_end(end, len, late_until),
        limit + 1,
    );
    let page: Vec<Value> = all
        .iter()
        .take(limit)
        .map(|b| {
            json!({"ticker": ticker, "open": b.open, "high": b.high, "low": b.low, "close": b.close,
                "volume": b.volume, "dollar_volume": b.close * b.volume as f64 * 50.0,
                "transactions": b.volume / 3, "window_start": b.ts.timestamp_nanos_opt(),
                "session_end_date": crate::domain::calendar::trade_date(b.ts).to_string()})
        })
        .collect();
    let mut body = json!({"status": "OK", "request_id": "sandbox", "results": page});
    if let Some(next) = all.get(limit) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("resolution", resolution)
            .append_pair(
                "window_start.gte",
                q("window_start.gte").unwrap_or_default(),
            )
            .append_pair("window_start.lt", q("window_start.lt").unwrap_or_default())
            .append_pair("limit", &limit.to_string())
            .append_pair("sort", "window_start.asc")
            .append_pair(
                "cursor",
                &next
                    .ts
                    .timestamp_nanos_opt()
                    .unwrap_or_default()
                    .to_string(),
            )
            .finish();
        let url = format!("http://{host}/polygon/futures/v1/aggs/{ticker}?{query}");
        body["next_url"] = json!(url);
    }
    ok(body)
}

/// Databento `timeseries.get_range` (form body; `start`/`end` in UNIX ns or RFC 3339) answered
/// as zstd-compressed DBN OHLCV records, as the official clients request; `late_until`: a
/// `late` fault's newest bar end.
fn databento_range(body: &[u8], late_until: Option<DateTime<Utc>>) -> Response {
    use databento::dbn::{
        Compression, Metadata, OhlcvMsg, RecordHeader, SType, Schema,
        encode::{EncodeRecord, dbn::Encoder},
        rtype,
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let detail = |status: StatusCode, msg: &str| json_reply(status, json!({"detail": msg}));
    let time = |k: &str| {
        let raw = form.get(k)?;
        raw.parse::<i64>()
            .ok()
            .map(DateTime::from_timestamp_nanos)
            .or_else(|| raw.parse::<DateTime<Utc>>().ok())
    };
    let (Some(start), Some(end)) = (time("start"), time("end")) else {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "start and end are required",
        );
    };
    let dataset = form.get("dataset").map_or("", String::as_str);
    if dataset != "GLBX.MDP3" {
        return databento_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "dataset_invalid",
            &format!("Invalid dataset '{dataset}'."),
            json!({"dataset": dataset}),
        );
    }
    let schema_name = form.get("schema").map_or("", String::as_str);
    let (schema, seconds, rt) = match schema_name {
        "ohlcv-1s" => (Schema::Ohlcv1S, 1, rtype::OHLCV_1S),
        "ohlcv-1m" => (Schema::Ohlcv1M, 60, rtype::OHLCV_1M),
        "ohlcv-1h" => (Schema::Ohlcv1H, 3600, rtype::OHLCV_1H),
        "ohlcv-1d" => (Schema::Ohlcv1D, 86_400, rtype::OHLCV_1D),
        other if other.parse::<Schema>().is_ok() => {
            return detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the sandbox simulates ohlcv-1s, ohlcv-1m, ohlcv-1h and ohlcv-1d",
            );
        }
        other => {
            return databento_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "schema_invalid",
                &format!("Invalid schema '{other}'."),
                json!({"schema": other}),
            );
        }
    };
    if start >= end {
        return databento_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "data_start_after_end",
            "`start` must be before `end`.",
            json!({"start": start.to_rfc3339(), "end": end.to_rfc3339()}),
        );
    }
    if form.get("compression").map(String::as_str) != Some(Compression::Zstd.as_str()) {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the sandbox answers compression=zstd",
        );
    }
    let symbol = form.get("symbols").cloned().unwrap_or_default();
    let stype_name = form.get("stype_in").map_or("raw_symbol", String::as_str);
    let stype_in = match stype_name {
        "continuous" => SType::Continuous,
        "parent" => SType::Parent,
        _ => SType::RawSymbol,
    };
    // Symbology: a raw symbol is a listed contract (`ESZ6`), a continuous one `ES.c.0`, a
    // parent `ES.FUT`. A bare root (`ES`) resolves to nothing, one symbol per request here.
    let resolves = ohlcv::futures_root(&symbol).is_some()
        && match stype_in {
            SType::Continuous => [".c.", ".n.", ".v."].iter().any(|r| symbol.contains(r)),
            SType::Parent => symbol.ends_with(".FUT"),
            _ => !symbol.contains('.') && stype_name == "raw_symbol",
        };
    if !resolves {
        return databento_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "symbology_invalid_request",
            "None of the symbols could be resolved",
            json!({"dataset": dataset, "stype_in": stype_name, "symbols": [symbol]}),
        );
    }
    let metadata = Metadata::builder()
        .dataset(dataset.to_owned())
        .schema(Some(schema))
        .start(u64::try_from(start.timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0))
        .end(
            end.timestamp_nanos_opt()
                .and_then(|n| u64::try_from(n).ok())
                .and_then(std::num::NonZeroU64::new),
        )
        .stype_in(Some(stype_in))
        .stype_out(SType::InstrumentId)
        .build();
    let instrument_id = u32::try_from(
        symbol
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31) + u64::from(b))
            % 1_000_000,
    )
    .unwrap_or(1);
    let encoded = (|| -> databento::dbn::Result<Vec<u8>> {
        let mut buf = Vec::new();
        // The zstd frame is finished when the encoder drops.
        let mut encoder = Encoder::with_zstd(&mut buf, &metadata)?;
        let served_end = late_end(end, seconds, late_until);
        for bar in ohlcv::bars(&symbol, seconds, start, served_end, 500_000) {
            let ts = u64::try_from(bar.ts.timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0);
            let px = |p: f64| (p * 1e9).round() as i64;
            encoder.encode_record(&OhlcvMsg {
                hd: RecordHeader::new::<OhlcvMsg>(rt, 1, instrument_id, ts),
                open: px(bar.open),
                high: px(bar.high),
                low: px(bar.low),
                close: px(bar.close),
                volume: bar.volume,
            })?;
        }
        drop(encoder);
        Ok(buf)
    })();
    match encoded {
        Ok(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            bytes,
        )
            .into_response(),
        Err(e) => detail(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
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

    #[test]
    fn a_late_vendor_serves_only_bars_that_ended_by_its_delay() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let end = t("2026-11-17T15:10:00Z");
        assert_eq!(late_end(end, 60, None), end);
        // Now 15:10:05 less 180 s = 15:07:05: the 15:06 minute (ends 15:07) is the last.
        let until = Some(t("2026-11-17T15:07:05Z"));
        assert_eq!(late_end(end, 60, until), t("2026-11-17T15:07:00Z"));
        assert_eq!(late_end(end, 300, until), t("2026-11-17T15:05:00Z"));
        assert_eq!(late_end(end, 1, until), t("2026-11-17T15:07:05Z"));
        // Never past the range's own end.
        assert_eq!(
            late_end(t("2026-11-17T15:03:00Z"), 60, until),
            t("2026-11-17T15:03:00Z")
        );
    }

    /// A sandbox on a manual clock with no fault set.
    fn test_state() -> SandboxState {
        SandboxState {
            clock: Clock::manual("2026-11-17T15:10:05Z".parse().unwrap()),
            faults: Arc::default(),
            late: Arc::default(),
            brokers: broker::BrokerSim::default(),
            news: Arc::default(),
            live: live::LiveControl::default(),
        }
    }

    #[test]
    fn a_databento_outage_takes_its_live_gateway_down_too() {
        let state = test_state();
        let cmd = |v: Value| state.command(serde_json::from_value(v).unwrap());
        cmd(json!({"vendor": "databento", "fault": "outage"})).unwrap();
        assert_eq!(state.take_fault("databento"), Some(Fault::Outage));
        assert_eq!(state.live.current(), Some(live::LiveFault::Disconnect));
        cmd(json!({"vendor": "databento", "fault": null})).unwrap();
        assert_eq!(state.take_fault("databento"), None);
        assert_eq!(state.live.current(), None);
        // Not an outage: the gateway streams on. Another vendor's outage is not Databento's.
        for v in [
            json!({"vendor": "databento", "fault": "rate_limited"}),
            json!({"vendor": "databento", "fault": "late", "seconds": 60}),
            json!({"vendor": "polygon", "fault": "outage"}),
        ] {
            cmd(v).unwrap();
            assert_eq!(state.live.current(), None);
        }
        // Clearing Databento leaves a gateway fault commanded on its own in force.
        state.live.set(Some(live::LiveFault::Silence), None);
        cmd(json!({"vendor": "databento", "fault": null})).unwrap();
        assert_eq!(state.live.current(), Some(live::LiveFault::Silence));
    }

    #[test]
    fn late_faults_are_for_market_data_with_a_bounded_delay() {
        let state = test_state();
        let cmd = |v: Value| state.command(serde_json::from_value(v).unwrap());
        assert!(cmd(json!({"vendor": "openai", "fault": "late", "seconds": 60})).is_err());
        assert!(cmd(json!({"vendor": "databento", "fault": "late"})).is_err());
        assert!(cmd(json!({"vendor": "databento", "fault": "late", "seconds": 0})).is_err());
        assert!(cmd(json!({"vendor": "databento", "fault": "outage", "seconds": 5})).is_err());
        assert!(
            serde_json::from_value::<FaultCommand>(json!({"vendor": "polygon", "fault": "early"}))
                .is_err()
        );
        cmd(json!({"vendor": "databento", "fault": "late", "seconds": 180, "count": 1})).unwrap();
        assert_eq!(state.take_late("polygon"), None);
        assert_eq!(
            state.take_late("databento"),
            Some("2026-11-17T15:07:05Z".parse().unwrap())
        );
        // Counted: spent after one request.
        assert_eq!(state.take_late("databento"), None);
        cmd(json!({"vendor": "polygon", "fault": "late", "seconds": 30})).unwrap();
        cmd(json!({"vendor": "polygon", "fault": null})).unwrap();
        assert_eq!(state.take_late("polygon"), None);
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
