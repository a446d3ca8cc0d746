//! The cluster's singletons: the `leader` lease a node holds beside its bot leases, and the
//! [`Leadership`] handle the singleton tasks ask; kept apart from the per-bot leases.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::Ownership;
use crate::store::bot_leases;
use crate::store::cluster_leases;

/// Whether this process runs the cluster's singletons (alert posting, the job timeout sweep,
/// scoring of unowned bots): always without ownership (a detached runtime), else while its
/// node holds the `leader` lease.
#[derive(Clone, Default)]
pub struct Leadership(Option<Arc<Ownership>>);

impl Leadership {
    pub fn of(node: &Arc<Ownership>) -> Self {
        Leadership(Some(node.clone()))
    }

    pub fn is_leader(&self) -> bool {
        self.0.as_ref().is_none_or(|o| o.is_leader())
    }

    /// How long a leader's work can go undone when it dies before another takes over.
    pub fn takeover_gap(&self) -> Duration {
        self.0
            .as_ref()
            .map_or(Duration::ZERO, |o| o.config.lease_ttl)
    }
}

impl Ownership {
    /// Whether this node runs the cluster's singletons now: it holds the `leader` lease and
    /// renewed it less than TTL − skew ago (the same self-fencing as the bot leases).
    pub fn is_leader(&self) -> bool {
        self.leader_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|until| Instant::now() < until)
    }

    /// Takes or renews the `leader` lease; a failed read keeps the last deadline, which runs
    /// out by itself.
    pub(super) async fn hold_leadership(&self, started: Instant, now: DateTime<Utc>, losses: u64) {
        let held = match bounded!(self, |db| cluster_leases::hold(
            db,
            cluster_leases::LEADER,
            &self.name,
            now,
            now + self.ttl(),
        )) {
            Ok(epoch) => epoch.is_some(),
            Err(err) => {
                tracing::warn!(error = %err, node = %self.name, "leader lease renewal failed");
                return;
            }
        };
        if !self.presence_kept_since(losses) {
            return;
        }
        let was = self.is_leader();
        *self
            .leader_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = held.then(|| {
            started
                + self
                    .config
                    .lease_ttl
                    .saturating_sub(self.config.skew_margin())
        });
        if held && !was {
            tracing::info!(node = %self.name, "this node now runs the cluster's singletons");
        }
    }

    /// A draining node leaves the singletons to another node.
    pub(super) async fn give_up_leadership(&self) {
        let was = self
            .leader_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .is_some();
        if was
            && let Err(err) =
                cluster_leases::release(&self.pool, cluster_leases::LEADER, &self.name).await
        {
            tracing::warn!(error = %err, node = %self.name, "could not release the leader lease; it expires instead");
        }
    }
}
