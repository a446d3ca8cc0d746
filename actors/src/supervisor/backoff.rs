//! Per-child restart delay: exponential with jitter, reset after a quiet spell.

use std::time::Duration;

use rand::Rng;

/// `delay(n) = min(max, base * 2^n)`, minus up to `jitter` (a fraction in 0..=1) of it at
/// random, where `n` counts consecutive restarts. The count resets when the child has
/// run for `reset_after` without ending. Jitter only shortens, so `max` is a hard cap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    pub jitter: f64,
    pub reset_after: Duration,
}

impl Backoff {
    /// Restart at once (OTP behaviour).
    pub const NONE: Backoff = Backoff {
        base: Duration::ZERO,
        max: Duration::ZERO,
        jitter: 0.0,
        reset_after: Duration::ZERO,
    };

    /// Exponential from `base` up to `max`, 20 % jitter, reset after `max` (at least 1 s)
    /// of uptime.
    pub fn exponential(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            jitter: 0.2,
            reset_after: max.max(Duration::from_secs(1)),
        }
    }

    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    pub fn reset_after(mut self, reset_after: Duration) -> Self {
        self.reset_after = reset_after;
        self
    }

    /// Delay before restart number `consecutive` (0 for the first restart in a streak).
    pub fn delay(&self, consecutive: u32) -> Duration {
        if self.base.is_zero() {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(consecutive.min(31)).unwrap_or(u32::MAX);
        let raw = self.base.saturating_mul(factor).min(self.max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return raw;
        }
        let cut = rand::rng().random_range(0.0..=jitter);
        raw.mul_f64(1.0 - cut)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::NONE
    }
}
