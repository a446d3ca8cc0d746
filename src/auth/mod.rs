//! Authentication and authorization mechanisms: passwords, TOTP 2FA, backup codes, tokens,
//! cookies, throttling, and the access policy declared in each route's OpenAPI annotation
//! (`policy`). The HTTP surface — the per-route guard (default deny) and the extractors that
//! hand handlers their caller — is `api::auth`. Roles are `domain::access::Role`.

pub mod backup_codes;
pub mod cookies;
pub mod hosts;
pub mod password;
pub mod policy;
pub mod qr;
pub mod secret_box;
pub mod throttle;
pub mod tokens;
pub mod totp;

/// Deletes dead sessions, login challenges and stale throttle counters every 10 minutes.
/// Expiry is enforced on every read; this only keeps the tables small.
pub fn spawn_housekeeping(
    pool: sqlx::PgPool,
    clock: crate::clock::Clock,
    session_idle: chrono::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        password::warm_up().await;
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            let now = clock.now();
            if let Err(err) = crate::store::sessions::purge_expired(&pool, now, session_idle).await
            {
                tracing::warn!(error = %err, "session housekeeping failed");
            }
            let quiet = now - chrono::Duration::hours(12);
            let known = now - chrono::Duration::days(throttle::KNOWN_FOR_DAYS);
            if let Err(err) = crate::store::auth_throttle::purge_stale(&pool, quiet, known).await {
                tracing::warn!(error = %err, "throttle housekeeping failed");
            }
        }
    })
}

/// Normalized form of an email for lookups and throttle keys.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}
