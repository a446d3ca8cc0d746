//! A Server-Sent Events reader, as a browser's `EventSource` reads `/api/events/stream`
//! (reqwest `bytes_stream`, SSE framing parsed by hand).

use std::pin::Pin;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use serde_json::Value;

use super::app::now;

/// One SSE message: its fields, or a comment.
#[derive(Debug, Clone, Default)]
pub struct Msg {
    pub id: Option<u64>,
    pub event: Option<String>,
    pub data: String,
    pub comment: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
}

impl Msg {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }

    pub fn is(&self, event: &str) -> bool {
        self.event.as_deref() == Some(event)
    }
}

type Bytes = Pin<Box<dyn Stream<Item = reqwest::Result<Vec<u8>>> + Send>>;

/// A Server-Sent Events reader (also used by the `serve` tests).
pub struct SseClient {
    bytes: Bytes,
    buf: String,
}

impl SseClient {
    pub async fn open(client: &reqwest::Client, url: String, last_id: Option<&str>) -> SseClient {
        let mut req = client.get(url);
        if let Some(id) = last_id {
            req = req.header("last-event-id", id);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        SseClient {
            bytes: Box::pin(res.bytes_stream().map(|r| r.map(|b| b.to_vec()))),
            buf: String::new(),
        }
    }

    fn parse(block: &str) -> Msg {
        let mut msg = Msg {
            received_at: Some(now()),
            ..Msg::default()
        };
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(c) = line.strip_prefix(':') {
                msg.comment = Some(c.trim().to_owned());
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => msg.id = Some(value.parse().unwrap()),
                "event" => msg.event = Some(value.to_owned()),
                "data" => data.push(value),
                _ => {}
            }
        }
        msg.data = data.join("\n");
        msg
    }

    /// The next message (or comment) within `limit`; None on timeout.
    pub async fn next_within(&mut self, limit: Duration) -> Option<Msg> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                return Some(Self::parse(&block));
            }
            let chunk = tokio::time::timeout_at(deadline, self.bytes.next())
                .await
                .ok()?
                .expect("the stream ended")
                .unwrap();
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    pub async fn next(&mut self) -> Msg {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("no SSE message within 10 s")
    }

    /// The next event (comments skipped).
    pub async fn next_event(&mut self) -> Msg {
        loop {
            let m = self.next().await;
            if m.comment.is_none() {
                return m;
            }
        }
    }

    /// Skips messages until one matches; returns it and what came before it.
    pub async fn until(&mut self, what: &str, f: impl Fn(&Msg) -> bool) -> (Msg, Vec<Msg>) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut seen = Vec::new();
        loop {
            let m = self
                .next_within(Duration::from_secs(15))
                .await
                .unwrap_or_else(|| panic!("no {what}; saw {seen:#?}"));
            if f(&m) {
                return (m, seen);
            }
            assert!(Instant::now() < deadline, "no {what}; saw {seen:#?}");
            if m.comment.is_none() {
                seen.push(m);
            }
        }
    }

    /// The first message of a fresh stream: only an id, the position to resume from.
    pub async fn position(&mut self) -> u64 {
        let m = self.next().await;
        assert!(
            m.event.is_none() && m.data.is_empty() && m.comment.is_none(),
            "{m:?}"
        );
        m.id.unwrap()
    }
}
