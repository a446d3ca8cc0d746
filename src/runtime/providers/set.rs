//! Every configured provider's shared slot ([`ProviderSet`]), restored from the persisted
//! breakers, and the writer task that saves breaker changes to `circuit_breakers`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, mpsc::UnboundedSender, watch};
use tradeplane_actors::{
    BreakerConfig, BreakerSnapshot, BreakerState, CircuitBreaker, Clock, SharedBreaker, SharedSink,
};

use super::shared::Health;
use super::{ProviderHealth, ProviderShared, lock, provider_scope};
use crate::domain::provider::CallWindow;
use crate::integrations::Integrations;
use crate::runtime::events::trace_capture;
use crate::runtime::registry::BreakerView;
use crate::store::circuit_breakers::{self, BreakerSave};

/// Provider breaker rows to write, and who to tell of a state change; shared with the
/// breakers, which report their own changes.
#[derive(Clone, Default)]
struct BreakerMarks {
    dirty: Arc<Mutex<HashSet<&'static str>>>,
    notify: Arc<Notify>,
    /// The breaker state last reported to the health watch, per provider.
    reported: Arc<Mutex<HashMap<&'static str, BreakerState>>>,
    /// Told `None` ("re-score every bot") when a provider breaker changes state.
    health_watch: Arc<OnceLock<UnboundedSender<Option<uuid::Uuid>>>>,
}

impl BreakerMarks {
    fn mark(&self, id: &'static str, state: BreakerState) {
        lock(&self.dirty).insert(id);
        self.notify.notify_one();
        let moved = lock(&self.reported)
            .insert(id, state)
            .unwrap_or(BreakerState::Closed)
            != state;
        if moved && let Some(tx) = self.health_watch.get() {
            let _ = tx.send(None);
        }
    }
}

/// Every configured provider's shared state, and the breaker writer's bookkeeping.
pub struct ProviderSet {
    pub(super) providers: BTreeMap<&'static str, Arc<ProviderShared>>,
    marks: BreakerMarks,
    /// Registered name prefix of the actors (`<prefix>.<id>`).
    names: String,
    /// The node whose breakers these are (their rows are its own).
    node: String,
}

impl ProviderSet {
    /// Builds one shared slot per configured provider, restoring persisted breakers.
    pub async fn restore(
        integrations: &Integrations,
        pool: &PgPool,
        breaker: BreakerConfig,
        clock: Clock,
        sink: SharedSink,
        names: String,
        node: String,
    ) -> Result<Self, sqlx::Error> {
        let rows: BTreeMap<String, serde_json::Value> = circuit_breakers::of_node(pool, &node)
            .await?
            .into_iter()
            .filter(|r| r.scope.starts_with("provider:"))
            .map(|r| (r.scope, r.snapshot))
            .collect();
        let marks = BreakerMarks::default();
        let mut providers = BTreeMap::new();
        for config in integrations.configs() {
            let id = config.spec.id;
            let Some(client) = integrations.client(id) else {
                continue;
            };
            let scope = provider_scope(id);
            let restored = match rows.get(&scope) {
                None => CircuitBreaker::new(scope, breaker, clock.clone(), sink.clone()),
                Some(v) => match serde_json::from_value::<BreakerSnapshot>(v.clone()) {
                    Ok(snap) => {
                        CircuitBreaker::restore(scope, breaker, clock.clone(), sink.clone(), &snap)
                    }
                    Err(err) => {
                        // Unknown is unknown: an unreadable breaker is treated as OPEN.
                        tracing::error!(%scope, error = %err, "unreadable breaker snapshot; tripping it");
                        let mut b =
                            CircuitBreaker::new(scope, breaker, clock.clone(), sink.clone());
                        b.trip("persisted snapshot unreadable");
                        b
                    }
                },
            };
            let marks = marks.clone();
            providers.insert(
                id,
                Arc::new(ProviderShared {
                    client,
                    breaker: SharedBreaker::new(
                        restored,
                        Box::new(move |reading| marks.mark(id, reading.state())),
                        Some(trace_capture()),
                    ),
                    health: Mutex::new(Health {
                        last_ok_at: None,
                        last_error_at: None,
                        last_error_code: None,
                        last_error_message: None,
                        refused: 0,
                        restarts: 0,
                        window: CallWindow::default(),
                    }),
                }),
            );
        }
        Ok(ProviderSet {
            providers,
            marks,
            names,
            node,
        })
    }

    /// A set with no providers (a detached runtime).
    pub fn empty() -> Self {
        ProviderSet {
            providers: BTreeMap::new(),
            marks: BreakerMarks::default(),
            names: String::new(),
            node: String::new(),
        }
    }

    /// False for the set of a detached runtime (no actors behind it).
    pub fn running(&self) -> bool {
        !self.names.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<ProviderShared>> {
        self.providers.get(id)
    }

    pub fn actor_name(&self, id: &str) -> String {
        format!("{}.{id}", self.names)
    }

    pub fn health(&self) -> Vec<ProviderHealth> {
        self.providers.values().map(|p| p.health()).collect()
    }

    pub fn breakers(&self) -> Vec<BreakerView> {
        self.providers.values().map(|p| p.breaker_view()).collect()
    }

    /// Reports every change of a provider breaker's state to `tx` (as `None`: the runners'
    /// feed breaker is part of every bot's autonomy evidence) from now on.
    pub fn watch_health(&self, tx: UnboundedSender<Option<uuid::Uuid>>) {
        let _ = self.marks.health_watch.set(tx);
    }

    async fn flush(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let ids: Vec<&'static str> = lock(&self.marks.dirty).drain().collect();
        let saves: Vec<BreakerSave> = ids
            .iter()
            .filter_map(|id| self.providers.get(id))
            .filter_map(|p| {
                let snap = p.breaker.reading().snapshot;
                Some(BreakerSave {
                    scope: provider_scope(p.id()),
                    state: snap.state.into(),
                    snapshot: serde_json::to_value(&snap).ok()?,
                })
            })
            .collect();
        if let Err(err) = circuit_breakers::save_many(pool, &self.node, &saves).await {
            lock(&self.marks.dirty).extend(ids);
            return Err(err);
        }
        Ok(())
    }

    /// Saves changed breakers (coalesced, retried on errors, a last time on stop).
    pub async fn run_writer(self: Arc<Self>, pool: PgPool, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = self.marks.notify.notified() => {},
                _ = stop.changed() => break,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            if let Err(err) = self.flush(&pool).await {
                tracing::warn!(error = %err, "provider breaker write failed; retrying");
                let again = Arc::clone(&self);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    again.marks.notify.notify_one();
                });
            }
        }
        if let Err(err) = self.flush(&pool).await {
            tracing::error!(error = %err, "final provider breaker write failed");
        }
    }
}
