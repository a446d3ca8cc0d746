//! Password hashing: argon2id (the crate's defaults: m = 19 MiB, t = 2, p = 1), always off the
//! async runtime and with a bounded number running at once (each one holds 19 MiB).

use std::sync::LazyLock;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// At most this many hashes run at once; the rest queue (bounds memory under a burst).
static SLOTS: Semaphore = Semaphore::const_new(4);

/// A hash of a random password, verified when the user does not exist so that an unknown
/// email costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let random = super::tokens::random_token(24);
    hash_blocking(&random).unwrap_or_default()
});

/// Computes the dummy hash now, so the first unknown-email login is not slower than the rest.
pub async fn warm_up() {
    let _ = tokio::task::spawn_blocking(|| LazyLock::force(&DUMMY_HASH).len()).await;
}

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed: {0}")]
    Task(String),
}

fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Checks length rules (NIST 800-63B: length, not composition).
pub fn validate(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!("must be at most {MAX_PASSWORD_CHARS} characters"));
    }
    Ok(())
}

pub async fn hash(password: &str) -> Result<String, PasswordError> {
    let _slot = SLOTS
        .acquire()
        .await
        .map_err(|e| PasswordError::Task(e.to_string()))?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| PasswordError::Task(e.to_string()))?
}

/// Verifies `password` against `phc`, or against the dummy hash when `phc` is `None` (unknown
/// user): the answer is then always false, after the same amount of work.
pub async fn verify(password: &str, phc: Option<&str>) -> Result<bool, PasswordError> {
    let _slot = SLOTS
        .acquire()
        .await
        .map_err(|e| PasswordError::Task(e.to_string()))?;
    let password = password.to_owned();
    let known = phc.is_some();
    let phc = phc.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let target = phc.as_deref().unwrap_or(DUMMY_HASH.as_str());
        verify_blocking(&password, target) && known
    })
    .await
    .map_err(|e| PasswordError::Task(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let h = hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(&h)).await.unwrap());
        assert!(!verify("wrong horse battery", Some(&h)).await.unwrap());
        assert!(!verify("correct horse battery", None).await.unwrap());
    }

    #[test]
    fn length_rules() {
        assert!(validate("short").is_err());
        assert!(validate("twelve chars").is_ok());
        assert!(validate(&"x".repeat(300)).is_err());
    }
}
