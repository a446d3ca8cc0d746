//! The six LLM generation endpoints, strict like the vendors (reference/providers.md §8.7):
//! OpenAI-style `POST …/chat/completions` for OpenAI, Groq, xAI and OpenRouter (Bearer auth),
//! Anthropic `POST /v1/messages` (`x-api-key` and `anthropic-version` required, `max_tokens`
//! required) and Gemini `POST /v1beta/models/{model}:generateContent` (`x-goog-api-key` or
//! `?key=`). A refusal uses each vendor's own error shape and status.
//!
//! Answers are deterministic: the text names the vendor and model and repeats every 32-hex
//! trace id found in the prompt (so an action's citations can be checked end to end); token
//! counts are word counts. Faults (`POST /_sandbox/faults` with the provider id as `vendor`):
//! `rate_limited` (429 + `retry-after: 1`), `outage` (500; Anthropic 529 `overloaded_error`),
//! `not_authorized` (the vendor's bad-key answer), `timeout` (no answer for a minute),
//! `refusal` (the vendor's content-refusal shape).

use std::collections::HashMap;

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use serde_json::{Value, json};

use super::{Fault, SandboxState, has_header, json_reply, ok};

/// The LLM vendor a path belongs to and, for Gemini, the model in the path.
fn vendor_of<'a>(segments: &[&'a str]) -> Option<(&'static str, Option<&'a str>)> {
    match segments {
        ["openai", "v1", "chat", "completions"] => Some(("openai", None)),
        ["groq", "openai", "v1", "chat", "completions"] => Some(("groq", None)),
        ["xai", "v1", "chat", "completions"] => Some(("xai", None)),
        ["openrouter", "api", "v1", "chat", "completions"] => Some(("openrouter", None)),
        ["anthropic", "v1", "messages"] => Some(("anthropic", None)),
        ["gemini", "v1beta", "models", action] => action
            .strip_suffix(":generateContent")
            .map(|model| ("google_gemini", Some(model))),
        _ => None,
    }
}

/// Answers a generation request, or `None` when the path is not one.
pub(super) async fn route(
    state: &SandboxState,
    segments: &[&str],
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Option<Response> {
    let (vendor, gemini_model) = vendor_of(segments)?;
    let authed = match vendor {
        "anthropic" => has_header(headers, "x-api-key"),
        "google_gemini" => {
            has_header(headers, "x-goog-api-key") || query.get("key").is_some_and(|k| !k.is_empty())
        }
        _ => has_header(headers, "authorization"),
    };
    if !authed {
        return Some(bad_key(vendor));
    }
    if vendor == "anthropic" && !has_header(headers, "anthropic-version") {
        return Some(invalid(vendor, "anthropic-version: header is required"));
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return Some(invalid(vendor, "the request body is not valid JSON"));
    };
    if let Err(why) = validate(vendor, &req) {
        return Some(invalid(vendor, &why));
    }
    let model = gemini_model
        .map(str::to_owned)
        .or_else(|| req["model"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if let Some(fault) = state.take_fault(vendor) {
        super::stall(fault).await;
        return Some(fault_reply(vendor, fault));
    }
    let prompt = prompt_text(vendor, &req);
    let text = answer(vendor, &model, &prompt);
    Some(ok(success(
        vendor,
        &model,
        &text,
        words(&prompt),
        words(&text),
    )))
}

/// What each vendor insists on in the body.
fn validate(vendor: &str, req: &Value) -> Result<(), String> {
    match vendor {
        "anthropic" => {
            if req["model"].as_str().is_none_or(str::is_empty) {
                return Err("model: Field required".into());
            }
            if !req["max_tokens"].is_u64() {
                return Err("max_tokens: Field required".into());
            }
            if req["messages"].as_array().is_none_or(Vec::is_empty) {
                return Err("messages: Field required".into());
            }
        }
        "google_gemini" => {
            if req["contents"].as_array().is_none_or(Vec::is_empty) {
                return Err("* GenerateContentRequest.contents: contents is not specified".into());
            }
        }
        _ => {
            if req["model"].as_str().is_none_or(str::is_empty) {
                return Err("you must provide a model parameter".into());
            }
            if req["messages"].as_array().is_none_or(Vec::is_empty) {
                return Err("'messages' must contain at least one message".into());
            }
        }
    }
    Ok(())
}

/// Every piece of text the request carries (system and user parts).
fn prompt_text(vendor: &str, req: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    let text_of = |v: &Value| v.as_str().map(str::to_owned);
    match vendor {
        "google_gemini" => {
            for part in req["systemInstruction"]["parts"]
                .as_array()
                .into_iter()
                .flatten()
            {
                parts.extend(text_of(&part["text"]));
            }
            for content in req["contents"].as_array().into_iter().flatten() {
                for part in content["parts"].as_array().into_iter().flatten() {
                    parts.extend(text_of(&part["text"]));
                }
            }
        }
        _ => {
            parts.extend(text_of(&req["system"]));
            for m in req["messages"].as_array().into_iter().flatten() {
                parts.extend(text_of(&m["content"]));
            }
        }
    }
    parts.join("\n")
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Words that make a headline risk-off or risk-on in the sandbox's classification.
const RISK_OFF_WORDS: [&str; 14] = [
    "plunge",
    "crash",
    "selloff",
    "sell-off",
    "recession",
    "war",
    "default",
    "crisis",
    "tumble",
    "panic",
    "emergency",
    "attack",
    "collapse",
    "bankrupt",
];
const RISK_ON_WORDS: [&str; 5] = ["rally", "record high", "surge", "soar", "beats"];

/// A news-classification prompt (`domain::news::classify_prompt`) answered in its JSON: each
/// `id=N | headline | …` line classed by keywords (risk-off words first).
fn classify(prompt: &str) -> String {
    let classes: Vec<Value> = prompt
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("id=")?;
            let (id, text) = rest.split_once('|')?;
            let id: i64 = id.trim().parse().ok()?;
            let text = text.to_lowercase();
            let has = |w: &&str| {
                text.split(|c: char| !c.is_alphanumeric() && c != '-')
                    .any(|word| word == *w)
                    || (w.contains(' ') && text.contains(*w))
            };
            let class = if RISK_OFF_WORDS.iter().any(has) {
                "risk_off"
            } else if RISK_ON_WORDS.iter().any(has) {
                "risk_on"
            } else {
                "neutral"
            };
            Some(json!({"id": id, "class": class}))
        })
        .collect();
    json!({"classes": classes}).to_string()
}

/// The deterministic answer: vendor, model, and the trace ids the prompt offered (a news
/// classification prompt gets its JSON instead).
fn answer(vendor: &str, model: &str, prompt: &str) -> String {
    if prompt.starts_with(crate::domain::news::PROMPT_TAG) {
        return classify(prompt);
    }
    let mut ids: Vec<&str> = prompt
        .split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == 32)
        .collect();
    ids.dedup();
    let mut text = format!("Sandbox answer from {vendor} ({model}).");
    if !ids.is_empty() {
        text.push_str(&format!(" Based on traces {}.", ids.join(", ")));
    }
    text
}

fn success(vendor: &str, model: &str, text: &str, input: u64, output: u64) -> Value {
    match vendor {
        "anthropic" => json!({
            "id": "msg_sandbox", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": null, "usage": {"input_tokens": input, "output_tokens": output},
        }),
        "google_gemini" => json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": input, "candidatesTokenCount": output,
                "totalTokenCount": input + output},
            "modelVersion": model,
        }),
        _ => json!({
            "id": "chatcmpl-sandbox", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": input, "completion_tokens": output,
                "total_tokens": input + output},
        }),
    }
}

