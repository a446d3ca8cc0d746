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

/// Normalized form of an email for lookups and throttle keys.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}
