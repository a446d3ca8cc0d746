//! Which call results count against a provider's breaker ([`Verdict`]): the rule stated in the
//! module docs, apart so it can be read (and tested) on its own.

use crate::domain::provider::Outcome;
use crate::integrations::outcome::codes;

/// How a finished call counts on the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Ok,
    /// The provider's fault: counts.
    Failed,
    /// Not the provider's fault (the caller's input, a plan limit, our database): the vendor
    /// answered, so the permit is returned as a success.
    Neutral,
}

pub(super) fn verdict_of(outcome: Outcome, code: Option<&str>) -> Verdict {
    match outcome {
        Outcome::Ok => Verdict::Ok,
        Outcome::ProviderError if code == Some(codes::PROVIDER_HTTP_4XX) => Verdict::Neutral,
        Outcome::Unreachable
        | Outcome::ProviderError
        | Outcome::RateLimited
        | Outcome::InvalidCredentials => Verdict::Failed,
        Outcome::InsufficientPlan | Outcome::Unverifiable => Verdict::Neutral,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::outcome::Failure;

    #[test]
    fn what_counts_on_the_breaker() {
        assert_eq!(verdict_of(Outcome::Ok, None), Verdict::Ok);
        for o in [
            Outcome::Unreachable,
            Outcome::ProviderError,
            Outcome::RateLimited,
            Outcome::InvalidCredentials,
        ] {
            assert_eq!(verdict_of(o, Some("X")), Verdict::Failed, "{o:?}");
        }
        assert_eq!(
            verdict_of(Outcome::ProviderError, Some(codes::PROVIDER_HTTP_4XX)),
            Verdict::Neutral
        );
        assert_eq!(
            verdict_of(Outcome::InsufficientPlan, None),
            Verdict::Neutral
        );
        assert_eq!(verdict_of(Outcome::Unverifiable, None), Verdict::Neutral);
    }

    #[test]
    fn failure_vocabulary_is_shared() {
        let f = Failure::new(Outcome::Unreachable, codes::TIMEOUT, "x");
        assert_eq!(verdict_of(f.outcome, Some(f.code)), Verdict::Failed);
    }
}
