//! LLM vendors: each verify is a model/key listing (never a billed generation call), and
//! [`generate`] is the one completion call, in each vendor's own request shape.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};

use super::{ProviderClient, excerpt, join};
use crate::domain::{
    ai::{ModelPrice, Prompt},
    provider::Outcome,
};
use crate::integrations::{
    http::{Auth, Body, CallContext, CallKind, Reply, Request, bad_response, classify_status},
    outcome::{Failure, codes},
};

fn fail(outcome: Outcome, code: &'static str, r: &Reply, c: &ProviderClient) -> Failure {
    Failure {
        outcome,
        code,
        message: format!("HTTP {}: {}", r.status, excerpt(c, &r.body)),
        http_status: Some(r.status),
        retry_after: r.retry_after(),
    }
}

fn key_var(c: &ProviderClient) -> &'static str {
    c.config.spec.required_env_vars[0]
}

/// OpenAI and Groq: `GET /models` with Bearer auth → `{"object":"list","data":[…]}`. A 429
/// `insufficient_quota` is billing, not throttling.
pub async fn verify_openai_compatible(c: &ProviderClient) -> Result<String, Failure> {
    let mut req = Request::get("verify", join(c.base()?, "/models"), CallKind::Verify)
        .auth(Auth::Bearer(c.secret(key_var(c))?));
    if let Some(org) = c.optional("OPENAI_ORG_ID") {
        req = req.header("OpenAI-Organization", org);
    }
    if let Some(project) = c.optional("OPENAI_PROJECT_ID") {
        req = req.header("OpenAI-Project", project);
    }
    c.http
        .call(req, |r| {
            let b = r.json().unwrap_or(Value::Null);
            if r.status == 429 && b["error"]["code"] == "insufficient_quota" {
                return Err(fail(
                    Outcome::InsufficientPlan,
                    codes::INSUFFICIENT_PLAN,
                    r,
                    c,
                ));
            }
            classify_status(r, c.http.redactor())?;
            models(&b["data"])
        })
        .await
}

fn models(list: &Value) -> Result<String, Failure> {
    list.as_array()
        .map(|m| format!("{} model(s) listed", m.len()))
        .ok_or_else(|| bad_response("model listing has no list"))
}

/// Anthropic: `GET /v1/models?limit=1` with `x-api-key` and `anthropic-version`.
pub async fn verify_anthropic(c: &ProviderClient) -> Result<String, Failure> {
    let req = Request::get("verify", join(c.base()?, "/v1/models"), CallKind::Verify)
        .query("limit", "1")
        .header("anthropic-version", "2023-06-01")
        .auth(Auth::Header("x-api-key", c.secret("ANTHROPIC_API_KEY")?));
    c.http
        .call(req, |r| {
            classify_status(r, c.http.redactor())?;
            models(&r.json().unwrap_or(Value::Null)["data"])
        })
        .await
}

/// Gemini: `GET /models?pageSize=1` with `x-goog-api-key`. A bad key is HTTP **400** with
/// reason `API_KEY_INVALID` (decided on the reason, not the status).
pub async fn verify_gemini(c: &ProviderClient) -> Result<String, Failure> {
    let req = Request::get("verify", join(c.base()?, "/models"), CallKind::Verify)
        .query("pageSize", "1")
        .auth(Auth::Header("x-goog-api-key", c.secret("GEMINI_API_KEY")?));
    c.http
        .call(req, |r| {
            let b = r.json().unwrap_or(Value::Null);
            let invalid_key = b["error"]["details"]
                .as_array()
                .is_some_and(|d| d.iter().any(|x| x["reason"] == "API_KEY_INVALID"));
            if invalid_key {
                return Err(fail(
                    Outcome::InvalidCredentials,
                    codes::INVALID_CREDENTIALS,
                    r,
                    c,
                ));
            }
            if b["error"]["status"] == "RESOURCE_EXHAUSTED" {
                return Err(fail(Outcome::RateLimited, codes::RATE_LIMITED, r, c));
            }
            classify_status(r, c.http.redactor())?;
            models(&b["models"])
        })
        .await
}

