//! Request trace ids (SPEC §1): a 32-hex id per request, taken from an incoming W3C `traceparent`
//! when present, carried in a task-local so every log line, event and envelope written while
//! serving the request can name it without threading it through every call.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

tokio::task_local! {
    static CURRENT: TraceId;
}

/// A W3C trace id: 32 lowercase hex characters, never all zeros.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TraceId(String);

impl TraceId {
    /// A fresh random id.
    pub fn generate() -> Self {
        let bytes: [u8; 16] = rand::rng().random();
        let id = hex::encode(bytes);
        // An all-zero id is invalid in W3C trace context; 2^-128 odds, but cheap to rule out.
        if id.bytes().all(|b| b == b'0') {
            return Self::generate();
        }
        TraceId(id)
    }

    /// Parses a `traceparent` header (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`).
    /// Anything malformed is ignored, as the W3C spec requires, and the caller makes a new id.
    pub fn from_traceparent(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let version = parts.next()?;
        let trace_id = parts.next()?;
        let parent_id = parts.next()?;
        let flags = parts.next()?;
        let is_hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let valid = is_hex(version, 2)
            && version != "ff"
            && is_hex(trace_id, 32)
            && is_hex(parent_id, 16)
            && is_hex(flags, 2)
            && !trace_id.bytes().all(|b| b == b'0')
            && !parent_id.bytes().all(|b| b == b'0')
            // Version 00 has exactly four fields; later versions may append more.
            && (version != "00" || parts.next().is_none());
        valid.then(|| TraceId(trace_id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A stored id (32 lowercase hex, not all zeros), as this type wrote it.
    pub fn from_hex(s: &str) -> Option<Self> {
        let valid = s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && !s.bytes().all(|b| b == b'0');
        valid.then(|| TraceId(s.to_owned()))
    }

    /// The trace id of the request being served, or a fresh one outside any request
    /// (start-up, background work), so an event is never written without one.
    pub fn current() -> Self {
        CURRENT
            .try_with(Clone::clone)
            .unwrap_or_else(|_| Self::generate())
    }

    /// The trace id set by an enclosing [`TraceId::scope`], if any.
    pub fn try_current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `fut` with `self` as the current trace id.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// Runs `f` with `self` as the current trace id.
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self, f)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_w3c_example() {
        let id =
            TraceId::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(id.unwrap().as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn rejects_malformed_traceparents() {
        for bad in [
            "",
            "garbage",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert!(TraceId::from_traceparent(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn future_versions_may_carry_more_fields() {
        let id = TraceId::from_traceparent(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds",
        );
        assert!(id.is_some());
    }

    #[test]
    fn generated_ids_are_32_hex_and_distinct() {
        let a = TraceId::generate();
        let b = TraceId::generate();
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn current_is_the_scoped_id() {
        let id = TraceId::generate();
        let seen = id.clone().scope(async { TraceId::current() }).await;
        assert_eq!(seen, id);
        assert_ne!(TraceId::current(), id);
    }
}
