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
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinSet;
use utoipa::ToSchema;
use uuid::Uuid;

mod presence;
mod view;

pub use view::{NodeState, NodeView, drain_node, host_name, list_nodes};

use self::presence::{Presence, Sightings};
use super::RuntimeHandle;
use super::lifecycle::Lifecycle;
use crate::clock::Clock;
use crate::store::bot_leases::{self, Claimable, Fence};
use crate::store::cluster_leases;
use crate::store::nodes::{self, Beat, NodeRegistration};
use crate::store::system_events::{NewSystemEvent, Severity};

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

/// How many claimed bots a node takes over in one batch (one bots read, one safe-start
/// reading, one status write and one events insert per batch; runners started a few at a
/// time): the takeovers run beside the renewal rounds, so the leases they need stay renewed.
const TAKEOVER_BATCH: usize = 64;

/// Batches taken over at once: a batch mostly waits on its database round trips, so two
/// overlap one's waits with the other's runner starts.
const TAKEOVERS_AT_ONCE: usize = 2;

/// How many bots a node above its share hands over per round: a tenth of what it holds, at
/// least one.
fn max_moves(held: usize) -> usize {
    (held / 10).max(1)
}

/// A lease this node holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    epoch: i64,
    acquired: Instant,
    /// The bot's row said it should run at a renewal since (a later non-live status is an
    /// operator's stop or kill, possibly through another node).
    seen_live: bool,
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

    /// Whether the node held its presence throughout since it read `losses` (what it renewed
    /// meanwhile may be trusted).
    fn presence_kept_since(&self, losses: u64) -> bool {
        self.present.load(Ordering::Acquire)
            && self.presence_losses.load(Ordering::Acquire) == losses
    }

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
    async fn hold_leadership(&self, started: Instant, now: DateTime<Utc>, losses: u64) {
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
    async fn give_up_leadership(&self) {
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

    /// Bots whose lease this node holds.
    pub fn owned(&self) -> Vec<Uuid> {
        self.held().keys().copied().collect()
    }

    /// Takes the bot's lease for this node (kept if already held here): refused while another
    /// node holds an unexpired one.
    pub async fn acquire(&self, bot_id: Uuid) -> Result<Fence, AcquireError> {
        // Held already (a takeover's start): no wait behind other acquisitions.
        if let Some(fence) = self.held_fence(bot_id) {
            return Ok(fence);
        }
        let _one = self.acquiring.lock().await;
        if let Some(h) = self.held().get(&bot_id).copied() {
            return Ok(self.fence_of(bot_id, h.epoch));
        }
        let now = self.clock.now();
        let started = Instant::now();
        match bounded!(self, |db| bot_leases::acquire(
            db,
            bot_id,
            &self.name,
            now,
            now + self.ttl()
        ))? {
            Some(epoch) => {
                self.held().insert(
                    bot_id,
                    Held {
                        epoch,
                        acquired: started,
                        seen_live: false,
                    },
                );
                Ok(self.fence_of(bot_id, epoch))
            }
            None => {
                let (node, expires_at) = bot_leases::holder(&self.pool, bot_id)
                    .await?
                    .unwrap_or_else(|| ("unknown".into(), now));
                Err(AcquireError::HeldElsewhere {
                    bot_id,
                    node,
                    expires_at,
                })
            }
        }
    }

    /// [`Ownership::acquire`] for many bots in one statement (a resume batch): answers the
    /// bots whose lease this node holds now (taken, or held already); the others are held by
    /// another node. A lock wait past the bound (a row a paused node's write holds) fails the
    /// statement: the caller then acquires one by one.
    pub async fn acquire_many(&self, bots: &[Uuid]) -> Result<HashSet<Uuid>, sqlx::Error> {
        let _one = self.acquiring.lock().await;
        let mut mine: HashSet<Uuid> = HashSet::new();
        let wanted: Vec<Uuid> = {
            let held = self.held();
            bots.iter()
                .copied()
                .filter(|b| {
                    let here = held.contains_key(b);
                    if here {
                        mine.insert(*b);
                    }
                    !here
                })
                .collect()
        };
        if wanted.is_empty() {
            return Ok(mine);
        }
        let now = self.clock.now();
        let started = Instant::now();
        let taken = bounded!(self, |db| bot_leases::acquire_many(
            db,
            &wanted,
            &self.name,
            now,
            now + self.ttl()
        ))?;
        let mut held = self.held();
        for (bot, epoch) in taken {
            held.insert(
                bot,
                Held {
                    epoch,
                    acquired: started,
                    seen_live: false,
                },
            );
            mine.insert(bot);
        }
        Ok(mine)
    }

    /// Takes the bot's lease with a NEW epoch (bumped in place when this node holds it, else
    /// acquired like [`Ownership::acquire`]): every write still carrying an older epoch (a
    /// runner being killed, on this node or another) is refused from now on. What a kill
    /// writes its cancels and flatten with. Refused while another node holds an unexpired lease.
    pub async fn refence(&self, bot_id: Uuid) -> Result<Fence, AcquireError> {
        let _one = self.acquiring.lock().await;
        let now = self.clock.now();
        let started = Instant::now();
        let held = self.held().get(&bot_id).copied();
        if held.is_some() {
            match bounded!(self, |db| bot_leases::bump(
                db,
                bot_id,
                &self.name,
                now,
                now + self.ttl()
            ))? {
                Some(epoch) => {
                    if let Some(h) = self.held().get_mut(&bot_id) {
                        h.epoch = epoch;
                        h.acquired = started;
                    }
                    return Ok(self.fence_of(bot_id, epoch));
                }
                // Lost meanwhile (taken over): forget it and acquire like anyone.
                None => {
                    self.held().remove(&bot_id);
                }
            }
        }
        match bounded!(self, |db| bot_leases::acquire(
            db,
            bot_id,
            &self.name,
            now,
            now + self.ttl()
        ))? {
            Some(epoch) => {
                self.held().insert(
                    bot_id,
                    Held {
                        epoch,
                        acquired: started,
                        seen_live: false,
                    },
                );
                Ok(self.fence_of(bot_id, epoch))
            }
            None => {
                let (node, expires_at) = bot_leases::holder(&self.pool, bot_id)
                    .await?
                    .unwrap_or_else(|| ("unknown".into(), now));
                Err(AcquireError::HeldElsewhere {
                    bot_id,
                    node,
                    expires_at,
                })
            }
        }
    }

    /// The fence of the bot's lease as this node holds it, trusted or not: what a lifecycle
    /// write for a bot this node claimed carries (the database refuses it once another node
    /// took the bot). `None`: not held here.
    pub fn held_fence(&self, bot_id: Uuid) -> Option<Fence> {
        let epoch = self.held().get(&bot_id)?.epoch;
        Some(self.fence_of(bot_id, epoch))
    }

    /// Whether this node holds the bot's lease now.
    pub fn holds(&self, bot_id: Uuid) -> bool {
        self.held().contains_key(&bot_id)
    }

    /// Lets the bot's lease go (stop, kill, a refused start). Nothing when not held here.
    pub async fn release(&self, bot_id: Uuid) {
        let Some(h) = self.held().remove(&bot_id) else {
            return;
        };
        if let Err(err) = bot_leases::release(
            &self.pool,
            &self.fence_of(bot_id, h.epoch),
            self.clock.now(),
        )
        .await
        {
            tracing::warn!(error = %err, bot = %bot_id, "could not release the bot's lease; it expires after the TTL");
        }
    }

    /// A runner's write was refused as stale: the lease is gone, forget it (the runner stops).
    pub fn lost(&self, bot_id: Uuid, epoch: i64) {
        let mut held = self.held();
        if held.get(&bot_id).is_some_and(|h| h.epoch == epoch) {
            held.remove(&bot_id);
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// From now on the node takes over released and expired leases (called once it resumed the
    /// bots it ran before).
    pub fn start_claiming(&self) {
        self.claiming.store(true, Ordering::Release);
    }

    fn ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.lease_ttl).unwrap_or(chrono::Duration::MAX)
    }

    /// The renewal loop; ends when `stop` turns true, then releases every lease (the other
    /// nodes take the bots at once, not after the TTL) and marks the node stopped.
    pub fn spawn(
        self: &Arc<Self>,
        handle: RuntimeHandle,
        mut stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let presence = self
            .presence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        tokio::spawn(async move {
            // Dropped last (below), which frees the lock once everything is released.
            let presence = tokio::spawn(me.clone().keep_presence(presence));
            let mut sightings = Sightings::default();
            let mut every = tokio::time::interval(me.config.renew_every());
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut rescue = tokio::time::interval(me.config.rescue_every());
            rescue.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut takeovers = JoinSet::new();
            loop {
                while takeovers.try_join_next().is_some() {}
                let round = tokio::select! {
                    _ = every.tick() => Some(true),
                    _ = rescue.tick() => Some(false),
                    _ = me.presence_back.notified() => Some(true),
                    _ = stop.wait_for(|s| *s) => None,
                };
                match round {
                    None => break,
                    Some(true) => me.round(&handle, &mut takeovers).await,
                    Some(false) => me.rescue(&handle, &mut takeovers, &mut sightings).await,
                }
            }
            // Takeovers under way stop here (their leases are released below with the rest).
            takeovers.abort_all();
            while takeovers.join_next().await.is_some() {}
            me.held().clear();
            *me.leader_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
            if let Err(err) =
                cluster_leases::release(&me.pool, cluster_leases::LEADER, &me.name).await
            {
                tracing::warn!(error = %err, node = %me.name, "could not release the leader lease");
            }
            if let Err(err) = bot_leases::release_all(&me.pool, &me.name, me.clock.now()).await {
                tracing::warn!(error = %err, node = %me.name, "could not release this node's leases");
            }
            if let Err(err) =
                nodes::stopped(&me.pool, &me.name, me.incarnation, me.clock.now()).await
            {
                tracing::warn!(error = %err, node = %me.name, "could not mark the node stopped");
            }
            presence.abort();
        })
    }

    /// One round: heartbeat, renewal, then claims.
    async fn round(self: &Arc<Self>, handle: &RuntimeHandle, takeovers: &mut JoinSet<()>) {
        // Without its presence the node renews nothing: another node may be expiring its
        // leases, and it trusts none until it holds a new presence.
        let losses = self.presence_losses.load(Ordering::Acquire);
        if !self.present.load(Ordering::Acquire) {
            return;
        }
        let started = Instant::now();
        let now = self.clock.now();
        let draining = match nodes::heartbeat(&self.pool, &self.name, self.incarnation, now).await {
            Ok(Beat::Alive) => false,
            Ok(Beat::Draining) => true,
            // A newer process runs under this name: every bot it takes gets a new epoch, so
            // this one's runners for those are fenced off and stopped below as lost.
            Ok(Beat::Superseded) => {
                tracing::warn!(
                    node = %self.name,
                    "another process registered under this node's name"
                );
                false
            }
            Err(err) => {
                tracing::warn!(error = %err, node = %self.name, "node heartbeat failed");
                return;
            }
        };
        // The global trading switch as the database holds it (flipped through any node).
        match crate::store::settings::get(&self.pool).await {
            Ok(s) => handle.apply_trading_switch(&s),
            Err(err) => tracing::warn!(error = %err, "could not read the trading switch"),
        }
        // What this round judges: a lease acquired (or re-acquired) while it runs is not in
        // this snapshot and waits for the next round, never mistaken for a lost one.
        let snapshot: HashMap<Uuid, i64> = self.held().iter().map(|(b, h)| (*b, h.epoch)).collect();
        let held: Vec<Uuid> = snapshot.keys().copied().collect();
        // A renewal waits for this node's own fenced writes on its rows (they share-lock
        // them; a no-trade batch holds many at once): only the statement is bounded.
        let renewal = bot_leases::Bounds {
            lock: self.bounds.statement,
            ..self.bounds
        };
        let renewed = match bounded!(self, renewal, |db| bot_leases::renew(
            db,
            &self.name,
            &held,
            now + self.ttl()
        )) {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, node = %self.name, "lease renewal failed");
                return;
            }
        };
        if !self.presence_kept_since(losses) {
            return;
        }
        *self
            .trusted_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = started
            + self
                .config
                .lease_ttl
                .saturating_sub(self.config.skew_margin());
        if draining {
            self.give_up_leadership().await;
        } else {
            self.hold_leadership(started, now, losses).await;
        }
        let renewed: HashMap<Uuid, &bot_leases::Renewed> =
            renewed.iter().map(|r| (r.bot_id, r)).collect();
        let mut lost = Vec::new();
        let mut done = Vec::new();
        let busy = self.taking_over().clone();
        {
            let mut map = self.held();
            map.retain(|bot, h| match renewed.get(bot) {
                _ if snapshot.get(bot) != Some(&h.epoch) => true,
                Some(r) if r.epoch == h.epoch => {
                    h.seen_live |= r.status.is_live();
                    // Stopped or killed by an operator (maybe through another node) …
                    let stopped = h.seen_live && !r.status.is_live();
                    // … or no runner here for a TTL (failed for good, killed, stopped).
                    let idle = !busy.contains(bot)
                        && h.acquired.elapsed() > self.config.lease_ttl
                        && !handle.runner(*bot).is_some_and(|s| s.status.is_live());
                    if stopped || idle {
                        done.push((*bot, h.epoch));
                        false
                    } else {
                        true
                    }
                }
                // Another node took it.
                _ => {
                    lost.push(*bot);
                    false
                }
            });
        }
        if !lost.is_empty() {
            self.lost.fetch_add(lost.len() as u64, Ordering::Relaxed);
            tracing::warn!(node = %self.name, bots = lost.len(), "leases taken by another node; stopping their runners");
            self.stop_runners(handle, &lost);
        }
        for (bot, epoch) in &done {
            if let Err(err) =
                bot_leases::release(&self.pool, &self.fence_of(*bot, *epoch), self.clock.now())
                    .await
            {
                tracing::warn!(error = %err, bot = %bot, "could not release a stopped bot's lease");
            }
        }
        let done: Vec<Uuid> = done.into_iter().map(|(b, _)| b).collect();
        self.stop_runners(handle, &done);
        self.draining.store(draining, Ordering::Release);
        if draining {
            self.hand_over(handle, self.owned()).await;
        } else if self.claiming.load(Ordering::Acquire) {
            self.claim(handle, takeovers, false).await;
        }
    }

    /// Between rounds: when a lease of a bot that should run has expired (its node died,
    /// paused or lost the database), rescue it now rather than at the next round, so a bot
    /// waits at most [`OwnershipConfig::rescue_every`] after its lease ran out. A node found
    /// gone (its presence lock free on two looks [`OwnershipConfig::gone_after`] apart) has
    /// its leases expired first, so its bots wait for no TTL. Only while this node claims, is
    /// not draining and can trust its own leases.
    async fn rescue(
        self: &Arc<Self>,
        handle: &RuntimeHandle,
        takeovers: &mut JoinSet<()>,
        sightings: &mut Sightings,
    ) {
        if !self.claiming.load(Ordering::Acquire)
            || self.draining.load(Ordering::Acquire)
            || !self.trusted()
        {
            return;
        }
        self.expire_gone_nodes(handle, sightings).await;
        match bot_leases::orphaned(&self.pool, self.clock.now()).await {
            Ok(true) => self.claim(handle, takeovers, true).await,
            Ok(false) => {}
            Err(err) => tracing::debug!(error = %err, "could not look for orphaned leases"),
        }
    }

    /// Expires the leases of the nodes confirmed gone (see [`presence`]), with a `NODE_LOST`
    /// event each.
    async fn expire_gone_nodes(&self, handle: &RuntimeHandle, sightings: &mut Sightings) {
        let gone = match nodes::without_presence(&self.pool, &self.name).await {
            Ok(gone) => gone,
            Err(err) => {
                tracing::debug!(error = %err, "could not look for nodes without presence");
                return;
            }
        };
        let confirmed = sightings.confirmed(gone, self.config.gone_after(), Instant::now());
        for (node, key) in confirmed {
            let now = self.clock.now();
            match bounded!(self, |db| nodes::expire_gone(db, &node, key, now)) {
                Ok(Some(leases)) => {
                    tracing::warn!(node = %node, leases, "node gone (its session ended): its leases expired for rescue");
                    handle.telemetry().system_event(
                        NewSystemEvent::new(
                            Severity::Sev2,
                            "NODE_LOST",
                            format!(
                                "node {node} is gone (its database session ended): {leases} bot lease(s) expired for the other nodes to rescue, found by node {}",
                                self.name
                            ),
                        )
                        .metadata(serde_json::json!({ "node": node, "leases_expired": leases, "found_by": &*self.name })),
                    );
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %err, node = %node, "could not expire a gone node's leases")
                }
            }
        }
    }

    /// Lets `bots` go for other nodes to take (drain, rebalance): off this node's fence first
    /// (a tick in flight writes nothing), runners stopped, then the leases released. At no
    /// moment can two nodes act for one bot.
    async fn hand_over(&self, handle: &RuntimeHandle, mut bots: Vec<Uuid>) {
        {
            // A takeover under way finishes first; the bot goes in a later round.
            let busy = self.taking_over();
            bots.retain(|b| !busy.contains(b));
        }
        let fences: Vec<Fence> = {
            let mut map = self.held();
            bots.iter()
                .filter_map(|b| map.remove(b).map(|h| self.fence_of(*b, h.epoch)))
                .collect()
        };
        if fences.is_empty() {
            return;
        }
        self.stop_runners(handle, &bots);
        for fence in &fences {
            if let Err(err) = bot_leases::release(&self.pool, fence, self.clock.now()).await {
                tracing::warn!(error = %err, bot = %fence.bot_id, "could not hand a bot over; its lease expires instead");
            }
        }
        self.handed_over
            .fetch_add(fences.len() as u64, Ordering::Relaxed);
        tracing::info!(node = %self.name, bots = fences.len(), "bots handed over to other nodes");
    }

    fn stop_runners(&self, handle: &RuntimeHandle, bots: &[Uuid]) {
        for bot in bots {
            handle.release_runner(*bot);
        }
    }

    /// Claims released and expired leases up to this node's share of the running bots
    /// (weighted by capacity over the nodes beating now, [`OwnershipConfig::counted_within`])
    /// and takes their bots over. Expired leases (orphans: their node died, paused or lost the
    /// database) are rescued beyond the share: a bot waits for nothing. What a round finds
    /// above the share, rescued or held, it hands over, a bounded number per round, to the
    /// nodes below theirs (one is, as the shares of the beating nodes cover every bot).
    ///
    /// `rescue_only` (between rounds): expired leases only, no claim of released ones and no
    /// hand-over (the rounds do those).
    async fn claim(
        self: &Arc<Self>,
        handle: &RuntimeHandle,
        takeovers: &mut JoinSet<()>,
        rescue_only: bool,
    ) {
        let now = self.clock.now();
        let counted_since = now
            - chrono::Duration::from_std(self.config.counted_within())
                .unwrap_or(chrono::Duration::MAX);
        let (total, capacity) = match bot_leases::share(&self.pool, counted_since).await {
            Ok(v) => v,
            Err(err) => {
                tracing::warn!(error = %err, "could not read the cluster's share");
                return;
            }
        };
        let mine = i64::from(self.config.capacity.max(1));
        let fair = (total * mine + capacity.max(mine) - 1) / capacity.max(mine);
        let held = self.owned();
        let want = fair - i64::try_from(held.len()).unwrap_or(i64::MAX);
        let _one = self.acquiring.lock().await;
        let started = Instant::now();
        let mut claimed = match bounded!(self, |db| bot_leases::claim(
            db,
            &self.name,
            &held,
            now,
            now + self.ttl(),
            total.max(1),
            Claimable::Expired,
        )) {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(error = %err, "lease rescue failed");
                return;
            }
        };
        let more = want - i64::try_from(claimed.len()).unwrap_or(i64::MAX);
        if more > 0 && !rescue_only {
            let mut mine: Vec<Uuid> = held.clone();
            mine.extend(claimed.iter().map(|c| c.0));
            match bounded!(self, |db| bot_leases::claim(
                db,
                &self.name,
                &mine,
                now,
                now + self.ttl(),
                more,
                Claimable::Free,
            )) {
                Ok(c) => claimed.extend(c),
                Err(err) => tracing::warn!(error = %err, "lease claim failed"),
            }
        }
        {
            let mut map = self.held();
            for (bot, epoch, _) in &claimed {
                map.insert(
                    *bot,
                    Held {
                        epoch: *epoch,
                        acquired: started,
                        seen_live: true,
                    },
                );
            }
        }
        drop(_one);
        let excess = i64::try_from(held.len() + claimed.len()).unwrap_or(i64::MAX) - fair;
        if excess > 0 && !rescue_only {
            // Above its share (a node joined, capacities changed, or this node rescued a
            // struggling node's bots): hand a bounded number over per round, so a new node
            // fills up without the fleet moving at once. Even in a round that rescued: a node
            // rescuing every round would otherwise never hand anything over.
            let moves = usize::try_from(excess)
                .unwrap_or(usize::MAX)
                .min(max_moves(held.len()));
            self.hand_over(handle, held.iter().rev().take(moves).copied().collect())
                .await;
        }
        self.claimed
            .fetch_add(claimed.len() as u64, Ordering::Relaxed);
        if claimed.is_empty() {
            return;
        }
        // Taken over beside the rounds (which keep renewing these leases), at most
        // TAKEOVER_BATCH at a time; each bot is tracked until its batch ends.
        self.taking_over().extend(claimed.iter().map(|c| c.0));
        let me = self.clone();
        let handle = handle.clone();
        takeovers.spawn(async move {
            let lifecycle = Lifecycle::new(me.pool.clone(), handle.clone(), handle.integrations());
            let claimed: Vec<(Uuid, Option<String>)> = claimed
                .into_iter()
                .map(|(bot, _, from)| (bot, from))
                .collect();
            use futures::StreamExt as _;
            futures::stream::iter(claimed.chunks(TAKEOVER_BATCH))
                .for_each_concurrent(TAKEOVERS_AT_ONCE, |batch| {
                    let (lifecycle, me) = (&lifecycle, &me);
                    async move {
                        lifecycle.take_over_batch(batch).await;
                        for (bot, _) in batch {
                            me.done_acting(*bot);
                        }
                    }
                })
                .await;
        });
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
