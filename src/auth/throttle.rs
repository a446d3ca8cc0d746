//! Throttling of password and second-factor attempts. Each attempt is *admitted* before its
//! credential is checked, in one transaction that locks every key it touches, refuses if any is
//! inside its delay, and otherwise counts the attempt as a failure right away. So the check and
//! the count are one atomic step: N concurrent attempts on a key are checked exactly as N
//! sequential ones would be. A success settles the attempt afterwards ([`Attempt::succeeded`]);
//! an attempt that turned out not to be a guess is refunded ([`Attempt::refund`]); an attempt
//! dropped mid-way (crash, client gone) stays a failure.
//!
//! Keys and their delays after the n-th consecutive failure (no permanent lockout):
//! - `pair:<address>|<email>`: 2^n s (2, 4, 8 … capped at 15 min). Always applies.
//! - `acct:<email>` (across addresses): the same, so a password holder gets at most 9 code
//!   guesses in 10 minutes.
//! - `ip:<address>` (across accounts): 9 free failures, then 2, 4, 8 … s: a burst from one
//!   address gets exactly 10 checks (typos across a team behind one NAT stay free).
//! - `global`: a budget of failed logins per minute over all addresses (`Policy::global_budget`),
//!   then 2, 4, 8 … s until the minute ends: distributed guessing is slowed to about
//!   budget + 5 checks per minute.
//!
//! A *known* pair (a full sign-in from that address for that account in the last 30 days) is
//! gated by its own pair key only: nobody else's failures — on the account, the address or
//! globally — can lock out or slow down a user who signs in from where they did before.
//! Everything else pays all four keys.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use sqlx::PgPool;

use crate::store::auth_throttle::{self, Row};

pub const MAX_DELAY_SECS: i64 = 15 * 60;
/// Failures from one address (across accounts) admitted before delays start, burst included.
pub const FREE_ADDRESS_FAILURES: i32 = 10;
/// How long a full sign-in makes its (account, address) pair known.
pub const KNOWN_FOR_DAYS: i64 = 30;
/// The global budget's counting window.
pub const GLOBAL_WINDOW_SECS: i64 = 60;
pub const GLOBAL_KEY: &str = "global";

/// Tunables (from `AuthConfig`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Failed attempts per minute from unknown pairs, over all addresses, before delays start.
    pub global_budget: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { global_budget: 60 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Pair,
    Account,
    Address,
    Global,
}

fn kind(key: &str) -> Kind {
    if key == GLOBAL_KEY {
        Kind::Global
    } else if key.starts_with("pair:") {
        Kind::Pair
    } else if key.starts_with("ip:") {
        Kind::Address
    } else {
        Kind::Account
    }
}

/// The throttle keys of an attempt on `email` from `ip` (the address goes first in the pair
/// key: it never contains `|`, so no two pairs share a key).
pub fn keys(email: &str, ip: &str) -> Vec<String> {
    let email = super::normalize_email(email);
    vec![
        format!("pair:{ip}|{email}"),
        format!("acct:{email}"),
        format!("ip:{ip}"),
        GLOBAL_KEY.to_owned(),
    ]
}

fn doubling(exponent: i32) -> Duration {
    if exponent <= 0 {
        return Duration::zero();
    }
    Duration::seconds((1i64 << exponent.min(20)).min(MAX_DELAY_SECS))
}

