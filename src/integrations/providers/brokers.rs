//! Brokers. Ironbeam: `POST /auth` → `GET /info/trader` → `POST /logout`. Tradovate: reuse a
//! cached token (`GET /auth/me`), otherwise one `POST /auth/accesstokenrequest` and
//! `GET /account/list`. A failed login is never retried: Tradovate escalates repeated bad
//! logins to a CAPTCHA penalty that a server cannot clear.

use serde_json::{Value, json};

use super::{ProviderClient, excerpt, join};
use crate::domain::provider::Outcome;
use crate::integrations::brokers::tradovate;
use crate::{
    config::Secret,
    integrations::{
        http::{Auth, Body, CallKind, Request, bad_response, classify_status},
        outcome::{Failure, codes},
    },
};

/// `<ID>_ENV=live`: the registry then points at the live host, and the account must be live.
fn wants_live(c: &ProviderClient, var: &str) -> bool {
    c.optional(var)
        .is_some_and(|v| v.eq_ignore_ascii_case("live"))
}

pub async fn verify_ironbeam(c: &ProviderClient) -> Result<String, Failure> {
    let base = c.base()?.clone();
    let mut body = json!({
        "username": c.secret("IRONBEAM_USERNAME")?.expose(),
        "apiKey": c.secret("IRONBEAM_API_KEY")?.expose(),
    });
    if let Some(p) = c.optional("IRONBEAM_PASSWORD") {
        body["password"] = json!(p);
    }
    let login = Request::post(
        "verify.auth",
        join(&base, "/auth"),
        Body::Json(body),
        CallKind::Verify,
    );
    let token = c
        .http
        .call(login, |r| {
            classify_status(r, c.http.redactor())?;
            let b = r.json().unwrap_or(Value::Null);
            match (b["status"].as_str(), b["token"].as_str()) {
                (Some("OK"), Some(t)) => Ok(Secret::new(t)),
                _ => Err(Failure::new(
                    Outcome::InvalidCredentials,
                    codes::INVALID_CREDENTIALS,
                    format!("login refused: {}", excerpt(c, &r.body)),
                )),
            }
        })
        .await?;
    let want_live = wants_live(c, "IRONBEAM_ENV");
    let info = Request::get(
        "verify.info_trader",
        join(&base, "/info/trader"),
        CallKind::Verify,
    )
    .auth(Auth::Bearer(token.clone()));
    let read = c
        .http
        .call(info, |r| {
            classify_status(r, c.http.redactor())?;
            let b = r.json().unwrap_or(Value::Null);
            let accounts = b["accounts"].as_array().map(Vec::len).unwrap_or(0);
            match b["isLive"].as_bool() {
                Some(is_live) if is_live != want_live => Err(Failure::new(
                    Outcome::InvalidCredentials,
                    codes::ENVIRONMENT_MISMATCH,
                    format!(
                        "the account is {} but IRONBEAM_ENV selects {}",
                        if is_live { "live" } else { "demo" },
                        if want_live { "live" } else { "demo" }
                    ),
                )),
                Some(_) if accounts > 0 => Ok(format!("{accounts} account(s)")),
                Some(_) => Err(Failure::new(
                    Outcome::InsufficientPlan,
                    codes::INSUFFICIENT_PLAN,
                    "no accounts",
                )),
                None => Err(bad_response("info/trader has no `isLive`")),
            }
        })
        .await;
    // Always end the session a cold verify opened, whatever the read said.
    let logout = Request::post(
        "verify.logout",
        join(&base, "/logout"),
        Body::None,
        CallKind::Verify,
    )
    .auth(Auth::Bearer(token));
    let _ = c
        .http
        .call(logout, |r| classify_status(r, c.http.redactor()))
        .await;
    read
}

pub async fn verify_tradovate(c: &ProviderClient) -> Result<String, Failure> {
    let base = c.base()?.clone();
    let mut session = c.session.lock().await;
    if let Some((token, expires)) = session.clone() {
        if expires > c.http.clock().now() + chrono::Duration::minutes(1) {
            let me = Request::get("verify.auth_me", join(&base, "/auth/me"), CallKind::Verify)
                .auth(Auth::Bearer(token));
            match c
                .http
                .call(me, |r| {
                    classify_status(r, c.http.redactor())?;
                    let b = r.json().unwrap_or(Value::Null);
                    match b["userId"].as_i64() {
                        Some(id) => Ok(format!("session of user {id} valid")),
                        None => Err(bad_response("auth/me has no `userId`")),
                    }
                })
                .await
            {
                Err(f) if f.outcome == Outcome::InvalidCredentials => *session = None,
                other => return other,
            }
        } else {
            *session = None;
        }
    }
    let login = Request::post(
        "verify.accesstokenrequest",
        join(&base, "/auth/accesstokenrequest"),
        Body::Json(tradovate::login_body(&c.config)?),
        CallKind::Verify,
    );
    let redactor = c.http.redactor();
    let answer = c
        .http
        .call(login, |r| tradovate::interpret_login(r, redactor))
        .await?;
    let (token, has_live) = (answer.token, answer.is_live);
    let expires = answer
        .expires_at
        .unwrap_or_else(|| c.http.clock().now() + chrono::Duration::minutes(80));
    *session = Some((token.clone(), expires));
    drop(session);
    let want_live = wants_live(c, "TRADOVATE_ENV");
    if want_live && has_live == Some(false) {
        return Err(Failure::new(
            Outcome::InsufficientPlan,
            codes::ENVIRONMENT_MISMATCH,
            "TRADOVATE_ENV=live but the user has no live access",
        ));
    }
    let accounts = Request::get(
        "verify.account_list",
        join(&base, "/account/list"),
        CallKind::Verify,
    )
    .auth(Auth::Bearer(token));
    c.http
        .call(accounts, |r| {
            classify_status(r, c.http.redactor())?;
            match r.json() {
                Some(Value::Array(a)) if !a.is_empty() => Ok(format!("{} account(s)", a.len())),
                Some(Value::Array(_)) => Err(Failure::new(
                    Outcome::InsufficientPlan,
                    codes::INSUFFICIENT_PLAN,
                    "no accounts",
                )),
                _ => Err(bad_response("account/list is not a JSON array")),
            }
        })
        .await
}