/// A missing or unusable key, as each vendor answers it.
fn bad_key(vendor: &str) -> Response {
    match vendor {
        "anthropic" => json_reply(
            StatusCode::UNAUTHORIZED,
            json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
        ),
        "google_gemini" => json_reply(
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}),
        ),
        "xai" => json_reply(
            StatusCode::BAD_REQUEST,
            json!({"code": "Client specified an invalid argument", "error": "Incorrect API key provided: xa***XX. You can obtain an API key from https://console.x.ai."}),
        ),
        "openrouter" => json_reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"code": 401, "message": "No auth credentials found"}}),
        ),
        _ => json_reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
        ),
    }
}

/// A malformed request (HTTP 400), as each vendor answers it.
fn invalid(vendor: &str, message: &str) -> Response {
    let body = match vendor {
        "anthropic" => {
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}})
        }
        "google_gemini" => {
            json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}})
        }
        "xai" => json!({"code": "Client specified an invalid argument", "error": message}),
        "openrouter" => json!({"error": {"code": 400, "message": message}}),
        _ => {
            json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}})
        }
    };
    json_reply(StatusCode::BAD_REQUEST, body)
}

fn fault_reply(vendor: &str, fault: Fault) -> Response {
    match fault {
        Fault::RateLimited => {
            let body = match vendor {
                "anthropic" => {
                    json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Number of request tokens has exceeded your per-minute rate limit"}})
                }
                "google_gemini" => {
                    json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}})
                }
                "openrouter" => {
                    json!({"error": {"code": 429, "message": "Rate limit exceeded"}})
                }
                _ => {
                    json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}})
                }
            };
            let mut res = json_reply(StatusCode::TOO_MANY_REQUESTS, body);
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            res
        }
        // Anthropic reports overload as 529; the others a plain 500.
        Fault::Outage | Fault::Timeout => match vendor {
            "anthropic" => json_reply(
                StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ),
            "google_gemini" => json_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}}),
            ),
            _ => json_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}}),
            ),
        },
        Fault::NotAuthorized => bad_key(vendor),
        Fault::Refusal => ok(match vendor {
            "anthropic" => json!({
                "id": "msg_sandbox", "type": "message", "role": "assistant", "model": "sandbox",
                "content": [], "stop_reason": "refusal", "stop_sequence": null,
                "usage": {"input_tokens": 10, "output_tokens": 0},
            }),
            "google_gemini" => json!({
                "promptFeedback": {"blockReason": "SAFETY"},
                "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10},
            }),
            _ => json!({
                "id": "chatcmpl-sandbox", "object": "chat.completion", "created": 0, "model": "sandbox",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                    "refusal": "I can't help with that."}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 0, "total_tokens": 10},
            }),
        }),
    }
}
