//! The answers hyper writes on its own, before any request reaches the app: a request head it
//! cannot parse (a control byte in a header value, a bad method or version) gets a bare `400`,
//! oversized headers a bare `431`, an overlong URI a bare `414`, all without a body. The
//! connection layer (`server::Watched`) swaps such an answer for the same status as an error
//! envelope with a trace id, the security headers and `Connection: close` (hyper closes the
//! connection after a head error anyway).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};

use super::{
    envelope::{ErrorBody, ErrorEnvelope},
    middleware::TRACE_HEADER,
    security_headers,
};
use crate::{error_code::ErrorCode, trace::TraceId};

/// Whether `bytes` start an answer hyper wrote itself: a status line of one of its automatic
/// statuses, and a head without the trace header every answer of the app carries.
pub fn automatic_status(bytes: &[u8]) -> Option<StatusCode> {
    let rest = bytes.strip_prefix(b"HTTP/1.1 ")?;
    let code = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    let status = StatusCode::from_u16(code).ok()?;
    code_for(status)?;
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    (!head.contains(&format!("\r\n{TRACE_HEADER}:"))).then_some(status)
}

fn code_for(status: StatusCode) -> Option<ErrorCode> {
    match status {
        StatusCode::BAD_REQUEST => Some(ErrorCode::MalformedRequest),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Some(ErrorCode::HeadersTooLarge),
        StatusCode::URI_TOO_LONG => Some(ErrorCode::UriTooLong),
        _ => None,
    }
}

/// The enveloped answer (status line, headers and body) for an automatic `status`.
pub fn envelope_bytes(status: StatusCode) -> Vec<u8> {
    let code = code_for(status).unwrap_or(ErrorCode::MalformedRequest);
    let trace_id = TraceId::generate();
    tracing::info!(code = %code, trace_id = %trace_id, "request head refused");
    let body = serde_json::to_vec(&ErrorEnvelope {
        success: false,
        trace_id: trace_id.to_string(),
        error: ErrorBody {
            code,
            message: code.message().to_owned(),
            suggested_fix: code.suggested_fix().to_owned(),
            details: None,
        },
    })
    .unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Ok(value) = HeaderValue::from_str(trace_id.as_str()) {
        headers.insert(TRACE_HEADER, value);
    }
    security_headers::insert_fixed(&mut headers, security_headers::API_CSP);
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in &headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_own_answers_are_recognised_and_the_apps_are_not() {
        let hyper = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(automatic_status(hyper), Some(StatusCode::BAD_REQUEST));
        let too_large =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            automatic_status(too_large),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        let app = b"HTTP/1.1 400 Bad Request\r\nx-trace-id: abc\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(automatic_status(app), None);
        assert_eq!(automatic_status(b"HTTP/1.1 200 OK\r\n\r\n"), None);
        assert_eq!(automatic_status(b"{\"success\":"), None);
    }

    #[test]
    fn the_replacement_is_an_envelope_with_a_trace_id() {
        let out = String::from_utf8(envelope_bytes(StatusCode::BAD_REQUEST)).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(head.contains("\r\nconnection: close"));
        assert!(head.contains("\r\nx-content-type-options: nosniff"));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "MALFORMED_REQUEST");
        let trace = v["trace_id"].as_str().unwrap();
        assert_eq!(trace.len(), 32);
        assert!(head.contains(&format!("\r\nx-trace-id: {trace}")));
        assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())));
    }
}
