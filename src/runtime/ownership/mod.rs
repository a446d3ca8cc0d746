//! Ownership (DESIGN.md "Scale-out"): several `serve` processes on one Postgres. Each process is
//! a node: it registers in `nodes` and beats its heartbeat on the runtime's clock, and a node
//! whose heartbeat is older than the lease TTL is shown dead. Postgres is the one coordination
//! engine: no consensus of our own, no server beside it.
//!
//! A bot runs only on the node holding its lease (`bot_leases`): the lifecycle acquires it
//! before a runner starts ([`Ownership::acquire`]) and releases it on stop and kill. Every
//! acquisition bumps the lease's epoch, and the runner's writes (orders, fills, positions,
//! decision traces, cancels) carry that [`Fence`], checked in their own transaction. Each
//! renewal round (three per TTL) beats the heartbeat, renews this node's leases, stops the
//! runners of leases it no longer holds, releases those of bots no longer meant to run, and,
//! once the node has resumed its bots, claims released or expired leases up to its
//! capacity-weighted share (`FOR UPDATE SKIP LOCKED`) and takes those bots over through safe
//! start. Self-fencing: a runner evaluates only while the last successful renewal is younger
//! than TTL minus a clock-skew margin ([`Ownership::fence`]), so a node paused or cut off stops
//! acting before any other node may take its bots.
//!
//! The loop runs beside the tree (like the writers) on tokio time and stamps with the injected
//! clock, so a test's manual clock never stops a heartbeat; the self-fence deadline is
//! monotonic (`Instant`), which keeps counting while the process is stopped.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

mod presence;
mod view;

pub use view::{NodeState, NodeView, drain_node, host_name, list_nodes};

use self::presence::Presence;
use crate::clock::Clock;
use crate::store::bot_leases::{self, Fence};
use crate::store::nodes::{self, NodeRegistration};

/// Runs one lease statement (`$call`, with `$db` the transaction) in a transaction bounded by
/// the node's [`bot_leases::Bounds`] and commits it; a timeout is counted
/// ([`OwnershipStats::lease_timeouts`]).
macro_rules! bounded {
    ($me:expr, |$db:ident| $call:expr) => {
        bounded!($me, $me.bounds, |$db| $call)
    };
    ($me:expr, $bounds:expr, |$db:ident| $call:expr) => {
        async {
            let mut tx = bot_leases::bounded(&$me.pool, $bounds).await?;
            let $db = &mut *tx;
            let value = $call.await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(value)
        }
        .await
        .map_err(|e| $me.counted(e))
    };
}

// Declared after `bounded!`, which they use.
mod claims;
mod config;
mod leadership;
mod leases;
mod renewal;

pub use config::OwnershipConfig;
pub use leadership::Leadership;

/// A lease this node holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    epoch: i64,
    acquired: Instant,
    /// The bot's row said it should run at a renewal since (a later non-live status is an
    /// operator's stop or kill, possibly through another node).
    seen_live: bool,
    /// The bot row's settings fingerprint at the last renewal (`Renewed::settings`): another
    /// one (a change made through any node) has its runner here re-read its settings.
    settings: Option<i64>,
}

/// Counters for the Observatory and the figures.
#[derive(Debug, Default, Clone, Copy, Serialize, ToSchema)]
pub struct OwnershipStats {
    /// Leases taken over from released or expired ones.
    pub claimed: u64,
    /// Leases found taken by another node (their runners were stopped).
    pub lost: u64,
    /// Bots let go for other nodes (drain, rebalance).
    pub handed_over: u64,
    /// Bar ticks a runner skipped because this node could not trust its leases.
    pub fenced_ticks: u64,
    /// Lease statements that gave up waiting for a row lock or ran past their bound
    /// ([`bot_leases::Bounds`]); the next round retries.
    pub lease_timeouts: u64,
}

