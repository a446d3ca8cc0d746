//! Optional OTLP export of request and evaluation spans (issue 20 part 8), off unless
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set.
//!
//! OTLP/HTTP with the JSON encoding (`POST {endpoint}/v1/traces`,
//! `Content-Type: application/json`): any OpenTelemetry Collector, Jaeger or Tempo accepts it,
//! and it needs no protobuf or gRPC stack. Trace ids are the request's `x-trace-id` and the
//! evaluation's decision/no-trade trace id, so a span found in the tracing backend leads
//! straight to its trace. The spans come from `observability::otlp`'s queue.
//!
//! One task batches the queue (512 spans or 1 s) and posts each batch once; a failed post is
//! counted and logged by status only, never retried in a loop, and never with the headers
//! (they usually carry a credential). The collector is our operator's, not a vendor: these
//! posts are not provider calls (no usage events, no breaker).

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub use crate::observability::otlp::{Attr, Span, SpanKind, stop};

/// Spans posted to the collector.
pub const SPANS_EXPORTED: &str = "tradeplane_otlp_spans_exported_total";
/// Batches the collector did not accept (or could not be reached for).
pub const EXPORT_FAILURES: &str = "tradeplane_otlp_export_failures_total";

const BATCH: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how spans are sent.
#[derive(Clone)]
pub struct ExportConfig {
    /// The full traces URL (`…/v1/traces`).
    pub url: reqwest::Url,
    /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`); values are never logged.
    pub headers: Vec<(String, String)>,
    /// `service.name` of the resource.
    pub service_name: String,
}

impl std::fmt::Debug for ExportConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportConfig")
            .field("url", &self.url.as_str())
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("service_name", &self.service_name)
            .finish()
    }
}

impl ExportConfig {
    /// From the standard variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is the traces URL as
    /// given; otherwise `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL and `/v1/traces` is
    /// appended (the OTLP exporter specification). `None` when neither is set: export is off.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let (name, url) = match (
            set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            set("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(traces), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces),
            (None, Some(base)) => (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("{}/v1/traces", base.trim().trim_end_matches('/')),
            ),
            (None, None) => return Ok(None),
        };
        let url = reqwest::Url::parse(url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                format!("{name} must be an http(s) URL such as http://127.0.0.1:4318")
            })?;
        let headers = match set("OTEL_EXPORTER_OTLP_HEADERS") {
            Some(raw) => parse_headers(&raw)?,
            None => Vec::new(),
        };
        Ok(Some(ExportConfig {
            url,
            headers,
            service_name: set("OTEL_SERVICE_NAME").unwrap_or_else(|| "tradeplane".to_owned()),
        }))
    }
}

/// `key1=value1,key2=value2`, values percent-decoded (W3C baggage format, as the OTLP exporter
/// specification says). The error names the key, never a value.
fn parse_headers(raw: &str) -> Result<Vec<(String, String)>, String> {
    raw.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .ok_or("OTEL_EXPORTER_OTLP_HEADERS must be key=value pairs separated by commas")?;
            let key = k.trim();
            let value = url::form_urlencoded::parse(format!("v={}", v.trim()).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let valid = reqwest::header::HeaderName::from_bytes(key.as_bytes()).is_ok()
                && reqwest::header::HeaderValue::from_str(&value).is_ok();
            if valid {
                Ok((key.to_owned(), value))
            } else {
                Err(format!(
                    "OTEL_EXPORTER_OTLP_HEADERS: `{key}` is not a valid header name or its value is not a valid header value"
                ))
            }
        })
        .collect()
}

/// Starts exporting: spans recorded from now on are posted to `config.url`. The task ends
/// after [`stop`], once the queue is posted.
pub fn start(config: ExportConfig) -> tokio::task::JoinHandle<()> {
    let rx = crate::observability::otlp::install();
    tracing::info!(url = %config.url, "exporting spans over OTLP/HTTP");
    tokio::spawn(export_loop(config, rx))
}

async fn export_loop(config: ExportConfig, mut rx: mpsc::Receiver<Span>) {
    let client = match reqwest::Client::builder().timeout(EXPORT_TIMEOUT).build() {
        Ok(c) => c,
        Err(err) => {
            tracing::error!(error = %err, "the OTLP exporter could not start");
            return;
        }
    };
    loop {
        let Some(first) = rx.recv().await else { return };
        let mut batch = vec![first];
        let flush_at = tokio::time::Instant::now() + FLUSH_EVERY;
        let mut closed = false;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(flush_at, rx.recv()).await {
                Ok(Some(span)) => batch.push(span),
                Ok(None) => {
                    closed = true;
                    break;
                }
                Err(_) => break,
            }
        }
        post(&client, &config, &batch).await;
        if closed {
            return;
        }
    }
}