/// xAI: `GET /api-key` reports the key itself; a bad key is HTTP **400** "Incorrect API key",
/// and a blocked or disabled key answers 200 with flags set.
pub async fn verify_xai(c: &ProviderClient) -> Result<String, Failure> {
    let req = Request::get("verify", join(c.base()?, "/api-key"), CallKind::Verify)
        .auth(Auth::Bearer(c.secret("XAI_API_KEY")?));
    c.http
        .call(req, |r| {
            let b = r.json().unwrap_or(Value::Null);
            if r.status == 400 && b["error"].as_str().is_some_and(|e| e.contains("API key")) {
                return Err(fail(
                    Outcome::InvalidCredentials,
                    codes::INVALID_CREDENTIALS,
                    r,
                    c,
                ));
            }
            classify_status(r, c.http.redactor())?;
            let flag = |k: &str| b[k].as_bool() == Some(true);
            if flag("api_key_blocked") || flag("api_key_disabled") || flag("team_blocked") {
                return Err(Failure::new(
                    Outcome::InvalidCredentials,
                    codes::INVALID_CREDENTIALS,
                    "the key is blocked or disabled",
                ));
            }
            if b.get("api_key_id").is_none() {
                return Err(bad_response("api-key has no `api_key_id`"));
            }
            Ok("key active".to_owned())
        })
        .await
}

/// OpenRouter: `GET /key` (the public `/models` cannot prove a key). 402 is a negative balance.
pub async fn verify_openrouter(c: &ProviderClient) -> Result<String, Failure> {
    let req = Request::get("verify", join(c.base()?, "/key"), CallKind::Verify)
        .auth(Auth::Bearer(c.secret("OPENROUTER_API_KEY")?));
    c.http
        .call(req, |r| {
            classify_status(r, c.http.redactor())?;
            let b = r.json().unwrap_or(Value::Null);
            if !b["data"].is_object() {
                return Err(bad_response("key has no `data`"));
            }
            match b["data"]["limit_remaining"].as_f64() {
                Some(left) if left <= 0.0 => Ok("key valid; credit limit exhausted".to_owned()),
                _ => Ok("key valid".to_owned()),
            }
        })
        .await
}

/// How to ask for one completion: the model, the output bound, and what it costs (for the
/// usage event; `None`: unknown cost, recorded as null, never as 0).
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub model: String,
    pub max_output_tokens: u32,
    pub temperature: Option<f64>,
    pub price: Option<ModelPrice>,
    /// The AI action asking (e.g. `explain`), recorded on the usage event.
    pub purpose: &'static str,
    pub ctx: CallContext,
}

/// One completion, whichever vendor answered.
#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    pub provider_id: &'static str,
    pub text: String,
    /// The model that answered (as the vendor names it).
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub finish_reason: Option<String>,
    /// USD, from the price table; `None` when the model has no price.
    pub cost: Option<Decimal>,
}

