//! The session and CSRF cookies. Secure mode (default): `__Host-` prefix, `Secure`, `Path=/`,
//! no `Domain`, `SameSite=Strict`; the session cookie is `HttpOnly`, the CSRF cookie is
//! readable by the web app (double submit). `TRADEPLANE_INSECURE_COOKIES=1` drops `Secure` and
//! with it the `__Host-` prefix, which browsers reject without `Secure`.

use axum::http::{HeaderMap, HeaderValue, header};
use chrono::Duration;

use crate::config::AuthConfig;

pub fn session_name(cfg: &AuthConfig) -> &'static str {
    if cfg.insecure_cookies {
        "tp_session"
    } else {
        "__Host-tp_session"
    }
}

pub fn csrf_name(cfg: &AuthConfig) -> &'static str {
    if cfg.insecure_cookies {
        "tp_csrf"
    } else {
        "__Host-tp_csrf"
    }
}

pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name` in the request, if any.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn build(cfg: &AuthConfig, name: &str, value: &str, http_only: bool, max_age: i64) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/; SameSite=Strict; Max-Age={max_age}");
    if http_only {
        cookie.push_str("; HttpOnly");
    }
    if !cfg.insecure_cookies {
        cookie.push_str("; Secure");
    }
    // Values are base64url, so this cannot fail; an empty header is the safe fallback.
    HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static(""))
}

/// `Set-Cookie` values for a new or rotated session.
pub fn issue(cfg: &AuthConfig, session: &str, csrf: &str, lifetime: Duration) -> [HeaderValue; 2] {
    let max_age = lifetime.num_seconds();
    [
        build(cfg, session_name(cfg), session, true, max_age),
        build(cfg, csrf_name(cfg), csrf, false, max_age),
    ]
}

/// `Set-Cookie` values that delete both cookies.
pub fn clear(cfg: &AuthConfig) -> [HeaderValue; 2] {
    [
        build(cfg, session_name(cfg), "", true, 0),
        build(cfg, csrf_name(cfg), "", false, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_by_default() {
        let cfg = AuthConfig::default();
        let [s, c] = issue(&cfg, "abc", "def", Duration::hours(12));
        let s = s.to_str().unwrap();
        assert!(s.starts_with("__Host-tp_session=abc; Path=/; SameSite=Strict"));
        assert!(s.contains("HttpOnly") && s.contains("Secure") && !s.contains("Domain"));
        let c = c.to_str().unwrap();
        assert!(c.starts_with("__Host-tp_csrf=def") && !c.contains("HttpOnly"));
        let insecure = AuthConfig {
            insecure_cookies: true,
            ..AuthConfig::default()
        };
        let [s, _] = issue(&insecure, "abc", "def", Duration::hours(1));
        assert!(!s.to_str().unwrap().contains("Secure"));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tp_session=xyz"),
        );
        assert_eq!(read(&headers, "tp_session"), Some("xyz"));
        assert_eq!(read(&headers, "b"), None);
    }
}
