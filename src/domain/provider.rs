//! What a call to a provider proved: the SPEC §4 outcome categories, shared by the
//! integrations that produce them and the verification rows that store them.

use serde::{Deserialize, Serialize};

/// What a verify (or any call) proved, SPEC §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    InvalidCredentials,
    InsufficientPlan,
    RateLimited,
    Unreachable,
    ProviderError,
    Unverifiable,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::InvalidCredentials,
        Outcome::InsufficientPlan,
        Outcome::RateLimited,
        Outcome::Unreachable,
        Outcome::ProviderError,
        Outcome::Unverifiable,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::InvalidCredentials => "invalid_credentials",
            Outcome::InsufficientPlan => "insufficient_plan",
            Outcome::RateLimited => "rate_limited",
            Outcome::Unreachable => "unreachable",
            Outcome::ProviderError => "provider_error",
            Outcome::Unverifiable => "unverifiable",
        }
    }
}
