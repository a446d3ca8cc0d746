//! Where provider calls report their usage events. Every call in `integrations/` records through
//! an `Arc<dyn UsageSink>`; recording never blocks the caller.

use std::sync::{Arc, Mutex};

use crate::store::usage_events::UsageEvent;

/// Takes usage events without blocking (implementations queue or spawn).
pub trait UsageSink: Send + Sync + 'static {
    fn record(&self, event: UsageEvent);
}

/// Keeps events in memory: for unit tests and for code that inspects what was recorded.
#[derive(Default, Clone)]
pub struct MemoryUsageSink {
    events: Arc<Mutex<Vec<UsageEvent>>>,
}

impl MemoryUsageSink {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn events(&self) -> Vec<UsageEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl UsageSink for MemoryUsageSink {
    fn record(&self, event: UsageEvent) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }
}
