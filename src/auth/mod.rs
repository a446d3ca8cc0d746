//! Authentication and authorization: passwords, TOTP 2FA, backup codes, Postgres sessions,
//! service tokens, roles, CSRF, throttling. The HTTP surface is `api::auth`; the per-route
//! guard (default deny) is `guard`, fed by the access policy declared in each route's
//! OpenAPI annotation (`policy`).

pub mod backup_codes;
pub mod cookies;
pub mod guard;
pub mod password;
pub mod policy;
pub mod principal;
pub mod qr;
pub mod secret_box;
pub mod throttle;
pub mod tokens;
pub mod totp;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use principal::{AuthUser, CurrentUser, Principal, RecentStepUp, ServiceCaller};

/// A user's role; each includes the rights of the ones before it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything an operator sees.
    Viewer,
    /// Starts and stops bots, verifies integrations.
    Operator,
    /// Users, promotion to LIVE, kill switch, trading switch, service tokens, audit log.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Deletes dead sessions, login challenges and stale throttle counters every 10 minutes.
/// Expiry is enforced on every read; this only keeps the tables small.
pub fn spawn_housekeeping(state: crate::api::AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        password::warm_up().await;
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            let now = state.clock.now();
            let idle = state.config.auth.session_idle;
            if let Err(err) = crate::store::sessions::purge_expired(&state.pool, now, idle).await {
                tracing::warn!(error = %err, "session housekeeping failed");
            }
            let quiet = now - chrono::Duration::hours(12);
            if let Err(err) = crate::store::auth_throttle::purge_stale(&state.pool, quiet).await {
                tracing::warn!(error = %err, "throttle housekeeping failed");
            }
        }
    })
}

/// Normalized form of an email for lookups and throttle keys.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}
