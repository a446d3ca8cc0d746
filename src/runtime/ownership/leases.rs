//! The per-bot lease calls the lifecycle and the runners make (acquire, re-fence, release,
//! lost), separate from the renewal loop that keeps those leases alive.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Instant;

use uuid::Uuid;

use super::{AcquireError, Held, Ownership};
use crate::store::bot_leases::{self, Fence};

impl Ownership {
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
                let settings = self
                    .settings_baselines(&[bot_id])
                    .await
                    .get(&bot_id)
                    .copied();
                self.held().insert(
                    bot_id,
                    Held {
                        epoch,
                        acquired: started,
                        seen_live: false,
                        settings,
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
        let ids: Vec<Uuid> = taken.iter().map(|(bot, _)| *bot).collect();
        let baselines = self.settings_baselines(&ids).await;
        let mut held = self.held();
        for (bot, epoch) in taken {
            held.insert(
                bot,
                Held {
                    epoch,
                    acquired: started,
                    seen_live: false,
                    settings: baselines.get(&bot).copied(),
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
                let settings = self
                    .settings_baselines(&[bot_id])
                    .await
                    .get(&bot_id)
                    .copied();
                self.held().insert(
                    bot_id,
                    Held {
                        epoch,
                        acquired: started,
                        seen_live: false,
                        settings,
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
}