/// One generation through the call path (limiter, time box, retries on 429/5xx honouring
/// `retry-after`, one usage event with model, tokens and cost).
pub async fn generate(
    c: &ProviderClient,
    prompt: &Prompt,
    options: &GenerateOptions,
) -> Result<Completion, Failure> {
    let meta = json!({"model": options.model, "purpose": options.purpose});
    let (req, parse): (Request, ParseReply) = match c.id() {
        "anthropic" => (anthropic_request(c, prompt, options)?, parse_anthropic),
        "google_gemini" => (gemini_request(c, prompt, options)?, parse_gemini),
        _ => (chat_request(c, prompt, options)?, parse_chat),
    };
    let id = c.id();
    let price = options.price;
    c.http
        .call_described(
            req.meta(meta).ctx(options.ctx),
            |r| {
                let b = r.json().unwrap_or(Value::Null);
                if r.status == 429 && b["error"]["code"] == "insufficient_quota" {
                    return Err(fail(
                        Outcome::InsufficientPlan,
                        codes::INSUFFICIENT_PLAN,
                        r,
                        c,
                    ));
                }
                let key_invalid = b["error"]["details"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|x| x["reason"] == "API_KEY_INVALID"));
                let xai_key = id == "xai"
                    && r.status == 400
                    && b["error"].as_str().is_some_and(|e| e.contains("API key"));
                if key_invalid || xai_key {
                    return Err(fail(
                        Outcome::InvalidCredentials,
                        codes::INVALID_CREDENTIALS,
                        r,
                        c,
                    ));
                }
                classify_status(r, c.http.redactor())?;
                let p = parse(&b)?;
                let cost = price.map(|p2| p2.cost(p.input_tokens, p.output_tokens));
                Ok(Completion {
                    provider_id: id,
                    text: p.text,
                    model: p.model.unwrap_or_else(|| options.model.clone()),
                    input_tokens: p.input_tokens,
                    output_tokens: p.output_tokens,
                    finish_reason: p.finish_reason,
                    cost,
                })
            },
            |done: &Completion| {
                json!({
                    "model": done.model,
                    "input_tokens": done.input_tokens,
                    "output_tokens": done.output_tokens,
                    "cost_usd": done.cost.map(|d| d.normalize().to_string()),
                    "finish_reason": done.finish_reason,
                })
            },
        )
        .await
}

/// Reads one vendor's 2xx body.
type ParseReply = fn(&Value) -> Result<Parsed, Failure>;

/// A reply's useful parts, before the price is applied.
struct Parsed {
    text: String,
    model: Option<String>,
    input_tokens: u64,
    output_tokens: u64,
    finish_reason: Option<String>,
}

fn refused(why: String) -> Failure {
    Failure::new(Outcome::ProviderError, codes::CONTENT_REFUSED, why)
}

/// OpenAI Chat Completions (`POST /chat/completions`, Bearer), also spoken by Groq, xAI and
/// OpenRouter at their own base URLs (reference/providers.md §8.7).
fn chat_request(
    c: &ProviderClient,
    prompt: &Prompt,
    o: &GenerateOptions,
) -> Result<Request, Failure> {
    let mut body = json!({
        "model": o.model,
        "messages": [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ],
    });
    // OpenAI and Groq name the output bound `max_completion_tokens` (`max_tokens` is
    // deprecated there); xAI and OpenRouter document `max_tokens`.
    let bound = match c.id() {
        "openai" | "groq" => "max_completion_tokens",
        _ => "max_tokens",
    };
    body[bound] = json!(o.max_output_tokens);
    if let Some(t) = o.temperature {
        body["temperature"] = json!(t);
    }
    let mut req = Request::post(
        "generate",
        join(c.base()?, "/chat/completions"),
        Body::Json(body),
        CallKind::Generate,
    )
    .auth(Auth::Bearer(c.secret(key_var(c))?));
    if c.id() == "openai" {
        if let Some(org) = c.optional("OPENAI_ORG_ID") {
            req = req.header("OpenAI-Organization", org);
        }
        if let Some(project) = c.optional("OPENAI_PROJECT_ID") {
            req = req.header("OpenAI-Project", project);
        }
    }
    if c.id() == "openrouter" {
        req = req.header("X-Title", "tradeplane");
    }
    Ok(req)
}

