//! The dispatcher: every vendor path the sandbox simulates, in order, to its handler, with the
//! small answers inline (status and verification endpoints, Discord's webhook).

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::databento::{databento_basic_auth, databento_fault, databento_range};
use super::faults::{FaultCommand, live_fault};
use super::massive::{massive_fault, massive_futures_aggs, polygon_aggs};
use super::{
    SandboxState, broker, has_header, json_reply, llm, macro_data, news, ohlcv, ok, stall,
};

pub(super) async fn dispatch(
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
