//! Issue 21 part 4: admins and operators must have 2FA. Without it they may only enroll (and
//! see themselves, sign out); the first admin may get a grace; creating users, service tokens
//! and changing users need a fresh 2FA verification (step-up).

use chrono::Duration;
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{clock::Clock, config::Config};

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Signed, TestApp, code_from_url, error_code,
    fixtures::sma_bot,
    session::{enroll, manual_app, next_step},
    spawn_app_with, test_config,
};

/// The first admin registered and signed in with its password only (no 2FA yet).
async fn bare_admin(app: &TestApp) -> Signed {
    let (status, body) = app
        .register(json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .await;
    assert_eq!(status, 201, "{body}");
    app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await
}

/// A `TWO_FACTOR_REQUIRED` envelope for `reason` with its fix and trace id.
fn assert_required(what: &str, reply: &(u16, Value), reason: &str) {
    let (status, body) = reply;
    assert_eq!(
        (*status, error_code(body)),
        (401, "TWO_FACTOR_REQUIRED"),
        "{what}: {body}"
    );
    assert_eq!(body["error"]["details"]["reason"], reason, "{what}: {body}");
    let fix = body["error"]["suggested_fix"].as_str().unwrap();
    assert!(
        fix.contains("/api/auth/2fa/setup") || fix.contains("/api/auth/step-up"),
        "{fix}"
    );
    assert_eq!(body["trace_id"].as_str().unwrap().len(), 32, "{body}");
}

async fn user_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn an_admin_without_2fa_can_only_enroll_and_then_works(pool: PgPool) {
    let app = manual_app(pool).await;
    let admin = bare_admin(&app).await;
    let me = app.as_user(&admin);

    let refused = [
        (
            "create user",
            me.create_user(
                json!({ "email": "new@example.com", "password": ADMIN_PASSWORD, "role": "admin" }),
            )
            .await,
        ),
        (
            "create token",
            me.create_service_token(json!({ "name": "w", "scopes": ["traces:write"] }))
                .await,
        ),
        (
            "disable user",
            me.patch_user(uuid::Uuid::now_v7(), json!({ "disabled": true }))
                .await,
        ),
        ("create bot", me.create_bot(sma_bot("b1", "LAB")).await),
        ("list bots", me.list_bots("").await),
        ("start bot", me.start_bot(uuid::Uuid::now_v7()).await),
        (
            "kill switch",
            me.set_kill_switch(json!({ "active": true, "reason": "x" }))
                .await,
        ),
        ("audit", me.audit_log("").await),
        ("sessions", me.list_sessions().await),
    ];
    for (what, reply) in &refused {
        assert_required(what, reply, "enrollment_required");
    }
    assert_eq!(user_count(&app).await, 1, "nothing was created");
    let bots: i64 = sqlx::query_scalar("SELECT count(*) FROM bots")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(bots, 0);
    let (status, body) = me.me().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["two_factor_enabled"], false);
    assert_eq!(body["two_factor_enrollment_required"], true);

    // Enrollment is allowed; confirming counts as a verification, so everything works after.
    let (admin, _, _) = enroll(&app, admin).await;
    let me = app.as_user(&admin);
    let (status, body) = me.me().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["two_factor_enrollment_required"], false);
    let (status, body) = me.list_bots("").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = me.create_bot(sma_bot("b1", "LAB")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = me
        .create_user(
            json!({ "email": "new@example.com", "password": ADMIN_PASSWORD, "role": "viewer" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = me
        .create_service_token(json!({ "name": "w", "scopes": ["traces:write"] }))
        .await;
    assert_eq!(status, 201, "{body}");
    // The refused mutations were audited as denials.
    let (status, body) = me.audit_log("action=access.denied").await;
    assert_eq!(status, 200, "{body}");
    let reasons: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["reason"].as_str().unwrap_or(""))
        .collect();
    assert!(
        reasons
            .iter()
            .filter(|r| **r == "two_factor_not_enrolled")
            .count()
            >= 5,
        "{body}"
    );
}

#[sqlx::test]
async fn operators_need_2fa_and_viewers_do_not(pool: PgPool) {
    let app = manual_app(pool).await;
    let admin = app.admin_client().await;
    let op = app
        .user_without_2fa(&admin, "op@example.com", "operator")
        .await;
    let viewer = app
        .user_without_2fa(&admin, "v@example.com", "viewer")
        .await;
    let (status, body) = app.as_user(&viewer).list_bots("").await;
    assert_eq!(status, 200, "{body}");
    let as_op = app.as_user(&op);
    assert_required(
        "list bots",
        &as_op.list_bots("").await,
        "enrollment_required",
    );
    assert_required(
        "create bot",
        &as_op.create_bot(sma_bot("b1", "LAB")).await,
        "enrollment_required",
    );
    let (op, _, _) = enroll(&app, op).await;
    let (status, body) = app.as_user(&op).create_bot(sma_bot("b1", "LAB")).await;
    assert_eq!(status, 201, "{body}");
    // Logging out needs no 2FA either.
    let other = app
        .user_without_2fa(&admin, "op2@example.com", "operator")
        .await;
    let (status, body) = app.as_user(&other).logout().await;
    assert_eq!(status, 200, "{body}");
}

#[sqlx::test]
async fn the_first_admin_grace_is_honoured_and_ends(pool: PgPool) {
    let start = crate::support::now();
    let clock = Clock::manual(start);
    let config = Config {
        auth: tradeplane::config::AuthConfig {
            first_admin_2fa_grace: Duration::hours(1),
            ..test_config().auth
        },
        ..test_config()
    };
    let app = spawn_app_with(pool, config, clock).await;
    let admin = bare_admin(&app).await;
    let me = app.as_user(&admin);
    // Inside the grace the first admin works…
    let (status, body) = me.create_bot(sma_bot("b1", "LAB")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(me.me().await.1["two_factor_enrollment_required"], false);
    // …except for step-up actions, which need a second factor it does not have yet.
    assert_required(
        "create user in grace",
        &me.create_user(
            json!({ "email": "a2@example.com", "password": ADMIN_PASSWORD, "role": "admin" }),
        )
        .await,
        "step_up",
    );
    // (Requests every 10 minutes keep the session alive; idle timeout 15 min.)
    for minutes in [10, 10, 10, 10, 10, 9] {
        app.clock.advance(Duration::minutes(minutes));
        let (status, body) = me.list_bots("").await;
        assert_eq!(status, 200, "{body}");
    }
    app.clock.advance(Duration::minutes(1));
    assert_required(
        "after the grace",
        &me.list_bots("").await,
        "enrollment_required",
    );
    assert_eq!(me.me().await.1["two_factor_enrollment_required"], true);

    // The grace is the first admin's only: a second admin gets none.
    let (admin, _, _) = enroll(&app, admin).await;
    let (status, body) = app
        .as_user(&admin)
        .create_user(
            json!({ "email": "a2@example.com", "password": ADMIN_PASSWORD, "role": "admin" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let second = app.sign_in("a2@example.com", ADMIN_PASSWORD).await;
    assert_required(
        "second admin",
        &app.as_user(&second).list_bots("").await,
        "enrollment_required",
    );
}

#[sqlx::test]
async fn users_tokens_and_role_changes_need_a_fresh_verification(pool: PgPool) {
    let app = manual_app(pool).await;
    let admin = app.admin_client().await;
    let viewer = app.user_with_role(&admin, "v@example.com", "viewer").await;
    let (_, me) = app.as_user(&viewer).me().await;
    let viewer_id = me["user"]["id"].as_str().unwrap().to_owned();
    let (signed, url, _) = crate::support::session::enrolled_admin(&app).await;
    let me = app.as_user(&signed);

    // 11 minutes after the 2FA sign-in the verification is stale (window 10 min).
    app.clock.advance(Duration::minutes(11));
    let (status, body) = me.list_users("").await;
    assert_eq!(status, 200, "reads need no step-up: {body}");
    for (what, reply) in [
        (
            "create user",
            me.create_user(
                json!({ "email": "x@example.com", "password": ADMIN_PASSWORD, "role": "viewer" }),
            )
            .await,
        ),
        (
            "create token",
            me.create_service_token(json!({ "name": "w", "scopes": ["traces:write"] }))
                .await,
        ),
        (
            "role change",
            me.patch_user(&viewer_id, json!({ "role": "operator" }))
                .await,
        ),
    ] {
        assert_required(what, &reply, "step_up");
    }
    assert_eq!(user_count(&app).await, 2);

    // A step-up with a code rotates the session; then each goes through.
    next_step(&app);
    let res = signed
        .client
        .post(app.url("/api/auth/step-up"))
        .json(&json!({ "code": code_from_url(&url, &app.clock, 0) }))
        .send()
        .await
        .unwrap();
    let stepped = Signed::new(crate::support::SessionCookies::from_response(&res).unwrap());
    let (status, body) = crate::support::envelope(res).await;
    assert_eq!(status, 200, "{body}");
    let me = app.as_user(&stepped);
    let (status, body) = me
        .create_user(
            json!({ "email": "x@example.com", "password": ADMIN_PASSWORD, "role": "viewer" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = me
        .create_service_token(json!({ "name": "w", "scopes": ["traces:write"] }))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = me
        .patch_user(&viewer_id, json!({ "role": "operator" }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["role"], "operator");
}

#[sqlx::test]
async fn service_tokens_hold_no_second_factor_and_reach_only_writer_routes(pool: PgPool) {
    let app = manual_app(pool).await;
    let admin = app.admin_client().await;
    let token = app.service_token(&admin, &["traces:write"]).await;
    let writer = app.with_token(&token);
    let (status, body) = writer
        .call("POST", "/api/test/traces", Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    for (what, reply) in [
        ("list bots", writer.list_bots("").await),
        (
            "create user",
            writer
                .create_user(json!({ "email": "t@example.com", "password": ADMIN_PASSWORD, "role": "admin" }))
                .await,
        ),
        (
            "create token",
            writer
                .create_service_token(json!({ "name": "w2", "scopes": ["traces:write"] }))
                .await,
        ),
    ] {
        assert_eq!(
            (reply.0, error_code(&reply.1)),
            (403, "FORBIDDEN"),
            "{what}: {}",
            reply.1
        );
    }
}
