//! Access control: default deny on every /api route, the role matrix over every mutating
//! route, service-token scopes, the step-up guard (trading switch) and the audit log.

use chrono::Duration;
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::auth::policy::PUBLIC;

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Signed, TestApp, code_from_url, error_code,
    session::{enrolled_admin, manual_app, next_step},
};

const MUTATING: &[&str] = &["post", "put", "patch", "delete"];

/// Every documented `/api` operation: (method, path with ids filled in, minimum session role
/// or None when sessions are refused).
async fn operations(
    app: &TestApp,
    admin: &reqwest::Client,
) -> Vec<(String, String, Option<String>)> {
    let spec: Value = admin
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/api/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            if PUBLIC
                .iter()
                .any(|(m, p)| m.eq_ignore_ascii_case(method) && p == path)
            {
                continue;
            }
            let security = op["security"]
                .as_array()
                .expect("every operation declares security");
            let role = security
                .iter()
                .find_map(|req| req.get("session"))
                .map(|scopes| scopes[0].as_str().unwrap().to_owned());
            let concrete = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        uuid::Uuid::now_v7().to_string()
                    } else {
                        seg.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            out.push((method.clone(), concrete, role));
        }
    }
    out
}

fn rank(role: &str) -> u8 {
    match role {
        "viewer" => 0,
        "operator" => 1,
        "admin" => 2,
        other => panic!("unknown role {other}"),
    }
}