fn parse_chat(b: &Value) -> Result<Parsed, Failure> {
    let choice = &b["choices"][0];
    if !choice.is_object() {
        return Err(bad_response("chat completion has no `choices[0]`"));
    }
    let finish = choice["finish_reason"].as_str().map(str::to_owned);
    if let Some(r) = choice["message"]["refusal"].as_str() {
        return Err(refused(format!("the model refused: {r}")));
    }
    if finish.as_deref() == Some("content_filter") {
        return Err(refused(
            "the vendor's content filter stopped the answer".into(),
        ));
    }
    let text = choice["message"]["content"]
        .as_str()
        .ok_or_else(|| bad_response("chat completion has no message content"))?;
    Ok(Parsed {
        text: text.to_owned(),
        model: b["model"].as_str().map(str::to_owned),
        input_tokens: b["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
        output_tokens: b["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        finish_reason: finish,
    })
}

/// Anthropic Messages: `POST /v1/messages` with `x-api-key` and `anthropic-version`;
/// `max_tokens` is required.
fn anthropic_request(
    c: &ProviderClient,
    prompt: &Prompt,
    o: &GenerateOptions,
) -> Result<Request, Failure> {
    let mut body = json!({
        "model": o.model,
        "max_tokens": o.max_output_tokens,
        "system": prompt.system,
        "messages": [{"role": "user", "content": prompt.user}],
    });
    if let Some(t) = o.temperature {
        body["temperature"] = json!(t);
    }
    Ok(Request::post(
        "generate",
        join(c.base()?, "/v1/messages"),
        Body::Json(body),
        CallKind::Generate,
    )
    .header("anthropic-version", "2023-06-01")
    .auth(Auth::Header("x-api-key", c.secret("ANTHROPIC_API_KEY")?)))
}

fn parse_anthropic(b: &Value) -> Result<Parsed, Failure> {
    let stop = b["stop_reason"].as_str().map(str::to_owned);
    if stop.as_deref() == Some("refusal") {
        return Err(refused("the model refused the prompt".into()));
    }
    let blocks = b["content"]
        .as_array()
        .ok_or_else(|| bad_response("message has no `content`"))?;
    let text: String = blocks
        .iter()
        .filter(|x| x["type"] == "text")
        .filter_map(|x| x["text"].as_str())
        .collect();
    Ok(Parsed {
        text,
        model: b["model"].as_str().map(str::to_owned),
        input_tokens: b["usage"]["input_tokens"].as_u64().unwrap_or(0),
        output_tokens: b["usage"]["output_tokens"].as_u64().unwrap_or(0),
        finish_reason: stop,
    })
}

/// Gemini: `POST /models/{model}:generateContent` with `x-goog-api-key` (header, not `?key=`,
/// so the key stays out of access logs).
fn gemini_request(
    c: &ProviderClient,
    prompt: &Prompt,
    o: &GenerateOptions,
) -> Result<Request, Failure> {
    let mut config = json!({"maxOutputTokens": o.max_output_tokens});
    if let Some(t) = o.temperature {
        config["temperature"] = json!(t);
    }
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": prompt.user}]}],
        "systemInstruction": {"parts": [{"text": prompt.system}]},
        "generationConfig": config,
    });
    let path = format!("/models/{}:generateContent", o.model);
    Ok(Request::post(
        "generate",
        join(c.base()?, &path),
        Body::Json(body),
        CallKind::Generate,
    )
    .auth(Auth::Header("x-goog-api-key", c.secret("GEMINI_API_KEY")?)))
}

fn parse_gemini(b: &Value) -> Result<Parsed, Failure> {
    if let Some(reason) = b["promptFeedback"]["blockReason"].as_str() {
        return Err(refused(format!("the prompt was blocked: {reason}")));
    }
    let candidate = &b["candidates"][0];
    if !candidate.is_object() {
        return Err(bad_response("generateContent has no candidates"));
    }
    let finish = candidate["finishReason"].as_str().map(str::to_owned);
    if matches!(
        finish.as_deref(),
        Some("SAFETY" | "PROHIBITED_CONTENT" | "BLOCKLIST")
    ) {
        return Err(refused(format!(
            "the answer was blocked: {}",
            finish.as_deref().unwrap_or_default()
        )));
    }
    let text: String = candidate["content"]["parts"]
        .as_array()
        .map(|parts| parts.iter().filter_map(|p| p["text"].as_str()).collect())
        .unwrap_or_default();
    let usage = &b["usageMetadata"];
    Ok(Parsed {
        text,
        model: b["modelVersion"].as_str().map(str::to_owned),
        input_tokens: usage["promptTokenCount"].as_u64().unwrap_or(0),
        output_tokens: usage["candidatesTokenCount"].as_u64().unwrap_or(0),
        finish_reason: finish,
    })
}
