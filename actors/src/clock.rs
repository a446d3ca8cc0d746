//! The one time source. Everything that stamps, persists or compares wall time reads it from a
//! [`Clock`] handed down from start-up, never from the system directly, so tests and test
//! stacks can drive time:
//!
//! - [`Clock::system`]: the real clock (production).
//! - [`Clock::starting_at`]: wall speed from a chosen instant (a test stack on a closed market);
//!   [`Clock::offset`]: the same by a fixed shift, so several processes agree.
//! - [`Clock::manual`]: moves only when [`Clock::set`] / [`Clock::advance`] say so (tests).
//!
//! Durations that never leave the process (timeouts, backoff, heartbeat deadlines, restart
//! intensity) stay on the monotonic clock (`Instant`, tokio time), which tokio's test-util can
//! pause; only instants come from here. A grep-proof rule keeps it so: clippy's
//! `disallowed-methods` (clippy.toml) refuses `Utc::now` and `SystemTime::now` everywhere but
//! in [`wall`].

use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

/// A cheap, cloneable handle; clones share one time.
#[derive(Debug, Clone)]
pub struct Clock(Arc<Source>);

#[derive(Debug)]
enum Source {
    System,
    /// Wall time shifted by a fixed offset: runs at wall speed.
    Offset(TimeDelta),
    /// Moves only when told to; sleepers watch it.
    Manual(watch::Sender<DateTime<Utc>>),
}

/// The only read of the operating system's wall clock.
#[allow(clippy::disallowed_methods)]
fn wall() -> DateTime<Utc> {
    SystemTime::now().into()
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(Source::System))
    }

    /// Reads `start` now and runs at wall speed from there.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self::offset(start - wall())
    }

    /// Wall time shifted by `offset`: processes given one offset read one time, whenever each
    /// started (a cluster of test nodes on a shifted clock).
    pub fn offset(offset: TimeDelta) -> Self {
        Clock(Arc::new(Source::Offset(offset)))
    }

    /// A clock that only moves when set or advanced.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock(Arc::new(Source::Manual(watch::Sender::new(start))))
    }

    /// The real clock, unshifted (production must run on it).
    pub fn is_system(&self) -> bool {
        matches!(*self.0, Source::System)
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &*self.0 {
            Source::System => wall(),
            Source::Offset(offset) => wall() + *offset,
            Source::Manual(now) => *now.borrow(),
        }
    }

    /// Moves a manual clock by `by` (backwards when negative); a no-op on the other clocks.
    pub fn advance(&self, by: TimeDelta) {
        if let Source::Manual(now) = &*self.0 {
            now.send_modify(|t| *t += by);
        }
    }

    /// Sets a manual clock; a no-op on the other clocks.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Source::Manual(now) = &*self.0 {
            now.send_replace(to);
        }
    }

    /// Waits until the clock reads `deadline` or later and returns the time it then reads.
    /// Real and shifted clocks sleep on tokio time and re-read (a wall-clock step is noticed
    /// at the end of the sleep); a manual clock wakes when it is set or advanced past
    /// `deadline`, however far, and never on its own.
    pub async fn sleep_until(&self, deadline: DateTime<Utc>) -> DateTime<Utc> {
        match &*self.0 {
            Source::Manual(now) => {
                let mut rx = now.subscribe();
                loop {
                    let t = *rx.borrow_and_update();
                    if t >= deadline {
                        return t;
                    }
                    // The sender lives as long as `self`, so this never errs while awaited.
                    let _ = rx.changed().await;
                }
            }
            Source::System | Source::Offset(_) => loop {
                let t = self.now();
                if t >= deadline {
                    return t;
                }
                tokio::time::sleep((deadline - t).to_std().unwrap_or_default()).await;
            },
        }
    }
}

/// Milliseconds since the Unix epoch (0 for times before it); the snapshot's time format.
pub fn to_unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Inverse of [`to_unix_ms`].
pub fn from_unix_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = Clock::manual(at("2026-11-28T12:00:00Z"));
        let shared = c.clone();
        assert_eq!(c.now(), at("2026-11-28T12:00:00Z"));
        shared.advance(TimeDelta::minutes(5));
        assert_eq!(c.now(), at("2026-11-28T12:05:00Z"));
        shared.advance(-TimeDelta::minutes(10));
        assert_eq!(c.now(), at("2026-11-28T11:55:00Z"));
        c.set(at("2027-01-01T00:00:00Z"));
        assert_eq!(shared.now(), at("2027-01-01T00:00:00Z"));
        assert!(!c.is_system());
    }

    #[test]
    fn a_shifted_clock_starts_where_told_and_runs_at_wall_speed() {
        let start = at("2026-11-28T12:00:00Z");
        let c = Clock::starting_at(start);
        let first = c.now();
        assert!(first >= start && first - start < TimeDelta::seconds(5));
        std::thread::sleep(std::time::Duration::from_millis(20));
        let later = c.now();
        assert!(
            later - first >= TimeDelta::milliseconds(20),
            "{first} → {later}"
        );
        // Set/advance only move manual clocks.
        c.advance(TimeDelta::days(1));
        assert!(c.now() - start < TimeDelta::seconds(5));
        assert!(!c.is_system() && Clock::system().is_system());
    }

    #[tokio::test]
    async fn a_manual_sleeper_wakes_when_the_clock_passes_its_deadline() {
        let c = Clock::manual(at("2026-11-28T12:00:00Z"));
        let sleeper = tokio::spawn({
            let c = c.clone();
            async move { c.sleep_until(at("2026-11-28T12:01:00Z")).await }
        });
        tokio::task::yield_now().await;
        c.advance(TimeDelta::seconds(59));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke before its deadline");
        // A jump far past the deadline wakes it once, reading the new time.
        c.advance(TimeDelta::hours(2));
        assert_eq!(sleeper.await.unwrap(), at("2026-11-28T14:00:59Z"));
        // Already past: returns at once.
        assert_eq!(
            c.sleep_until(at("2026-11-28T12:00:00Z")).await,
            at("2026-11-28T14:00:59Z")
        );
    }

    #[tokio::test]
    async fn a_real_sleeper_wakes_at_its_deadline() {
        let c = Clock::starting_at(at("2026-11-28T12:00:00Z"));
        let deadline = c.now() + TimeDelta::milliseconds(30);
        let woke = c.sleep_until(deadline).await;
        assert!(woke >= deadline && woke - deadline < TimeDelta::seconds(1));
    }
}
