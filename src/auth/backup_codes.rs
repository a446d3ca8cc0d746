//! Backup (recovery) codes: 10 per set, each `XXXX-XXXX-XXXX-XXXX` from a 32-symbol alphabet.
//! The first 4 symbols are a lookup id stored in clear (so an attempt costs one argon2
//! verification, not ten); the other 12 (60 bits, CSPRNG) are stored argon2id-hashed.
//! A used code is removed from the user's row atomically (see store::users).

use std::collections::BTreeMap;

use rand::Rng;

use super::password::{self, PasswordError};

pub const COUNT: usize = 10;
const ID_LEN: usize = 4;
const SECRET_LEN: usize = 12;
/// Crockford base32: no I, L, O, U, so codes read aloud or typed are unambiguous.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Bits of secret per code (the lookup id not counted).
pub const SECRET_BITS: usize = SECRET_LEN * 5;

/// A fresh set: the codes to show once, and the map to store (`id → argon2 PHC`).
pub async fn generate() -> Result<(Vec<String>, BTreeMap<String, String>), PasswordError> {
    let mut shown = Vec::with_capacity(COUNT);
    let mut stored = BTreeMap::new();
    while stored.len() < COUNT {
        let raw: String = {
            let mut rng = rand::rng();
            (0..ID_LEN + SECRET_LEN)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect()
        };
        let (id, secret) = raw.split_at(ID_LEN);
        if stored.contains_key(id) {
            continue;
        }
        stored.insert(id.to_owned(), password::hash(secret).await?);
        shown.push(format!(
            "{}-{}-{}-{}",
            &raw[0..4],
            &raw[4..8],
            &raw[8..12],
            &raw[12..16]
        ));
    }
    Ok((shown, stored))
}

/// Splits a typed code into `(id, secret)`, forgiving case, dashes, spaces and the usual
/// look-alikes; `None` if it cannot be a code.
pub fn parse(input: &str) -> Option<(String, String)> {
    let normalized: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    if normalized.len() != ID_LEN + SECRET_LEN || !normalized.bytes().all(|b| ALPHABET.contains(&b))
    {
        return None;
    }
    let (id, secret) = normalized.split_at(ID_LEN);
    Some((id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sets_are_distinct_hashed_and_parse_back() {
        const { assert!(SECRET_BITS >= 50) };
        let (shown, stored) = generate().await.unwrap();
        assert_eq!(shown.len(), COUNT);
        assert_eq!(stored.len(), COUNT);
        for code in &shown {
            let (id, secret) = parse(code).unwrap();
            let phc = &stored[&id];
            assert!(phc.starts_with("$argon2id$"));
            assert!(!phc.contains(&secret));
            assert!(password::verify(&secret, Some(phc)).await.unwrap());
            assert_eq!(
                parse(&code.to_lowercase().replace('-', " ")),
                Some((id, secret))
            );
        }
        assert_eq!(parse("short"), None);
        assert_eq!(parse("UUUU-UUUU-UUUU-UUUU"), None);
    }
}
