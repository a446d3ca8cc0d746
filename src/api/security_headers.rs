//! Security headers on every response (API, API docs, web app, errors from any layer):
//! a Content-Security-Policy per surface, `frame-ancestors 'none'` everywhere, nosniff, no
//! referrer, no powerful browser features, same-origin isolation, and HSTS only when the client
//! came over https (a trusted proxy's `X-Forwarded-Proto`; over plain http HSTS is meaningless
//! and would be ignored anyway).
//!
//! CSPs: the web app loads only its own bundle (no inline script or style elements; React's
//! `style` props go through the CSSOM, which CSP allows), the QR code is a `data:` image;
//! Swagger UI needs inline styles; JSON answers need nothing at all.

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderName, HeaderValue, header},
    middleware::Next,
    response::Response,
};

use super::client_addr::ClientHttps;

pub const WEB_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

fn csp_for(path: &str) -> &'static str {
    if path.starts_with("/api/docs") {
        DOCS_CSP
    } else if path.starts_with("/api/")
        || matches!(path, "/api" | "/healthz" | "/readyz" | "/metrics")
    {
        API_CSP
    } else {
        WEB_CSP
    }
}

/// The headers every answer carries, with `csp` for its surface (also used by the answers the
/// connection layer writes itself, which never reach this middleware).
pub fn insert_fixed(headers: &mut HeaderMap, csp: &'static str) {
    let fixed: [(HeaderName, &'static str); 7] = [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

pub async fn set(request: Request, next: Next) -> Response {
    let csp = csp_for(request.uri().path());
    let https = request
        .extensions()
        .get::<ClientHttps>()
        .is_some_and(|h| h.0);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    insert_fixed(headers, csp);
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}