/// The wait imposed once a key has counted `failures` (this attempt included).
fn delay(kind: Kind, failures: i32, policy: Policy) -> Duration {
    match kind {
        Kind::Pair | Kind::Account => doubling(failures),
        Kind::Address => doubling(failures - FREE_ADDRESS_FAILURES + 1),
        Kind::Global => {
            let budget = i32::try_from(policy.global_budget).unwrap_or(i32::MAX);
            doubling(failures.saturating_sub(budget).saturating_add(1))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    /// A key is inside its delay: the attempt is refused before it is checked.
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: i64 },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What admission changed on one key, so the attempt can be settled or refunded.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reserved {
    key: String,
    blocked_before: DateTime<Utc>,
    blocked_set: DateTime<Utc>,
}

/// An admitted attempt, already counted as a failure on every key it paid. Dropping it keeps
/// it a failure.
#[must_use = "an admitted attempt is a failure unless settled with succeeded() or refund()"]
#[derive(Debug)]
pub struct Attempt {
    keys: Vec<String>,
    reserved: Vec<Reserved>,
}

/// Admits an attempt on `email` from `ip`, or refuses it unchecked (`Throttled`, whole seconds
/// to wait, at least 1). One transaction: lock the keys, decide, count.
pub async fn admit(
    pool: &PgPool,
    policy: Policy,
    email: &str,
    ip: &str,
    now: DateTime<Utc>,
) -> Result<Attempt, ThrottleError> {
    let keys = keys(email, ip);
    let now = stored(now);
    let mut tx = pool.begin().await?;
    let mut rows = auth_throttle::lock(&mut tx, &keys, now).await?;
    let reserved = decide(&mut rows, policy, now)
        .map_err(|retry_after_secs| ThrottleError::Throttled { retry_after_secs })?;
    auth_throttle::write(&mut tx, &rows, now).await?;
    tx.commit().await?;
    Ok(Attempt { keys, reserved })
}

/// `now` at Postgres' microsecond precision, so a time computed here and one read back from
/// the table compare equal (a refund restores a delay only if the row still holds the one it set).
fn stored(now: DateTime<Utc>) -> DateTime<Utc> {
    now.trunc_subsecs(6)
}

fn is_known(rows: &[Row], now: DateTime<Utc>) -> bool {
    rows.iter()
        .filter(|r| kind(&r.key) == Kind::Pair)
        .filter_map(|r| r.last_success_at)
        .any(|at| now - at < Duration::days(KNOWN_FOR_DAYS))
}

/// The admission decision on locked rows: `Err(seconds to wait)`, or the rows counted.
fn decide(rows: &mut [Row], policy: Policy, now: DateTime<Utc>) -> Result<Vec<Reserved>, i64> {
    let known = is_known(rows, now);
    let applies = |row: &Row| kind(&row.key) == Kind::Pair || !known;
    let window = Duration::seconds(GLOBAL_WINDOW_SECS);
    for row in rows
        .iter_mut()
        .filter(|r| kind(&r.key) == Kind::Global && !known)
    {
        if row.window_start.is_none_or(|start| now >= start + window) {
            row.failures = 0;
            row.window_start = Some(now);
            row.blocked_until = row.blocked_until.min(now);
        }
    }
    let blocked = rows
        .iter()
        .filter(|r| applies(r) && r.blocked_until > now)
        .map(|r| r.blocked_until)
        .max();
    if let Some(until) = blocked {
        let wait = (until - now).num_milliseconds().max(1);
        return Err((wait + 999) / 1000);
    }
    let mut reserved = Vec::new();
    for row in rows.iter_mut().filter(|r| applies(r)) {
        let kind = kind(&row.key);
        let before = row.blocked_until;
        row.failures = row.failures.saturating_add(1);
        let wait = delay(kind, row.failures, policy);
        if wait > Duration::zero() {
            let mut until = now + wait;
            if let (Kind::Global, Some(start)) = (kind, row.window_start) {
                until = until.min(start + window);
            }
            row.blocked_until = row.blocked_until.max(until);
        }
        reserved.push(Reserved {
            key: row.key.clone(),
            blocked_before: before,
            blocked_set: row.blocked_until,
        });
    }
    Ok(reserved)
}

/// Takes one admitted attempt back off a row, unless the row moved on since.
fn refund_row(row: &mut Row, r: &Reserved) {
    row.failures = (row.failures - 1).max(0);
    if row.blocked_until == r.blocked_set {
        row.blocked_until = r.blocked_before;
    }
}

impl Attempt {
    /// The attempt fully authenticated: its pair and (if it paid it) its account start over and
    /// the pair becomes known; the address and global counters only take this attempt back.
    pub async fn succeeded(self, pool: &PgPool, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        self.settle(pool, now, true).await
    }

    /// The attempt was not a guess after all (the password was right but a second factor is
    /// still due; or it was refused before any credential was checked): undo its count.
    pub async fn refund(self, pool: &PgPool, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        self.settle(pool, now, false).await
    }

    /// A wrong credential: the failure was counted at admission.
    pub fn failed(self) {}

    async fn settle(
        self,
        pool: &PgPool,
        now: DateTime<Utc>,
        success: bool,
    ) -> Result<(), sqlx::Error> {
        let now = stored(now);
        let mut tx = pool.begin().await?;
        let mut rows = auth_throttle::lock(&mut tx, &self.keys, now).await?;
        for row in rows.iter_mut() {
            let kind = kind(&row.key);
            let reserved = self.reserved.iter().find(|r| r.key == row.key);
            match (success, kind, reserved) {
                (true, Kind::Pair, _) => {
                    row.failures = 0;
                    row.blocked_until = row.blocked_until.min(now);
                    row.last_success_at = Some(now);
                }
                (true, Kind::Account, Some(_)) => {
                    row.failures = 0;
                    row.blocked_until = row.blocked_until.min(now);
                }
                (_, _, Some(r)) => refund_row(row, r),
                (_, _, None) => {}
            }
        }
        auth_throttle::write(&mut tx, &rows, now).await?;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn rows(email: &str, ip: &str) -> Vec<Row> {
        let mut rows: Vec<Row> = keys(email, ip)
            .into_iter()
            .map(|key| Row {
                key,
                failures: 0,
                blocked_until: t(0),
                window_start: None,
                last_success_at: None,
            })
            .collect();
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        rows
    }

    #[test]
    fn delays_grow_and_cap() {
        let p = Policy::default();
        let acct: Vec<i64> = (1..=12)
            .map(|n| delay(Kind::Account, n, p).num_seconds())
            .collect();
        assert_eq!(&acct[..5], &[2, 4, 8, 16, 32]);
        assert_eq!(acct[11], MAX_DELAY_SECS);
        assert_eq!(delay(Kind::Address, 9, p), Duration::zero());
        assert_eq!(delay(Kind::Address, 10, p).num_seconds(), 2);
        assert_eq!(delay(Kind::Global, 59, p), Duration::zero());
        assert_eq!(delay(Kind::Global, 60, p).num_seconds(), 2);
        // At most 9 guesses fit in 10 minutes for one account.
        let mut at = 0;
        let mut guesses = 0;
        while at <= 600 {
            guesses += 1;
            at += delay(Kind::Account, guesses, p).num_seconds();
        }
        assert!(guesses <= 10, "{guesses}");
    }

    #[test]
    fn a_burst_on_one_key_admits_exactly_the_free_attempts() {
        let p = Policy::default();
        let mut r = rows("a@x.io", "1.1.1.1");
        assert!(decide(&mut r, p, t(1)).is_ok());
        assert_eq!(decide(&mut r, p, t(1)), Err(2));
        assert!(decide(&mut r, p, t(3)).is_ok());
        assert_eq!(decide(&mut r, p, t(3)), Err(4));
    }

    #[test]
    fn a_known_pair_ignores_the_other_keys_and_a_refund_restores_the_row() {
        let p = Policy::default();
        let mut r = rows("a@x.io", "1.1.1.1");
        for row in r.iter_mut() {
            if kind(&row.key) == Kind::Account {
                row.failures = 12;
                row.blocked_until = t(900);
            }
        }
        assert_eq!(decide(&mut r.clone(), p, t(1)), Err(899));
        r.iter_mut()
            .filter(|row| kind(&row.key) == Kind::Pair)
            .for_each(|row| row.last_success_at = Some(t(-86_400)));
        let before = r.clone();
        let reserved = decide(&mut r, p, t(1)).unwrap();
        assert_eq!(reserved.len(), 1, "only the pair key is paid");
        let pair = r
            .iter_mut()
            .find(|row| kind(&row.key) == Kind::Pair)
            .unwrap();
        refund_row(pair, &reserved[0]);
        assert_eq!(r, before);
    }

    #[test]
    fn the_global_budget_resets_each_window() {
        let p = Policy { global_budget: 3 };
        let mut global: Option<Row> = None;
        let mut admitted = 0;
        for i in 0..10 {
            // Distinct accounts and addresses share the one global row.
            let mut r = rows(&format!("u{i}@x.io"), &format!("10.0.0.{i}"));
            let at = r.iter().position(|row| row.key == GLOBAL_KEY).unwrap();
            if let Some(shared) = global.take() {
                r[at] = shared;
            }
            if decide(&mut r, p, t(5)).is_ok() {
                admitted += 1;
            }
            global = Some(r[at].clone());
        }
        assert_eq!(admitted, 3);
        let global = global.unwrap();
        assert_eq!(global.blocked_until, t(7));
        let mut r = vec![global];
        assert!(decide(&mut r, p, t(65)).is_ok(), "a new window");
        assert_eq!(r[0].failures, 1);
    }
}
