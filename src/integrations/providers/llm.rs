//! LLM vendors: each verify is a model/key listing (never a billed generation call).

use serde_json::Value;

use super::{ProviderClient, excerpt, join};
use crate::domain::provider::Outcome;
use crate::integrations::{
    http::{Auth, CallKind, Reply, Request, bad_response, classify_status},
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
