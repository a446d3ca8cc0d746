//! The client address of a request: the direct peer, unless that peer is one of
//! `TRADEPLANE_TRUSTED_PROXIES`; then `X-Forwarded-For` is read from the right, skipping
//! trusted hops, and the first untrusted address is the client. Entries left of it were written
//! by the client and are never believed; a garbled entry stops the walk at the last trusted hop.
//! Throttling, audit and session rows all use this one address (`auth::extract::ClientIp`).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::HeaderMap,
    middleware::Next,
    response::Response,
};

use crate::config::Cidr;

/// The resolved client address, set on every request that came through a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// True when the client reached us over https: a trusted proxy said so in
/// `X-Forwarded-Proto` (tradeplane itself serves plain http). Drives HSTS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHttps(pub bool);

pub async fn resolve(
    State(trusted): State<Arc<Vec<Cidr>>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let peer = peer.ip();
        let addr = client_addr(peer, request.headers(), &trusted);
        let https = forwarded_https(peer, request.headers(), &trusted);
        request.extensions_mut().insert(ClientAddr(addr));
        request.extensions_mut().insert(ClientHttps(https));
    }
    next.run(request).await
}

pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// The last `X-Forwarded-Proto` value (the nearest proxy's) is `https`, from a trusted peer.
pub fn forwarded_https(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> bool {
    let peer = peer.to_canonical();
    trusted.iter().any(|net| net.contains(peer))
        && headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// `203.0.113.7`, `2001:db8::1`, `203.0.113.7:4711` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(peer: &str, xff: &[&str], trusted: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for v in xff {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        let trusted: Vec<Cidr> = trusted.iter().map(|c| c.parse().unwrap()).collect();
        client_addr(peer.parse().unwrap(), &headers, &trusted).to_string()
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_peers() {
        assert_eq!(
            resolve("198.51.100.1", &["203.0.113.7"], &[]),
            "198.51.100.1"
        );
        assert_eq!(
            resolve("198.51.100.1", &["203.0.113.7"], &["10.0.0.0/8"]),
            "198.51.100.1",
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            resolve("10.0.0.2", &["203.0.113.7"], &["10.0.0.0/8"]),
            "203.0.113.7"
        );
        // The client forged a left entry; the proxy appended the real one.
        assert_eq!(
            resolve(
                "10.0.0.2",
                &["1.2.3.4, 203.0.113.7, 10.0.0.9"],
                &["10.0.0.0/8"]
            ),
            "203.0.113.7"
        );
        assert_eq!(
            resolve(
                "10.0.0.2",
                &["1.2.3.4", "203.0.113.7:5000"],
                &["10.0.0.0/8"]
            ),
            "203.0.113.7",
            "several header lines, a port"
        );
        assert_eq!(
            resolve("10.0.0.2", &["garbage, 10.0.0.7"], &["10.0.0.0/8"]),
            "10.0.0.7",
            "a garbled hop stops the walk"
        );
        assert_eq!(resolve("10.0.0.2", &[], &["10.0.0.0/8"]), "10.0.0.2");
        assert_eq!(
            resolve("::ffff:10.0.0.2", &["[2001:db8::1]:80"], &["10.0.0.0/8"]),
            "2001:db8::1"
        );
    }
}
