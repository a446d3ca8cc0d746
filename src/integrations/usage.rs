//! Where provider calls report their usage events. Every call in `integrations/` records through
//! an `Arc<dyn UsageSink>`; recording never blocks the caller.

use std::sync::{Arc, Mutex};

use sqlx::PgPool;

use crate::store::usage_events::{self, UsageEvent};

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

/// TEMPORARY: writes each event with its own spawned insert. It is replaced by the runtime's
/// batching `TelemetryWriter` (src/runtime/telemetry.rs) at merge; a failed insert is logged
/// (never silently dropped) but not retried here.
#[derive(Clone)]
pub struct DirectPgUsageSink {
    pool: PgPool,
}

impl DirectPgUsageSink {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl UsageSink for DirectPgUsageSink {
    fn record(&self, event: UsageEvent) {
        let pool = self.pool.clone();
        // Outside a runtime (e.g. a sync unit test) there is nowhere to spawn: say so.
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::error!(provider_id = %event.provider_id, "usage event dropped: no async runtime");
            return;
        };
        handle.spawn(async move {
            if let Err(err) = usage_events::insert_many(&pool, std::slice::from_ref(&event)).await {
                tracing::error!(provider_id = %event.provider_id, error = %err, "usage event insert failed");
            }
        });
    }
}
