//! Why a call to a provider failed ([`ProviderCallError`]: refused before the vendor, unanswered,
//! or the vendor's own failure) and the stable code each shows in usage events and attempt lists.

use std::time::Duration;

use super::CIRCUIT_BREAKER_OPEN;
use crate::integrations::{
    bars::BarsError,
    outcome::{Failure, codes},
};

#[derive(Debug, thiserror::Error)]
pub enum ProviderCallError {
    #[error("the runtime is not running")]
    NotRunning,
    #[error("{0} is not configured")]
    NotConfigured(String),
    #[error("{provider}: circuit breaker open, retry after {retry_after:?}")]
    BreakerOpen {
        provider: String,
        retry_after: Duration,
    },
    #[error("{0}: no answer within the call time box")]
    Timeout(String),
    #[error("{0}: the provider actor stopped before answering")]
    ActorGone(String),
    #[error(transparent)]
    Bars(#[from] BarsError),
    #[error("{provider}: {} ({})", .failure.code, .failure.message)]
    Vendor { provider: String, failure: Failure },
    #[error("{0} is not an LLM provider")]
    NotAnLlm(String),
    #[error("{0} does not serve this macro-data request")]
    NotMacro(String),
}

impl ProviderCallError {
    /// The stable code a usage event or an attempt list shows for this error.
    pub fn code(&self) -> &str {
        match self {
            ProviderCallError::NotRunning | ProviderCallError::ActorGone(_) => {
                "RUNTIME_UNAVAILABLE"
            }
            ProviderCallError::NotConfigured(_) => "NOT_CONFIGURED",
            ProviderCallError::BreakerOpen { .. } => CIRCUIT_BREAKER_OPEN,
            ProviderCallError::Timeout(_) => codes::TIMEOUT,
            ProviderCallError::Bars(BarsError::Provider(f)) => f.code,
            ProviderCallError::Bars(_) => "BARS_FAILED",
            ProviderCallError::Vendor { failure, .. } => failure.code,
            ProviderCallError::NotAnLlm(_) => "NOT_AN_LLM",
            ProviderCallError::NotMacro(_) => "NOT_A_MACRO_PROVIDER",
        }
    }
}
