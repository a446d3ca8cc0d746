//! The renewal loop: each round's heartbeat, lease renewal and judgement of the held leases,
//! and the rescue of expired leases between rounds (claims and hand-overs: [`super::claims`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::Ownership;
use super::presence::Sightings;
use crate::runtime::RuntimeHandle;
use crate::store::bot_leases;
use crate::store::cluster_leases;
use crate::store::nodes::{self, Beat};
use crate::store::system_events::{NewSystemEvent, Severity};

/// Leases renewed per statement (and transaction): the longest a fenced write of this node
/// waits behind a renewal is one chunk's.
const RENEW_CHUNK: usize = 500;

impl Ownership {
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
        let losses = self.presence_losses();
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
        // The global trading and kill switches as the database holds them (flipped through
        // any node).
        match crate::store::settings::get(&self.pool).await {
            // Turned off through another node, which could cancel nothing of the bots held
            // here: their working LIVE orders are cancelled here.
            Ok(s) if handle.apply_trading_switch(&s) => {
                let held: Vec<Uuid> = self.held().keys().copied().collect();
                let by = s.updated_by.unwrap_or_else(|| "an operator".into());
                self.cancel_for_trading_off(handle, held, true, by);
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not read the trading switch"),
        }
        match crate::store::settings::kill_switch(&self.pool).await {
            Ok(k) => handle.apply_kill_switch(&k),
            Err(err) => tracing::warn!(error = %err, "could not read the kill switch"),
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
        // In chunks, each its own transaction: one statement over every lease held locked
        // them all until it committed, and every fenced write of the node (a PAPER batch, a
        // no-trade fold) waited behind it (1.6 s per renewal of 10,000 leases while they
        // traded).
        let mut renewed = Vec::with_capacity(held.len());
        for chunk in held.chunks(RENEW_CHUNK) {
            match bounded!(self, renewal, |db| bot_leases::renew(
                db,
                &self.name,
                chunk,
                now + self.ttl()
            )) {
                Ok(rows) => renewed.extend(rows),
                Err(err) => {
                    tracing::warn!(error = %err, node = %self.name, "lease renewal failed");
                    return;
                }
            }
        }
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
        let mut changed = Vec::new();
        let busy = self.taking_over().clone();
        {
            let mut map = self.held();
            map.retain(|bot, h| match renewed.get(bot) {
                _ if snapshot.get(bot) != Some(&h.epoch) => true,
                Some(r) if r.epoch == h.epoch => {
                    h.seen_live |= r.status.is_live();
                    if h.settings.is_some_and(|seen| seen != r.settings) {
                        changed.push(*bot);
                    }
                    h.settings = Some(r.settings);
                    // Stopped or killed by an operator (maybe through another node) …
                    let stopped = h.seen_live && !r.status.is_live();
                    // … or no runner here for a TTL (failed for good, killed, stopped).
                    let idle = h.acquired.elapsed() > self.config.lease_ttl
                        && !handle.runner(*bot).is_some_and(|s| s.status.is_live());
                    // A bot acted on here (a removal, a reconcile action) keeps its lease
                    // until the action is done, whatever its status.
                    if (stopped || idle) && !busy.contains(bot) {
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
        // A bot changed through another node (its trading switch, stage, limits): the API
        // told only that node's runners, so this node's runner re-reads its row now.
        for bot in changed.iter().filter(|b| !done.contains(b)) {
            handle.bot_changed(*bot).await;
        }
        // … and if its own trading switch was turned off, its working LIVE orders are
        // cancelled here (a bot acted on here already has its removal under way).
        let changed: Vec<Uuid> = changed
            .into_iter()
            .filter(|b| !done.contains(b) && !busy.contains(b))
            .collect();
        self.cancel_for_trading_off(handle, changed, false, "an operator".into());
        self.draining.store(draining, Ordering::Release);
        if draining {
            self.hand_over(handle, self.owned()).await;
        } else if self.claiming.load(Ordering::Acquire) {
            self.claim(handle, takeovers, false).await;
        }
    }

    /// Trading turned off through another node (globally, or the own switches of some of
    /// `bots`, re-read here): the working LIVE orders of `bots`, held here, are cancelled
    /// ([`safety::trading_off_here`](crate::runtime::safety::trading_off_here)) in the
    /// background, so a broker's cancels never hold a round up.
    fn cancel_for_trading_off(
        &self,
        handle: &RuntimeHandle,
        bots: Vec<Uuid>,
        global: bool,
        by: String,
    ) {
        if bots.is_empty() || !handle.trading_off_cancels() {
            return;
        }
        let (rt, pool) = (handle.clone(), self.pool.clone());
        tokio::spawn(async move {
            let mut off = Vec::with_capacity(bots.len());
            if global {
                off = bots;
            } else {
                for bot in bots {
                    match crate::store::bots::get(&pool, bot).await {
                        Ok(Some(b)) if !b.is_trading_enabled => off.push(bot),
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(bot = %bot, error = %e, "bot not read after a change")
                        }
                    }
                }
            }
            if off.is_empty() {
                return;
            }
            match crate::runtime::safety::trading_off_here(&rt, &pool, &off, global, &by).await {
                Ok(done) if !done.removals.is_empty() => tracing::info!(
                    bots = done.removals.len(),
                    "trading turned off through another node: working LIVE orders cancelled here"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "working LIVE orders not cancelled after trading was turned off through another node")
                }
            }
        });
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
}