async fn post(client: &reqwest::Client, config: &ExportConfig, batch: &[Span]) {
    let mut request = client
        .post(config.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(encode(&config.service_name, batch).to_string());
    for (k, v) in &config.headers {
        request = request.header(k.as_str(), v.as_str());
    }
    match request.send().await {
        Ok(res) if res.status().is_success() => {
            metrics::counter!(SPANS_EXPORTED).increment(batch.len() as u64);
        }
        Ok(res) => {
            metrics::counter!(EXPORT_FAILURES).increment(1);
            tracing::warn!(
                status = res.status().as_u16(),
                spans = batch.len(),
                "the OTLP collector refused a batch of spans; dropped"
            );
        }
        Err(err) => {
            metrics::counter!(EXPORT_FAILURES).increment(1);
            // The error's text names the URL at most, never a header.
            tracing::warn!(error = %err.without_url(), spans = batch.len(), "the OTLP collector could not be reached; spans dropped");
        }
    }
}

fn unix_nanos(t: DateTime<Utc>) -> String {
    t.timestamp_nanos_opt().unwrap_or(0).max(0).to_string()
}

fn span_id() -> String {
    let mut bytes: [u8; 8] = rand::rng().random();
    if bytes == [0; 8] {
        bytes[7] = 1;
    }
    hex::encode(bytes)
}

/// The `ExportTraceServiceRequest` in OTLP's JSON encoding: ids as hex strings, 64-bit
/// integers as decimal strings, enums as numbers.
pub fn encode(service_name: &str, spans: &[Span]) -> Value {
    let attr = |k: &str, v: &Attr| match v {
        Attr::Str(s) => json!({ "key": k, "value": { "stringValue": s } }),
        Attr::Int(i) => json!({ "key": k, "value": { "intValue": i.to_string() } }),
    };
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            json!({
                "traceId": s.trace_id,
                "spanId": span_id(),
                "name": s.name,
                // SPAN_KIND_INTERNAL = 1, SPAN_KIND_SERVER = 2.
                "kind": match s.kind { SpanKind::Internal => 1, SpanKind::Server => 2 },
                "startTimeUnixNano": unix_nanos(s.start),
                "endTimeUnixNano": unix_nanos(s.end),
                "attributes": s.attributes.iter().map(|(k, v)| attr(k, v)).collect::<Vec<_>>(),
                // STATUS_CODE_UNSET = 0, STATUS_CODE_ERROR = 2.
                "status": { "code": if s.error { 2 } else { 0 } },
            })
        })
        .collect();
    json!({
        "resourceSpans": [{
            "resource": { "attributes": [
                attr("service.name", &Attr::Str(service_name.to_owned())),
                attr("service.version", &Attr::Str(env!("CARGO_PKG_VERSION").to_owned())),
            ] },
            "scopeSpans": [{
                "scope": { "name": "tradeplane", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            }],
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn export_is_off_unless_an_endpoint_is_set() {
        assert!(ExportConfig::from_lookup(lookup(&[])).unwrap().is_none());
        assert!(
            ExportConfig::from_lookup(lookup(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_and_the_traces_endpoint_is_taken_as_is() {
        let c = ExportConfig::from_lookup(lookup(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector:4318/",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(c.url.as_str(), "http://collector:4318/v1/traces");
        assert_eq!(c.service_name, "tradeplane");
        let c = ExportConfig::from_lookup(lookup(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://otlp.example/api/traces",
            ),
            ("OTEL_SERVICE_NAME", "desk-a"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.url.as_str(), "https://otlp.example/api/traces");
        assert_eq!(c.service_name, "desk-a");
    }

    #[test]
    fn bad_settings_are_refused_naming_the_variable_never_a_value() {
        let err =
            ExportConfig::from_lookup(lookup(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector")]))
                .unwrap_err();
        assert!(err.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{err}");
        let err = ExportConfig::from_lookup(lookup(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%0As3cret",
            ),
        ]))
        .unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        let c = ExportConfig::from_lookup(lookup(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20s3cret, x-tenant=desk",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            c.headers,
            vec![
                ("authorization".to_owned(), "Bearer s3cret".to_owned()),
                ("x-tenant".to_owned(), "desk".to_owned())
            ]
        );
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn spans_are_encoded_as_otlp_json() {
        let start = DateTime::from_timestamp_nanos(1_700_000_000_123_456_789);
        let body = encode(
            "tradeplane",
            &[Span {
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                name: "GET /api/bots".into(),
                kind: SpanKind::Server,
                start,
                end: start + chrono::Duration::milliseconds(3),
                error: true,
                attributes: vec![
                    ("http.route", Attr::Str("/api/bots".into())),
                    ("http.response.status_code", Attr::Int(500)),
                ],
            }],
        );
        let rs = &body["resourceSpans"][0];
        assert_eq!(
            rs["resource"]["attributes"][0],
            json!({"key": "service.name", "value": {"stringValue": "tradeplane"}})
        );
        let span = &rs["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        let id = span["spanId"].as_str().unwrap();
        assert!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id != "0000000000000000"
        );
        assert_eq!(span["kind"], 2);
        assert_eq!(span["startTimeUnixNano"], "1700000000123456789");
        assert_eq!(span["endTimeUnixNano"], "1700000000126456789");
        assert_eq!(span["status"]["code"], 2);
        assert_eq!(
            span["attributes"][1],
            json!({"key": "http.response.status_code", "value": {"intValue": "500"}})
        );
    }
}
