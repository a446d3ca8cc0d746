//! Claims of released and expired leases up to the node's fair share, the takeover of the
//! claimed bots, and hand-overs of bots above the share (drain, rebalance).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::task::JoinSet;
use uuid::Uuid;

use super::{Held, Ownership};
use crate::runtime::RuntimeHandle;
use crate::runtime::lifecycle::Lifecycle;
use crate::store::bot_leases::{self, Claimable, Fence};

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

impl Ownership {
    /// Lets `bots` go for other nodes to take (drain, rebalance): off this node's fence first
    /// (a tick in flight writes nothing), runners stopped, then the leases released. At no
    /// moment can two nodes act for one bot.
    pub(super) async fn hand_over(&self, handle: &RuntimeHandle, mut bots: Vec<Uuid>) {
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

    pub(super) fn stop_runners(&self, handle: &RuntimeHandle, bots: &[Uuid]) {
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
    pub(super) async fn claim(
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
        let ids: Vec<Uuid> = claimed.iter().map(|c| c.0).collect();
        let baselines = self.settings_baselines(&ids).await;
        {
            let mut map = self.held();
            for (bot, epoch, _) in &claimed {
                map.insert(
                    *bot,
                    Held {
                        epoch: *epoch,
                        acquired: started,
                        seen_live: true,
                        settings: baselines.get(bot).copied(),
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