#[sqlx::test]
async fn anonymous_callers_get_401_on_every_protected_route(pool: PgPool) {
    let app = manual_app(pool).await;
    let admin = app.admin_client().await;
    let ops = operations(&app, &admin).await;
    assert!(ops.len() >= 15, "{ops:?}");
    for (method, path, _) in ops {
        let (status, body) = app
            .call(&method.to_uppercase(), &path, Some(json!({})))
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (401, "UNAUTHENTICATED"),
            "{method} {path}"
        );
    }
    // Routes the spec does not know (mounted by tests) are closed too.
    assert_eq!(
        app.http("GET", "/api/test/panic")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // The public allowlist and the outside-/api endpoints stay open.
    assert_eq!(
        app.http("GET", "/healthz").send().await.unwrap().status(),
        200
    );
    assert_eq!(
        app.http("GET", "/api/openapi.json")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// Every mutating route × every role: below the declared minimum → 403 FORBIDDEN; at or above
/// it → anything but an auth refusal. Each call gets a fresh session (logout, revoke and
/// step-up change the session they run on).
#[sqlx::test]
async fn role_matrix_over_every_mutating_route(pool: PgPool) {
    let app = manual_app(pool).await;
    let admin = app.admin_client().await;
    for role in ["viewer", "operator"] {
        app.user_with_role(&admin, &format!("{role}@example.com"), role)
            .await;
    }
    let ops: Vec<_> = operations(&app, &admin)
        .await
        .into_iter()
        .filter(|(m, _, _)| MUTATING.contains(&m.as_str()))
        .collect();
    assert!(ops.len() >= 10, "{ops:?}");
    let mut checked = 0;
    for (method, path, min_role) in &ops {
        for role in ["viewer", "operator", "admin"] {
            let email = if role == "admin" {
                ADMIN_EMAIL.to_owned()
            } else {
                format!("{role}@example.com")
            };
            let signed: Signed = app.sign_in(&email, ADMIN_PASSWORD).await;
            let (status, body) = app
                .as_user(&signed)
                .call(&method.to_uppercase(), path, Some(json!({})))
                .await;
            let code = error_code(&body);
            match min_role {
                Some(min) if rank(role) >= rank(min) => assert!(
                    !matches!(code, "FORBIDDEN" | "UNAUTHENTICATED"),
                    "{role} {method} {path}: {status} {body}"
                ),
                _ => assert_eq!(
                    (status, code),
                    (403, "FORBIDDEN"),
                    "{role} {method} {path} (min {min_role:?}): {body}"
                ),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ops.len() * 3);
    // A mutating route nobody declared (the test echo) defaults to admin.
    let op = app.sign_in("operator@example.com", ADMIN_PASSWORD).await;
    let res = op
        .client
        .post(app.url("/api/test/echo"))
        .json(&json!({ "name": "a", "count": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

async fn create_token(app: &TestApp, admin: &reqwest::Client, scopes: Value) -> (u16, Value) {
    app.with_client(admin.clone())
        .create_service_token(
            json!({ "name": "runner-1 traces", "scopes": scopes, "expires_in_days": 30 }),
        )
        .await
}

#[sqlx::test]
async fn service_tokens_work_only_on_their_scope_and_never_on_dashboard_routes(pool: PgPool) {
    let app = manual_app(pool.clone()).await;
    let admin = app.admin_client().await;
    let (status, body) = create_token(&app, &admin, json!(["nonsense:write"])).await;
    assert_eq!((status, error_code(&body)), (422, "VALIDATION_FAILED"));
    let (status, body) = create_token(&app, &admin, json!(["traces:write"])).await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let id = body["service_token"]["id"].as_str().unwrap().to_owned();
    assert!(
        token.starts_with("tps_") && token.len() >= 4 + 43,
        "≥ 256 bits"
    );
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM service_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32);
    let bearer = |method: &str, path: &str| {
        app.client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(&token)
            .json(&json!({}))
    };
    let status =
        |b: reqwest::RequestBuilder| async move { b.send().await.unwrap().status().as_u16() };
    assert_eq!(status(bearer("POST", "/api/test/traces")).await, 200);
    assert_eq!(
        status(bearer("GET", "/api/service-tokens/current")).await,
        200
    );
    // Another writer's scope, and dashboard routes: refused.
    assert_eq!(status(bearer("POST", "/api/test/telemetry")).await, 403);
    assert_eq!(status(bearer("GET", "/api/system/events")).await, 403);
    assert_eq!(status(bearer("GET", "/api/auth/me")).await, 403);
    assert_eq!(
        status(bearer("POST", "/api/system/trading-switch")).await,
        403
    );
    // Cookies are not accepted on writer routes.
    assert_eq!(
        status(admin.post(app.url("/api/test/traces")).json(&json!({}))).await,
        403
    );
    assert_eq!(
        status(admin.get(app.url("/api/service-tokens/current"))).await,
        403
    );
    // A token listing never shows the value.
    let (_, list) = app.with_client(admin.clone()).list_service_tokens().await;
    assert!(!list.to_string().contains(&token));
    assert_eq!(list["items"][0]["scopes"], json!(["traces:write"]));
    // A second writer's token works on its own route only.
    let telemetry = app.service_token(&admin, &["telemetry:write"]).await;
    let post_with = |t: &str, path: &str| {
        app.client
            .post(app.url(path))
            .bearer_auth(t)
            .json(&json!({}))
    };
    assert_eq!(
        status(post_with(&telemetry, "/api/test/telemetry")).await,
        200
    );
    assert_eq!(status(post_with(&telemetry, "/api/test/traces")).await, 403);
    assert_eq!(
        status(post_with("tps_forged", "/api/test/traces")).await,
        401
    );
    // Expiry.
    app.clock.advance(Duration::days(31));
    assert_eq!(status(bearer("POST", "/api/test/traces")).await, 401);
    app.clock.advance(-Duration::days(31));
    assert_eq!(status(bearer("POST", "/api/test/traces")).await, 200);
    // Revocation.
    let (status_code, body) = app
        .with_client(admin.clone())
        .revoke_service_token(&id)
        .await;
    assert_eq!(status_code, 200, "{body}");
    assert_eq!(status(bearer("POST", "/api/test/traces")).await, 401);
}

#[sqlx::test]
async fn the_trading_switch_needs_admin_and_a_recent_step_up_to_turn_on_and_is_audited(
    pool: PgPool,
) {
    let app = manual_app(pool.clone()).await;
    let (signed, url, _) = enrolled_admin(&app).await;
    let operator = app
        .user_with_role(&signed.client, "op@example.com", "operator")
        .await;
    let switch = async |user: &Signed, enabled: bool| {
        app.as_user(user)
            .set_trading_switch(json!({ "enabled": enabled }))
            .await
    };
    let (status, body) = switch(&operator, true).await;
    assert_eq!((status, error_code(&body)), (403, "FORBIDDEN"));

    // Enrollment counted as a step-up; 11 minutes later it no longer does.
    app.clock.advance(Duration::minutes(11));
    let (status, body) = switch(&signed, true).await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "TWO_FACTOR_REQUIRED"),
        "{body}"
    );
    let enabled: bool = sqlx::query_scalar("SELECT trading_enabled FROM settings")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!enabled);

    next_step(&app);
    let res = signed
        .client
        .post(app.url("/api/auth/step-up"))
        .json(&json!({ "code": code_from_url(&url, &app.clock, 0) }))
        .send()
        .await
        .unwrap();
    let stepped = Signed::new(crate::support::SessionCookies::from_response(&res).unwrap());
    assert_eq!(res.status(), 200);
    let (status, body) = switch(&stepped, true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"]["trading_enabled"], true);
    assert_eq!(body["settings"]["updated_by"], ADMIN_EMAIL);
    let trace = body["trace_id"].as_str().unwrap().to_owned();
    // Any signed-in role reads it (the header shows it to everyone).
    let (status, read) = app.as_user(&operator).trading_switch().await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["settings"]["trading_enabled"], true);
    assert_eq!(read["settings"]["updated_by"], ADMIN_EMAIL);

    // Audited with the request's trace id, visible to admins only.
    let (status, audit) = app
        .as_user(&stepped)
        .audit_log("action=system.trading_switch")
        .await;
    assert_eq!(status, 200, "{audit}");
    let entry = &audit["items"][0];
    assert_eq!(entry["actor"], ADMIN_EMAIL);
    assert_eq!(entry["outcome"], "SUCCESS");
    assert_eq!(entry["trace_id"], trace.as_str());
    assert_eq!(
        entry["metadata"],
        json!({ "from": false, "to": true, "cancelled_orders": 0 })
    );
    let (status, _) = app.as_user(&operator).audit_log("").await;
    assert_eq!(status, 403);
    let event: String = sqlx::query_scalar(
        "SELECT trace_id FROM system_events WHERE code = 'TRADING_SWITCH_CHANGED'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(event, trace);

    // The step-up window is 10 minutes: turning trading on needs one, turning it off (stopping
    // risk) never does.
    app.clock
        .advance(Duration::minutes(10) + Duration::seconds(1));
    let (status, body) = switch(&stepped, false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"]["trading_enabled"], false);
    assert_eq!(body["cancelled_order_ids"], json!([]));
    let (status, body) = switch(&stepped, true).await;
    assert_eq!((status, error_code(&body)), (401, "TWO_FACTOR_REQUIRED"));

    // Refusals of mutating routes are audited too.
    let (_, denied) = app.as_user(&stepped).audit_log("outcome=DENIED").await;
    assert!(
        denied["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "op@example.com"
                && e["target"] == "POST /api/system/trading-switch"),
        "{denied}"
    );
    let (_, logins) = app
        .as_user(&stepped)
        .audit_log("action=auth.login&limit=2")
        .await;
    assert_eq!(logins["items"].as_array().unwrap().len(), 2);
    assert!(logins["next_cursor"].is_string());
}

#[sqlx::test]
async fn users_are_listed_in_pages(pool: PgPool) {
    let app = manual_app(pool).await;
    let admin = app.admin_client().await;
    for i in 0..3 {
        app.clock.advance(Duration::seconds(1));
        let res = admin
            .post(app.url("/api/users"))
            .json(&json!({ "email": format!("u{i}@example.com"), "password": ADMIN_PASSWORD, "role": "viewer" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let (status, first) = app.with_client(admin.clone()).list_users("limit=2").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["items"][0]["email"], "u2@example.com");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .with_client(admin.clone())
        .list_users(&format!("limit=2&cursor={cursor}"))
        .await;
    let emails: Vec<&str> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["u0@example.com", ADMIN_EMAIL]);
    assert!(second["next_cursor"].is_null());
    // The list filters by creation time like every list (SPEC §5 `from`/`to`).
    let u1_at = first["items"][1]["created_at"]
        .as_str()
        .unwrap()
        .replace('+', "%2B");
    let emails_of = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };
    let admin_app = app.with_client(admin.clone());
    let (_, since) = admin_app.list_users(&format!("from={u1_at}")).await;
    assert_eq!(
        emails_of(&since),
        ["u2@example.com", "u1@example.com"],
        "{since}"
    );
    let (_, before) = admin_app.list_users(&format!("to={u1_at}")).await;
    assert_eq!(
        emails_of(&before),
        ["u0@example.com", ADMIN_EMAIL],
        "{before}"
    );
    assert!(
        !second.to_string().contains("argon2"),
        "no hashes in answers"
    );
}