/// This process as a node.
pub struct Ownership {
    pool: PgPool,
    clock: Clock,
    name: Arc<str>,
    incarnation: Uuid,
    /// When this node registered (on the runtime's clock).
    started_at: DateTime<Utc>,
    config: OwnershipConfig,
    /// Lock and statement timeouts of every lease statement (from the TTL).
    bounds: bot_leases::Bounds,
    held: std::sync::Mutex<HashMap<Uuid, Held>>,
    /// Leases are trusted until then: the start of the last successful renewal + TTL − skew.
    trusted_until: std::sync::Mutex<Instant>,
    /// This node runs the cluster's singletons until then (held `leader` lease, same margin).
    leader_until: std::sync::Mutex<Option<Instant>>,
    /// Acquisitions of bots not held yet (and claims) one at a time, so a bot is never
    /// acquired twice over; a bot held already needs none.
    acquiring: tokio::sync::Mutex<()>,
    /// Claimed bots whose takeover (safe start, runner start) is under way: never idle,
    /// never handed over meanwhile.
    taking_over: std::sync::Mutex<HashSet<Uuid>>,
    /// Off until the node resumed its own bots (so resume and takeover never race).
    claiming: AtomicBool,
    /// The last round found the node draining (it rescues nothing between rounds then).
    draining: AtomicBool,
    /// The presence connection, from registration until the loop takes it ([`presence`]).
    presence: std::sync::Mutex<Option<Presence>>,
    /// This node holds its presence lock (as far as its last check knows).
    present: AtomicBool,
    /// Presence losses so far: a round that saw one happen trusts nothing it renewed.
    presence_losses: AtomicU64,
    /// A new presence was taken: the loop renews at once rather than at its next round, so
    /// a node back from a cut trusts its leases (and rescues) again without waiting a round.
    presence_back: tokio::sync::Notify,
    claimed: AtomicU64,
    lost: AtomicU64,
    handed_over: AtomicU64,
    fenced_ticks: AtomicU64,
    lease_timeouts: AtomicU64,
}

