//! Spans for the optional OTLP export (issue 20 part 8): what the server records and the
//! queue it records into. Recording never waits: a span goes into a bounded queue and is
//! dropped (and counted) when the queue is full. The exporter that drains the queue and posts
//! it to a collector is an edge, `integrations::otlp`; with no exporter started nothing is
//! recorded.

use std::sync::RwLock;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

/// Spans dropped because the queue was full.
pub const SPANS_DROPPED: &str = "tradeplane_otlp_spans_dropped_total";

const QUEUE: usize = 4096;

/// What a span describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// A request this server answered.
    Server,
    /// Work of its own (a bot evaluation).
    Internal,
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Str(String),
    Int(i64),
}

/// One finished span.
#[derive(Debug, Clone)]
pub struct Span {
    /// 32 lowercase hex characters (the request's or the evaluation's trace id).
    pub trace_id: String,
    pub name: String,
    pub kind: SpanKind,
    /// From the server's clock (`Clock::now`).
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub error: bool,
    pub attributes: Vec<(&'static str, Attr)>,
}

static SINK: RwLock<Option<mpsc::Sender<Span>>> = RwLock::new(None);

/// Whether spans are being recorded (callers skip building one when not).
pub fn enabled() -> bool {
    SINK.read().map(|s| s.is_some()).unwrap_or(false)
}

/// Queues a finished span; never waits.
pub fn record(span: Span) {
    let Ok(sink) = SINK.read() else { return };
    if let Some(tx) = sink.as_ref()
        && let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(span)
    {
        metrics::counter!(SPANS_DROPPED).increment(1);
    }
}

/// Starts recording into a new queue and hands its receiving end to the exporter. Replaces an
/// earlier queue (whose receiver then drains and ends).
pub fn install() -> mpsc::Receiver<Span> {
    let (tx, rx) = mpsc::channel(QUEUE);
    if let Ok(mut sink) = SINK.write() {
        *sink = Some(tx);
    }
    rx
}

/// Stops recording; the exporter posts what is queued and ends.
pub fn stop() {
    if let Ok(mut sink) = SINK.write() {
        *sink = None;
    }
}
