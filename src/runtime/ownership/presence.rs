//! A node's presence: a session-level advisory lock the node holds on a connection of its own
//! for as long as it lives ([`nodes::lock_presence`]). Postgres releases it the moment that
//! session ends (the process died, or the connection was cut), which a lease's TTL tells only
//! up to a TTL later.
//!
//! - The node checks every [`super::OwnershipConfig::presence_ping_every`] that its own session
//!   still holds the lock; a failed, negative or unanswered check revokes its trust in its
//!   leases at once (self-fencing), and it
//!   locks a new key before it renews anything again ([`Ownership::keep_presence`]).
//! - Another node that finds the lock free on two looks at least
//!   [`super::OwnershipConfig::gone_after`] apart (twice the longest the node takes to notice)
//!   expires the gone node's leases ([`nodes::expire_gone`]) and rescues its bots, instead of
//!   waiting for their TTL. A paused node (SIGSTOP) keeps its session and its lock: its leases
//!   expire by time, as before.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::Ownership;
use crate::store::nodes;

/// The connection holding this node's presence lock.
pub(super) struct Presence {
    conn: PgConnection,
    pub key: i64,
}

impl Presence {
    /// Connects and locks a fresh key.
    pub async fn take(options: &PgConnectOptions) -> Result<Self, sqlx::Error> {
        let mut conn = PgConnection::connect_with(options).await?;
        let key = nodes::lock_presence(&mut conn).await?;
        Ok(Presence { conn, key })
    }

    /// Whether this session still holds the lock, answered within `within`.
    async fn alive(&mut self, within: Duration) -> bool {
        matches!(
            tokio::time::timeout(within, nodes::holds_presence(&mut self.conn, self.key)).await,
            Ok(Ok(true))
        )
    }
}

/// Nodes found without their presence, by (name, key), since the first look that found it.
#[derive(Debug, Default)]
pub(super) struct Sightings(HashMap<(String, i64), Instant>);

impl Sightings {
    /// Of `gone` (found without presence at `now`), those first found so at least `after`
    /// before; a node no longer listed (back, or handled) is forgotten.
    pub fn confirmed(
        &mut self,
        gone: Vec<(String, i64)>,
        after: Duration,
        now: Instant,
    ) -> Vec<(String, i64)> {
        let mut seen = HashMap::with_capacity(gone.len());
        let mut confirmed = Vec::new();
        for node in gone {
            let first = self.0.get(&node).copied().unwrap_or(now);
            if now.duration_since(first) >= after {
                confirmed.push(node.clone());
            }
            seen.insert(node, first);
        }
        self.0 = seen;
        confirmed
    }
}

impl Ownership {
    /// The node's side: checks its presence, and on a loss stops trusting its leases and its
    /// leadership at once, then locks a new key on a new connection and records it. Runs until
    /// the task is dropped (which closes the connection and so frees the lock), or until the
    /// node finds itself superseded (a newer process took its name: it never acts again).
    pub(super) async fn keep_presence(self: Arc<Self>, mut presence: Option<Presence>) {
        let every = self.config.presence_ping_every();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(p) = presence.as_mut() {
                if p.alive(every).await {
                    continue;
                }
                presence = None;
                self.lost_presence();
            }
            // A connection (TCP, startup, authentication) on a loaded machine can take a
            // while; the node stays fenced meanwhile, so this bound only stops a hang.
            let within = self.config.lease_ttl / 2;
            match tokio::time::timeout(within, self.retake_presence()).await {
                Ok(Ok(Some(p))) => {
                    tracing::info!(node = %self.name, "presence taken again");
                    presence = Some(p);
                    self.present.store(true, Ordering::Release);
                    self.presence_back.notify_one();
                }
                Ok(Ok(None)) => {
                    tracing::warn!(node = %self.name, "superseded by a newer process under this name: presence not taken again");
                    return;
                }
                Ok(Err(err)) => {
                    tracing::debug!(error = %err, node = %self.name, "could not take the presence again");
                }
                Err(_) => {
                    tracing::debug!(node = %self.name, ?within, "taking the presence again timed out");
                }
            }
        }
    }

    fn lost_presence(&self) {
        self.present.store(false, Ordering::Release);
        self.presence_losses.fetch_add(1, Ordering::AcqRel);
        *self
            .trusted_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        *self
            .leader_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        tracing::warn!(node = %self.name, "lost the presence connection: leases untrusted until a new presence and a renewal");
    }

    /// A new presence, recorded for this incarnation; `None`: superseded.
    async fn retake_presence(&self) -> Result<Option<Presence>, sqlx::Error> {
        let p = Presence::take(&self.pool.connect_options()).await?;
        let recorded = nodes::set_presence(&self.pool, &self.name, self.incarnation, p.key).await?;
        Ok(recorded.then_some(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, key: i64) -> (String, i64) {
        (name.to_owned(), key)
    }

    #[test]
    fn a_node_is_confirmed_gone_only_on_a_later_look_at_least_gone_after_the_first() {
        let after = Duration::from_millis(500);
        let t0 = Instant::now();
        let mut s = Sightings::default();
        assert!(s.confirmed(vec![node("a", 1)], after, t0).is_empty());
        let t1 = t0 + Duration::from_millis(499);
        assert!(s.confirmed(vec![node("a", 1)], after, t1).is_empty());
        let t2 = t0 + after;
        assert_eq!(
            s.confirmed(vec![node("a", 1)], after, t2),
            vec![node("a", 1)]
        );
    }

    #[test]
    fn a_node_back_or_with_a_new_key_starts_over() {
        let after = Duration::from_millis(500);
        let t0 = Instant::now();
        let mut s = Sightings::default();
        s.confirmed(vec![node("a", 1), node("b", 2)], after, t0);
        // a came back (not listed), b locked a new key: both are first sightings again.
        let t1 = t0 + Duration::from_secs(1);
        assert!(s.confirmed(vec![node("b", 3)], after, t1).is_empty());
        let t2 = t1 + Duration::from_millis(100);
        assert!(
            s.confirmed(vec![node("a", 1), node("b", 3)], after, t2)
                .is_empty()
        );
        let t3 = t1 + after;
        assert_eq!(
            s.confirmed(vec![node("a", 1), node("b", 3)], after, t3),
            vec![node("b", 3)]
        );
    }
}
