//! The one request helper: every JSON call goes through [`TestApp::call`] (or [`send`] for a
//! request built by hand) and comes back as `(status, envelope body)` after the envelope
//! invariants are checked.

use reqwest::RequestBuilder;
use serde_json::Value;

use super::app::TestApp;

/// An answer: the HTTP status and the JSON envelope.
pub type Reply = (u16, Value);

impl TestApp {
    /// `method path` with an optional JSON body, sent with this app's client.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http(method, path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        send(req).await
    }

    /// A request builder on this app's client, for what [`TestApp::call`] does not cover:
    /// custom headers, reading cookies or headers of the raw answer, non-JSON answers.
    pub fn http(&self, method: &str, path: &str) -> RequestBuilder {
        self.client
            .request(method.parse().expect("an HTTP method"), self.url(path))
    }
}

/// Sends a hand-built request and checks its envelope.
pub async fn send(req: RequestBuilder) -> Reply {
    envelope(req.send().await.unwrap()).await
}

/// Reads a response and checks the envelope invariants every answer must meet: JSON, the
/// `success` flag matching the status, a 32-hex `trace_id` equal to the `x-trace-id` header.
pub async fn envelope(res: reqwest::Response) -> Reply {
    let status = res.status().as_u16();
    let header = res
        .headers()
        .get("x-trace-id")
        .expect("x-trace-id header")
        .to_str()
        .unwrap()
        .to_owned();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], Value::Bool(status < 400), "{body}");
    let trace = body["trace_id"].as_str().expect("trace_id");
    assert_eq!(trace, header);
    assert_eq!(trace.len(), 32);
    assert!(trace.bytes().all(|b| b.is_ascii_hexdigit()));
    if status >= 400 {
        let error = &body["error"];
        assert!(error["code"].is_string(), "{body}");
        assert!(!error["message"].as_str().unwrap().is_empty());
        assert!(!error["suggested_fix"].as_str().unwrap().is_empty());
    }
    (status, body)
}

pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// The names of the evidence gates a refused promotion lists (`details.gates[].gate`).
pub fn missed_gates(body: &Value) -> Vec<&str> {
    body["error"]["details"]["gates"]
        .as_array()
        .map(|gates| gates.iter().filter_map(|g| g["gate"].as_str()).collect())
        .unwrap_or_default()
}
