//! How a node takes part in the cluster ([`OwnershipConfig`]): the lease TTL and every interval
//! derived from it, apart from the node that runs on them.

use std::time::Duration;

/// How a node takes part in the cluster.
#[derive(Debug, Clone)]
pub struct OwnershipConfig {
    /// A lease (and a node's liveness) lasts this long after its last renewal (default 10 s).
    pub lease_ttl: Duration,
    /// Relative share of the bots this node takes (default 1).
    pub capacity: u32,
}

impl Default for OwnershipConfig {
    fn default() -> Self {
        OwnershipConfig {
            lease_ttl: Duration::from_secs(10),
            capacity: 1,
        }
    }
}

impl OwnershipConfig {
    /// Heartbeats (and lease renewals) run three times per TTL: two can be lost before anything
    /// expires.
    pub fn renew_every(&self) -> Duration {
        (self.lease_ttl / 3).max(Duration::from_millis(50))
    }

    /// How often a node looks for expired leases between its rounds (a tenth of the TTL, at
    /// least 50 ms): an orphan is rescued within this of its expiry, not within a round.
    pub fn rescue_every(&self) -> Duration {
        (self.lease_ttl / 10).max(Duration::from_millis(50))
    }

    /// A node counts toward the fair share while its heartbeat is younger than two rounds:
    /// a dead (or stalled) node drops out of the share before its leases can expire, so the
    /// survivors' share already covers its bots when they rescue them, and nobody hands bots
    /// over to a node that is not beating.
    pub fn counted_within(&self) -> Duration {
        self.renew_every() * 2
    }

    /// How much earlier than its lease could expire a node stops trusting it: a fifth of the
    /// TTL covers clock skew between nodes and a slow renewal.
    pub fn skew_margin(&self) -> Duration {
        self.lease_ttl / 5
    }

    /// How often a node checks its presence lock (an eighth of the rescue interval, at least
    /// 10 ms): it notices a lost presence within two checks.
    pub fn presence_ping_every(&self) -> Duration {
        (self.rescue_every() / 8).max(Duration::from_millis(10))
    }

    /// How long another node must have found a node's presence gone before it expires that
    /// node's leases: twice the longest the node itself takes to notice and stop acting.
    pub fn gone_after(&self) -> Duration {
        self.presence_ping_every() * 4
    }
}
