//! Cross-cutting request handling: trace ids, the envelope safety net, metrics, panics.

use std::{any::Any, time::Instant};

use axum::{
    body::Body,
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tracing::Instrument;

use super::envelope::ApiError;
use crate::{clock::Clock, error_code::ErrorCode, observability::otlp, trace::TraceId};

pub const TRACE_HEADER: &str = "x-trace-id";

/// Outermost layer: picks the trace id (from `traceparent` or new), runs the request inside a
/// `request` span carrying it, and returns it in `x-trace-id`.
pub async fn trace_context(request: Request, next: Next) -> Response {
    let trace_id = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceId::from_traceparent)
        .unwrap_or_else(TraceId::generate);
    let span = tracing::info_span!(
        "request",
        trace_id = %trace_id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = Instant::now();
    let header_value = HeaderValue::from_str(trace_id.as_str()).ok();
    let mut response = trace_id
        .scope(
            async move {
                let response = next.run(request).await;
                tracing::info!(
                    status = response.status().as_u16(),
                    latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "request completed"
                );
                response
            }
            .instrument(span),
        )
        .await;
    if let Some(value) = header_value {
        response.headers_mut().insert(TRACE_HEADER, value);
    }
    response
}

/// Counts requests and records their latency by route template (never the raw path, which
/// would explode label cardinality), method and status.
pub async fn record_metrics(State(clock): State<Clock>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let started_at = clock.now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    if otlp::enabled()
        && let Some(trace_id) = TraceId::try_current()
    {
        otlp::record(otlp::Span {
            trace_id: trace_id.as_str().to_owned(),
            name: format!("{method} {route}"),
            kind: otlp::SpanKind::Server,
            start: started_at,
            end: started_at + chrono::Duration::from_std(started.elapsed()).unwrap_or_default(),
            error: status >= 500,
            attributes: vec![
                ("http.request.method", otlp::Attr::Str(method.clone())),
                ("http.route", otlp::Attr::Str(route.clone())),
                (
                    "http.response.status_code",
                    otlp::Attr::Int(i64::from(status)),
                ),
            ],
        });
    }
    let labels = [
        ("method", method),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Safety net under every handler: an error status that did not come out as a JSON envelope
/// (axum's 405, a body-limit 413, a layer's timeout…) is turned into one, keeping its headers.
pub async fn ensure_envelope(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::RouteNotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::BAD_REQUEST => ErrorCode::MalformedJson,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::ValidationFailed,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::NOT_IMPLEMENTED => ErrorCode::NotImplemented,
        _ => ErrorCode::Internal,
    };
    let (mut parts, _) = response.into_parts();
    let mut enveloped = ApiError::new(code).into_response();
    // Keep meaningful headers (Allow, Retry-After…) but let the new body set its own framing.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    for (name, value) in parts.headers.iter() {
        enveloped.headers_mut().insert(name.clone(), value.clone());
    }
    *enveloped.status_mut() = code.status();
    enveloped
}

/// Turns a handler panic into a 500 `INTERNAL` envelope; the process and other requests live on.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    tracing::error!(panic = detail, "handler panicked");
    ApiError::new(ErrorCode::Internal).into_response()
}
