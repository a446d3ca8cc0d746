//! Which `Host` may create the first admin. Before any user exists, `POST /api/auth/register`
//! needs no credentials, so a page on any site the operator's browser opens could create the
//! desk's admin through DNS rebinding (its own name resolved to this server's loopback
//! address: the browser then sends `Host: that-name`, and `Origin` matches it). A rebinding
//! needs a DNS name the attacker controls, so an IP address or `localhost` is safe; any other
//! name must be listed (`TRADEPLANE_ALLOWED_HOSTS`).

/// The host part of a `Host` header value (port and IPv6 brackets removed), lower case.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether a request with `Host: host` may create the first admin: an IP address,
/// `localhost`, or a name in `allowed` (host names, ports ignored, case-insensitive).
pub fn may_register_first_admin(host: &str, allowed: &[String]) -> bool {
    let name = host_name(host);
    if name.is_empty() {
        return false;
    }
    name.parse::<std::net::IpAddr>().is_ok()
        || name == "localhost"
        || allowed.iter().any(|a| host_name(a) == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_localhost_may_register_other_names_only_when_listed() {
        let none: &[String] = &[];
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:8080",
            "10.1.2.3:443",
            "localhost:8080",
            "LOCALHOST",
        ] {
            assert!(may_register_first_admin(ok, none), "{ok}");
        }
        for refused in [
            "evil.example:8080",
            "evil.example",
            "",
            ":8080",
            "localhost.evil.example",
        ] {
            assert!(!may_register_first_admin(refused, none), "{refused}");
        }
        let listed = vec!["Desk.Example.com".to_owned()];
        assert!(may_register_first_admin("desk.example.com:8443", &listed));
        assert!(may_register_first_admin("desk.example.com.", &listed));
        assert!(!may_register_first_admin("evil.example", &listed));
    }
}
