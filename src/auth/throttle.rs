//! Throttling of password and second-factor attempts: growing delays per account (across
//! addresses) and per client address (across accounts), no permanent lockout (so nobody can
//! lock an operator out for good). An attempt inside a delay is refused before it is checked,
//! so a correct code does not help there; a success clears both counters.
//!
//! Account: after failure n the next attempt waits 2^n s (2, 4, 8 … capped at 15 min), so an
//! attacker holding the password gets at most 9 code guesses in 10 minutes.
//! Address: the first 10 failures are free (typos across a team behind one NAT), then the same.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

use crate::store::auth_throttle;

pub const MAX_DELAY_SECS: i64 = 15 * 60;
const FREE_IP_FAILURES: i32 = 10;

/// The throttle keys of an attempt on `email` from `ip`.
pub fn keys(email: &str, ip: &str) -> Vec<String> {
    vec![
        format!("acct:{}", super::normalize_email(email)),
        format!("ip:{ip}"),
    ]
}

fn delay(key: &str, failures: i32) -> Duration {
    let counted = if key.starts_with("ip:") {
        failures - FREE_IP_FAILURES
    } else {
        failures
    };
    if counted <= 0 {
        return Duration::zero();
    }
    let secs = 1i64 << counted.min(20);
    Duration::seconds(secs.min(MAX_DELAY_SECS))
}

#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    /// A key is inside its delay: the attempt is refused before it is checked.
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: i64 },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// `Throttled` (whole seconds to wait, at least 1) while any key is in its delay.
pub async fn check(
    pool: &PgPool,
    keys: &[String],
    now: DateTime<Utc>,
) -> Result<(), ThrottleError> {
    match auth_throttle::blocked_until(pool, keys, now).await? {
        None => Ok(()),
        Some(until) => {
            let wait = (until - now).num_milliseconds().max(1);
            Err(ThrottleError::Throttled {
                retry_after_secs: (wait + 999) / 1000,
            })
        }
    }
}

pub async fn failure(
    pool: &PgPool,
    keys: &[String],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for key in keys {
        let failures = auth_throttle::add_failure(pool, key, now).await?;
        let wait = delay(key, failures);
        if wait > Duration::zero() {
            auth_throttle::block(pool, key, now + wait).await?;
        }
    }
    Ok(())
}

pub async fn success(pool: &PgPool, keys: &[String]) -> Result<(), sqlx::Error> {
    auth_throttle::reset(pool, keys).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_cap() {
        let acct: Vec<i64> = (1..=12).map(|n| delay("acct:a", n).num_seconds()).collect();
        assert_eq!(&acct[..5], &[2, 4, 8, 16, 32]);
        assert_eq!(acct[11], MAX_DELAY_SECS);
        assert_eq!(delay("ip:1.2.3.4", 10), Duration::zero());
        assert_eq!(delay("ip:1.2.3.4", 11).num_seconds(), 2);
        // At most 9 guesses fit in 10 minutes for one account.
        let mut t = 0;
        let mut guesses = 0;
        while t <= 600 {
            guesses += 1;
            t += delay("acct:a", guesses).num_seconds();
        }
        assert!(guesses <= 10, "{guesses}");
    }
}
