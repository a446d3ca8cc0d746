//! What a call to a provider proved: the SPEC §4 outcome categories, shared by the
//! integrations that produce them and the verification rows that store them.

use serde::{Deserialize, Serialize};

use super::breaker::BreakerState;

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

/// A provider's recent calls that counted (the provider's fault or a success; a caller's bad
/// input and plan limits do not): the live success rate the status and the Connections badge
/// use, so a provider that fails every call is never shown as healthy because it once verified.
#[derive(Debug, Clone, Default)]
pub struct CallWindow {
    /// `(when, ok)`, oldest first, none older than [`CallWindow::SPAN`] at the last record.
    calls: std::collections::VecDeque<(chrono::DateTime<chrono::Utc>, bool)>,
}

/// What a provider's recent calls say.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LiveRate {
    pub calls: usize,
    pub ok: usize,
    /// Whether the newest counted call succeeded; `None` without calls in the window.
    pub last_ok: Option<bool>,
}

impl LiveRate {
    /// Successes over counted calls; `None` without calls in the window.
    pub fn success_rate(self) -> Option<f64> {
        (self.calls > 0).then(|| self.ok as f64 / self.calls as f64)
    }

    /// Failing: calls in the window and fewer than half of them succeeded.
    pub fn failing(self) -> bool {
        self.calls > 0 && self.ok * 2 < self.calls
    }
}

/// A provider's live health: the one verdict the Connections badge, the system status ("every
/// data provider failing") and the operator read, from the breaker and the recent calls only.
/// A passed verify or a 24 h use count is not proof of health now: without calls in the
/// window the answer is `Unknown`, never `Connected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LiveHealth {
    /// Breaker CLOSED, recent calls succeed at [`LiveHealth::HEALTHY_RATE`] or better, and the
    /// newest one succeeded.
    Connected,
    /// Breaker CLOSED and most calls succeed, but some fail (or the newest did).
    Degraded,
    /// Breaker OPEN or HALF_OPEN, or most recent calls failed: not usable now.
    Failing,
    /// No counted call in the window (or no breaker to read): no proof either way.
    Unknown,
    /// A required variable is missing: no calls can be made.
    NotConfigured,
}

impl LiveHealth {
    pub const ALL: [LiveHealth; 5] = [
        LiveHealth::Connected,
        LiveHealth::Degraded,
        LiveHealth::Failing,
        LiveHealth::Unknown,
        LiveHealth::NotConfigured,
    ];
    /// The success rate at or above which a provider counts as healthy.
    pub const HEALTHY_RATE: f64 = 0.9;

    pub const fn as_str(self) -> &'static str {
        match self {
            LiveHealth::Connected => "CONNECTED",
            LiveHealth::Degraded => "DEGRADED",
            LiveHealth::Failing => "FAILING",
            LiveHealth::Unknown => "UNKNOWN",
            LiveHealth::NotConfigured => "NOT_CONFIGURED",
        }
    }

    /// The verdict. `breaker` is `None` when no breaker runs for the provider (no runtime in
    /// this process): its calls cannot be seen, so the answer is `Unknown`.
    pub fn classify(configured: bool, breaker: Option<BreakerState>, rate: LiveRate) -> Self {
        let Some(breaker) = breaker.filter(|_| configured) else {
            return if configured {
                LiveHealth::Unknown
            } else {
                LiveHealth::NotConfigured
            };
        };
        if breaker != BreakerState::Closed || rate.failing() {
            return LiveHealth::Failing;
        }
        match rate.success_rate() {
            None => LiveHealth::Unknown,
            Some(r) if r >= Self::HEALTHY_RATE && rate.last_ok == Some(true) => {
                LiveHealth::Connected
            }
            Some(_) => LiveHealth::Degraded,
        }
    }
}

impl CallWindow {
    /// How far back the live success rate looks.
    pub const SPAN: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
    /// At most this many calls are kept (the newest).
    const MAX: usize = 500;

    pub fn record(&mut self, now: chrono::DateTime<chrono::Utc>, ok: bool) {
        self.calls.push_back((now, ok));
        self.prune(now);
        while self.calls.len() > Self::MAX {
            self.calls.pop_front();
        }
    }

    fn prune(&mut self, now: chrono::DateTime<chrono::Utc>) {
        while self
            .calls
            .front()
            .is_some_and(|(t, _)| now - *t > Self::SPAN)
        {
            self.calls.pop_front();
        }
    }

    /// The calls of the last [`CallWindow::SPAN`] before `now`.
    pub fn rate(&self, now: chrono::DateTime<chrono::Utc>) -> LiveRate {
        let recent = self.calls.iter().filter(|(t, _)| now - *t <= Self::SPAN);
        let (calls, ok, last_ok) = recent.fold((0, 0, None), |(n, k, _), (_, ok)| {
            (n + 1, k + usize::from(*ok), Some(*ok))
        });
        LiveRate { calls, ok, last_ok }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone, Utc};

    #[test]
    fn the_live_rate_counts_the_window_only_and_fails_below_half() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        let mut w = CallWindow::default();
        assert_eq!(w.rate(t0).success_rate(), None);
        assert!(!w.rate(t0).failing(), "no calls is not failing");
        w.record(t0, true);
        w.record(t0, false);
        assert!(!w.rate(t0).failing(), "half is not failing");
        w.record(t0 + TimeDelta::minutes(1), false);
        assert_eq!(w.rate(t0 + TimeDelta::minutes(1)).calls, 3);
        assert!(w.rate(t0 + TimeDelta::minutes(1)).failing());
        // Sixteen minutes on, only the last failure is in the window.
        let later = t0 + TimeDelta::minutes(16);
        assert_eq!(
            w.rate(later),
            LiveRate {
                calls: 1,
                ok: 0,
                last_ok: Some(false)
            }
        );
        w.record(later, true);
        w.record(later, true);
        assert_eq!(w.rate(later).success_rate(), Some(2.0 / 3.0));
        assert!(!w.rate(later).failing());
    }

    fn rate(calls: usize, ok: usize, last_ok: bool) -> LiveRate {
        LiveRate {
            calls,
            ok,
            last_ok: Some(last_ok),
        }
    }

    #[test]
    fn live_health_is_connected_only_with_proof() {
        use BreakerState::*;
        use LiveHealth as H;
        let classify = |b, r| LiveHealth::classify(true, Some(b), r);
        assert_eq!(classify(Closed, rate(10, 10, true)), H::Connected);
        assert_eq!(
            classify(Closed, rate(10, 9, true)),
            H::Connected,
            "90% is healthy"
        );
        // Not proven: no calls, no breaker to read, not configured.
        assert_eq!(classify(Closed, LiveRate::default()), H::Unknown);
        assert_eq!(
            LiveHealth::classify(true, None, rate(5, 5, true)),
            H::Unknown
        );
        assert_eq!(
            LiveHealth::classify(false, Some(Closed), rate(5, 5, true)),
            H::NotConfigured
        );
        // An open or probing breaker fails, whatever the calls said before it opened.
        assert_eq!(classify(Open, rate(10, 10, true)), H::Failing);
        assert_eq!(classify(HalfOpen, LiveRate::default()), H::Failing);
        // Most calls failing fails; some failing (or the newest) degrades.
        assert_eq!(classify(Closed, rate(3, 1, true)), H::Failing);
        assert_eq!(classify(Closed, rate(10, 8, true)), H::Degraded);
        assert_eq!(classify(Closed, rate(10, 9, false)), H::Degraded);
    }
}
