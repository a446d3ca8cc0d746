//! The values the configuration reads: secrets, durations, address blocks, flags, money, and
//! the key that encrypts 2FA secrets at rest. Each parser says what it expected.

use std::{fmt, net::IpAddr, str::FromStr};

use base64::{Engine, engine::general_purpose::STANDARD};

/// A secret string: `Debug`/`Display` print a placeholder; `expose()` is the one way in.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `0`, or a whole number with a unit: `90s`, `30m`, `24h`, `7d`.
pub fn parse_duration(raw: &str) -> Result<chrono::Duration, String> {
    let raw = raw.trim();
    if raw == "0" {
        return Ok(chrono::Duration::zero());
    }
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: i64 = number
        .parse()
        .ok()
        .filter(|n| *n <= 3650 * 86_400)
        .ok_or_else(|| format!("expected a duration such as 30m, 24h or 7d, got `{raw}`"))?;
    match unit {
        "s" => Ok(chrono::Duration::seconds(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(format!(
            "expected a duration such as 30m, 24h or 7d (units s, m, h, d), got `{raw}`"
        )),
    }
}

/// An address block (`10.0.0.0/8`, `2001:db8::/32`, or one address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        let (addr, prefix) = raw.split_once('/').unwrap_or((raw, ""));
        let addr: IpAddr = addr
            .parse::<IpAddr>()
            .map_err(|_| format!("`{raw}` is not an address or CIDR block"))?
            .to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{raw}`: the prefix length must be 0–{max}"))?
        };
        Ok(Cidr { addr, prefix })
    }
}

/// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`.
pub(super) fn parse_flag(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!("expected 1 or 0, got `{other}`")),
    }
}

pub(super) fn parse_commission(raw: &str) -> Result<rust_decimal::Decimal, String> {
    raw.trim()
        .parse::<rust_decimal::Decimal>()
        .ok()
        .filter(|d| !d.is_sign_negative())
        .ok_or_else(|| format!("expected a non-negative USD amount such as 2.25, got `{raw}`"))
}

/// The state of `APP_ENC_KEY` (32 bytes, base64 or hex), which encrypts 2FA secrets at rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncKey {
    Missing,
    /// Set but unusable; the reason never contains the value.
    Invalid(&'static str),
    Valid(EncKeyBytes),
}

/// The 32 key bytes; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct EncKeyBytes(pub [u8; 32]);

impl fmt::Debug for EncKeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncKeyBytes(***)")
    }
}

impl EncKey {
    pub fn parse(raw: Option<&str>) -> Self {
        let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return EncKey::Missing;
        };
        let bytes = if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(raw).ok()
        } else {
            STANDARD.decode(raw).ok()
        };
        match bytes.map(<[u8; 32]>::try_from) {
            Some(Ok(key)) => EncKey::Valid(EncKeyBytes(key)),
            Some(Err(_)) => EncKey::Invalid("must decode to exactly 32 bytes"),
            None => EncKey::Invalid("must be 32 bytes as base64 (44 chars) or hex (64 chars)"),
        }
    }
}
