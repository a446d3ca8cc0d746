//! HOTP (RFC 4226) and TOTP (RFC 6238), written on `hmac` + `sha1`/`sha2` so the RFC vectors
//! pin our own code. Logins use SHA-1, 6 digits, 30 s steps, ±1 step of skew, server time only;
//! replay protection (a step is accepted once, never an older one) lives in the caller, which
//! stores the last accepted step atomically.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps accepted on each side of the current one.
pub const SKEW_STEPS: i64 = 1;
/// 160-bit secrets (RFC 4226 R6 recommends 160, requires at least 128).
pub const SECRET_BYTES: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

fn mac(algorithm: Algorithm, key: &[u8], msg: &[u8]) -> Vec<u8> {
    // `new_from_slice` accepts any key length for HMAC, so these never fail.
    match algorithm {
        Algorithm::Sha1 => Hmac::<sha1::Sha1>::new_from_slice(key)
            .map(|m| m.chain_update(msg).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
        Algorithm::Sha256 => Hmac::<sha2::Sha256>::new_from_slice(key)
            .map(|m| m.chain_update(msg).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
        Algorithm::Sha512 => Hmac::<sha2::Sha512>::new_from_slice(key)
            .map(|m| m.chain_update(msg).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
    }
}

/// RFC 4226 §5.3: HMAC, dynamic truncation, modulo 10^digits.
pub fn hotp(algorithm: Algorithm, key: &[u8], counter: u64, digits: u32) -> u32 {
    let h = mac(algorithm, key, &counter.to_be_bytes());
    let Some(last) = h.last() else { return 0 };
    let offset = usize::from(last & 0x0f);
    let binary = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    binary % 10u32.pow(digits)
}

/// RFC 6238 with T0 = 0: the code for Unix time `unix_secs`.
pub fn totp(algorithm: Algorithm, key: &[u8], unix_secs: u64, step: u64, digits: u32) -> u32 {
    hotp(algorithm, key, unix_secs / step, digits)
}

/// The time step of an instant (server time).
pub fn step_at(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP_SECS)
}

/// The 6-digit login code of a step, zero-padded.
pub fn code_for_step(key: &[u8], step: i64) -> String {
    let counter = u64::try_from(step).unwrap_or(0);
    format!("{:06}", hotp(Algorithm::Sha1, key, counter, DIGITS))
}

/// The step in `now ± SKEW_STEPS` whose code is `code`, considering only steps after
/// `after_step` (the last one accepted): a replayed or older code never matches.
pub fn matching_step(
    key: &[u8],
    code: &str,
    now_step: i64,
    after_step: Option<i64>,
) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    (now_step - SKEW_STEPS..=now_step + SKEW_STEPS)
        .filter(|s| after_step.is_none_or(|last| *s > last))
        .find(|s| {
            super::tokens::constant_time_eq(code_for_step(key, *s).as_bytes(), code.as_bytes())
        })
}

pub fn generate_secret() -> Vec<u8> {
    use rand::RngCore;
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (the otpauth `secret` format).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = BASE32.iter().position(|&x| x == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub const ISSUER: &str = "tradeplane";

/// The Key Uri Format authenticator apps read from the QR code.
pub fn otpauth_url(account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        issuer = percent_encode(ISSUER),
        account = percent_encode(account),
        secret = base32_encode(secret),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED20: &[u8] = b"12345678901234567890";

    fn seed(len: usize) -> Vec<u8> {
        SEED20.iter().copied().cycle().take(len).collect()
    }

    /// RFC 6238 Appendix B: all 18 rows (SHA-1/256/512 keys of 20/32/64 bytes, Errata 2866).
    #[test]
    fn rfc6238_vectors() {
        let rows: [(u64, [u32; 3]); 6] = [
            (59, [94287082, 46119246, 90693936]),
            (1111111109, [7081804, 68084774, 25091201]),
            (1111111111, [14050471, 67062674, 99943326]),
            (1234567890, [89005924, 91819424, 93441116]),
            (2000000000, [69279037, 90698825, 38618901]),
            (20000000000, [65353130, 77737706, 47863826]),
        ];
        let algs = [
            (Algorithm::Sha1, seed(20)),
            (Algorithm::Sha256, seed(32)),
            (Algorithm::Sha512, seed(64)),
        ];
        let mut checked = 0;
        for (time, expected) in rows {
            for ((alg, key), want) in algs.iter().zip(expected) {
                assert_eq!(totp(*alg, key, time, 30, 8), want, "{alg:?} at {time}");
                checked += 1;
            }
        }
        assert_eq!(checked, 18);
    }

    /// RFC 4226 Appendix D: counters 0–9.
    #[test]
    fn rfc4226_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.into_iter().enumerate() {
            assert_eq!(
                hotp(Algorithm::Sha1, SEED20, counter as u64, 6),
                want,
                "counter {counter}"
            );
        }
        assert_eq!(code_for_step(SEED20, 7), "162583");
    }

    #[test]
    fn skew_is_one_step_each_side_and_older_steps_never_match() {
        let key = generate_secret();
        let now = 1_000_000;
        let accepted: Vec<bool> = (-2..=2)
            .map(|d| matching_step(&key, &code_for_step(&key, now + d), now, None).is_some())
            .collect();
        assert_eq!(accepted, [false, true, true, true, false]);
        let code = code_for_step(&key, now);
        assert_eq!(matching_step(&key, &code, now, Some(now - 1)), Some(now));
        assert_eq!(matching_step(&key, &code, now, Some(now)), None);
        let older = code_for_step(&key, now - 1);
        assert_eq!(matching_step(&key, &older, now, Some(now)), None);
        assert_eq!(matching_step(&key, "12345", now, None), None);
        assert_eq!(matching_step(&key, "abcdef", now, None), None);
    }

    #[test]
    fn base32_round_trips_and_urls_carry_the_secret() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        let key = generate_secret();
        assert_eq!(key.len(), 20);
        assert_eq!(base32_decode(&base32_encode(&key)).unwrap(), key);
        let url = otpauth_url("a+b@example.com", &key);
        assert!(url.starts_with("otpauth://totp/tradeplane:a%2Bb%40example.com?secret="));
        assert!(url.contains(&base32_encode(&key)));
    }
}