/// Why a lease could not be acquired.
#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    #[error("bot {bot_id} is owned by node {node} until {expires_at}")]
    HeldElsewhere {
        bot_id: Uuid,
        node: String,
        expires_at: DateTime<Utc>,
    },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Ownership {
    /// Registers the node (a new incarnation of `name`).
    pub async fn register(
        pool: PgPool,
        clock: Clock,
        name: String,
        config: OwnershipConfig,
    ) -> Result<Arc<Self>, sqlx::Error> {
        let capacity = i32::try_from(config.capacity.clamp(1, 1_000_000)).unwrap_or(1);
        // Present before registered: a node listed with a key always holds its lock.
        let presence = Presence::take(&pool.connect_options()).await?;
        let presence_key = Some(presence.key);
        let me = Ownership {
            pool,
            started_at: clock.now(),
            clock,
            name: name.into(),
            incarnation: Uuid::now_v7(),
            trusted_until: std::sync::Mutex::new(
                Instant::now() + config.lease_ttl.saturating_sub(config.skew_margin()),
            ),
            leader_until: std::sync::Mutex::default(),
            bounds: bot_leases::Bounds::for_ttl(config.lease_ttl),
            config,
            held: std::sync::Mutex::default(),
            acquiring: tokio::sync::Mutex::new(()),
            taking_over: std::sync::Mutex::default(),
            claiming: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            presence: std::sync::Mutex::new(Some(presence)),
            present: AtomicBool::new(true),
            presence_losses: AtomicU64::new(0),
            presence_back: tokio::sync::Notify::new(),
            claimed: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            handed_over: AtomicU64::new(0),
            fenced_ticks: AtomicU64::new(0),
            lease_timeouts: AtomicU64::new(0),
        };
        nodes::register(
            &me.pool,
            &NodeRegistration {
                name: &me.name,
                incarnation: me.incarnation,
                host: &host_name(),
                version: env!("CARGO_PKG_VERSION"),
                capacity,
                presence_key,
            },
            me.clock.now(),
        )
        .await?;
        Ok(Arc::new(me))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &OwnershipConfig {
        &self.config
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    pub fn stats(&self) -> OwnershipStats {
        OwnershipStats {
            claimed: self.claimed.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            handed_over: self.handed_over.load(Ordering::Relaxed),
            fenced_ticks: self.fenced_ticks.load(Ordering::Relaxed),
            lease_timeouts: self.lease_timeouts.load(Ordering::Relaxed),
        }
    }

    /// Counts a lease statement's timeout (see [`bot_leases::Bounds`]).
    fn counted(&self, err: sqlx::Error) -> sqlx::Error {
        if bot_leases::is_timeout(&err) {
            self.lease_timeouts.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %err, node = %self.name, "a lease statement timed out (a row locked by a paused node?)");
        }
        err
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Held>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn taking_over(&self) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        self.taking_over
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks `bot` as acted on here (a reconcile action stops and restarts its runner): until
    /// the guard drops, a round neither judges it idle nor hands it over.
    pub(crate) fn acting_on(self: &Arc<Self>, bot: Uuid) -> Acting {
        self.taking_over().insert(bot);
        Acting {
            ownership: self.clone(),
            bot,
        }
    }

    /// The end of a takeover or an action: a slow one must not count against the bot, which is
    /// idle only if no runner is live a TTL after it finished.
    fn done_acting(&self, bot: Uuid) {
        if let Some(h) = self.held().get_mut(&bot) {
            h.acquired = Instant::now();
        }
        self.taking_over().remove(&bot);
    }

    fn trusted(&self) -> bool {
        Instant::now()
            < *self
                .trusted_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fence_of(&self, bot_id: Uuid, epoch: i64) -> Fence {
        Fence {
            bot_id,
            node: self.name.clone(),
            epoch,
        }
    }

    /// How many times this node found its presence lost and stopped trusting its leases (each
    /// time at once, in the same step): a count, so a loss is seen even after the node has
    /// taken a new presence and renewed.
    pub fn presence_losses(&self) -> u64 {
        self.presence_losses.load(Ordering::Acquire)
    }

    /// The fence a runner writes with, while this node holds the bot and can trust its leases
    /// (self-fencing). `None`: do not act for this bot now.
    pub fn fence(&self, bot_id: Uuid) -> Option<Fence> {
        if !self.trusted() {
            self.fenced_ticks.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let epoch = self.held().get(&bot_id)?.epoch;
        Some(self.fence_of(bot_id, epoch))
    }

    /// The settings fingerprints of bots whose leases were just taken: the baseline a renewal
    /// compares with (a change made through another node before the first renewal is seen
    /// too). Unread (a database error): none, and the first renewal sets it.
    async fn settings_baselines(&self, bots: &[Uuid]) -> HashMap<Uuid, i64> {
        match bot_leases::settings_of(&self.pool, bots).await {
            Ok(map) => map,
            Err(err) => {
                tracing::warn!(error = %err, node = %self.name, "bot settings not read at lease time");
                HashMap::new()
            }
        }
    }

    /// Whether `fence` is still this node's trusted lease on its bot (no kill refenced it, no
    /// other node took it): a LIVE order's last look before it leaves, without a round trip.
    pub fn still_holds(&self, fence: &Fence) -> bool {
        self.trusted()
            && self
                .held()
                .get(&fence.bot_id)
                .is_some_and(|h| h.epoch == fence.epoch)
    }

    /// Whether the node held its presence throughout since it read `losses` (what it renewed
    /// meanwhile may be trusted).
    fn presence_kept_since(&self, losses: u64) -> bool {
        self.present.load(Ordering::Acquire) && self.presence_losses() == losses
    }

    fn ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.lease_ttl).unwrap_or(chrono::Duration::MAX)
    }
}

/// See [`Ownership::acting_on`].
pub(crate) struct Acting {
    ownership: Arc<Ownership>,
    bot: Uuid,
}

impl Drop for Acting {
    fn drop(&mut self) {
        self.ownership.done_acting(self.bot);
    }
}
