//! Takeover of bots whose leases this node claimed from another node (dead, stopped or
//! draining): safe start like a resume, with refusals written under the claimed lease.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use uuid::Uuid;

use super::{Lifecycle, LifecycleError};
use crate::{
    domain::bot::BotStatus,
    store::{
        bot_leases::{self, Fence},
        bots,
        system_events::{NewSystemEvent, Severity},
    },
};

impl Lifecycle {
    /// Takes over one bot whose lease this node just claimed ([`Lifecycle::take_over_batch`]).
    pub async fn take_over(&self, id: Uuid, from: Option<&str>) {
        self.take_over_batch(&[(id, from.map(str::to_owned))]).await;
    }

    /// Takes over bots whose leases this node just claimed (their node died, stopped or let
    /// them go), each with the node it came from: through safe start like a resume; INFO
    /// `BOT_TAKEN_OVER` naming the previous node.
    ///
    /// Batch-cheap, every bot still judged on its own facts: one read of the bots, one
    /// reading of what safe start checks (kill switch, verifications, trading switch) for the
    /// whole batch, each bot's own gates (latch, news filters, breaker) and runner start, then
    /// one status write for the bots that started (each fenced by the lease claimed for it)
    /// and one insert of the batch's events. A LIVE bot's runner still reconciles before its
    /// first order (the runner's own first evaluation does).
    ///
    /// A refusal (a safe-start gate, a KILLED latch, an open breaker) writes STOPPED under the
    /// lease this node claimed, in one fenced transaction, then lets the lease go (SEV-2
    /// `BOT_RESUME_REFUSED`): a node that lost the bot meanwhile (paused or cut off past the
    /// lease while another node took it over) writes nothing. A failure that says nothing
    /// about the bot (the database, the lease gone, a runner still here, the runtime shutting
    /// down) never stops it: the runner (if any) is stopped and the lease let go, so a node
    /// (maybe this one, next round) takes it over again.
    pub async fn take_over_batch(&self, claimed: &[(Uuid, Option<String>)]) {
        let ownership = self.runtime.ownership();
        let node = ownership.map(|o| o.name().to_owned());
        // The lease claimed for each takeover: every status it writes is fenced by it.
        let mut from: HashMap<Uuid, Option<&str>> = HashMap::new();
        let mut fences: HashMap<Uuid, Fence> = HashMap::new();
        for (id, previous) in claimed {
            if let Some(o) = ownership {
                let Some(fence) = o.held_fence(*id) else {
                    tracing::info!(bot = %id, "takeover: the lease is no longer held here; nothing to do");
                    continue;
                };
                fences.insert(*id, fence);
            }
            from.insert(*id, previous.as_deref());
        }
        if from.is_empty() {
            return;
        }
        let ids: Vec<Uuid> = from.keys().copied().collect();
        let bots = match bots::get_many(&self.pool, &ids).await {
            Ok(bots) => bots,
            Err(err) => {
                tracing::warn!(error = %err, bots = ids.len(), "takeover: cannot read the bots; letting their leases go");
                return self.release_all(&ids).await;
            }
        };
        if bots.len() < ids.len() {
            let found: HashSet<Uuid> = bots.iter().map(|b| b.id).collect();
            let gone: Vec<Uuid> = ids.into_iter().filter(|id| !found.contains(id)).collect();
            self.release_all(&gone).await;
        }
        let facts = match self.start_facts(bots.iter().map(|b| b.stage)).await {
            Ok(facts) => facts,
            Err(err) => {
                tracing::warn!(error = %err, bots = bots.len(), "takeover: cannot read the safe-start facts; letting the leases go for a retry");
                let ids: Vec<Uuid> = bots.iter().map(|b| b.id).collect();
                return self.release_all(&ids).await;
            }
        };
        let (started, failed) = self.start_batch(&bots, &facts).await;
        let mut refused = Vec::new();
        let mut retry = Vec::new();
        for (bot, busy, outcome) in failed {
            match outcome {
                Some(err) if !Self::retryable(&err) => refused.push((bot, err)),
                err => {
                    let code = err.as_ref().map(LifecycleError::code);
                    tracing::info!(bot = %bot.id, code = ?code, "takeover not done; letting the lease go for a retry");
                    if !busy {
                        self.runtime.release_runner(bot.id);
                    }
                    retry.push(bot.id);
                }
            }
        }
        self.release_all(&retry).await;
        let mut events = Vec::new();
        let running = match self.write_running(&started, &fences).await {
            Ok(running) => running,
            Err(err) => {
                tracing::warn!(error = %err, bots = started.len(), "takeover: could not write RUNNING; stopping the runners and letting the leases go");
                let ids: Vec<Uuid> = started.iter().map(|b| b.id).collect();
                for id in &ids {
                    self.runtime.release_runner(*id);
                }
                self.release_all(&ids).await;
                HashSet::new()
            }
        };
        for bot in started {
            let id = bot.id;
            if !running.contains(&id) {
                continue;
            }
            let stage = bot.stage;
            let previous = from.get(&id).copied().flatten();
            events.push(
                NewSystemEvent::new(
                    Severity::Info,
                    "BOT_TAKEN_OVER",
                    format!(
                        "bot {id} ({stage}) taken over by node {} from {}",
                        node.as_deref().unwrap_or("?"),
                        previous.unwrap_or("a released lease")
                    ),
                )
                .metadata(json!({ "stage": stage, "node": node, "from_node": previous }))
                .bot(id),
            );
        }
        for (bot, err) in refused {
            let (id, stage, code) = (bot.id, bot.stage, err.code());
            let fence = fences.get(&id);
            match self
                .write_status_fenced(fence, id, BotStatus::Stopped)
                .await
            {
                Ok(_) => {}
                Err(e) if bot_leases::is_stale(&e) => {
                    tracing::warn!(bot = %id, code = %code, "takeover refused, but another node holds the bot now: not stopped");
                    if let (Some(o), Some(f)) = (ownership, fence) {
                        o.lost(id, f.epoch);
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, bot = %id, code = %code, "takeover refused; could not write STOPPED, letting the lease go");
                    self.release(id).await;
                    continue;
                }
            }
            self.release(id).await;
            let previous = from.get(&id).copied().flatten();
            events.push(
                NewSystemEvent::new(
                    Severity::Sev2,
                    "BOT_RESUME_REFUSED",
                    format!(
                        "bot {id} ({stage}) could not be taken over by node {}: {code}",
                        node.as_deref().unwrap_or("?")
                    ),
                )
                .metadata(json!({
                    "stage": stage, "code": code, "message": err.message(),
                    "suggested_fix": err.suggested_fix(), "node": node, "from_node": previous,
                }))
                .bot(id),
            );
        }
        self.events(events).await;
    }

    /// Whether a takeover failed for a reason that says nothing about the bot: the database
    /// (or the lease) went away, or this process is shutting down.
    fn retryable(err: &LifecycleError) -> bool {
        matches!(
            err,
            LifecycleError::Database(_)
                | LifecycleError::OwnedElsewhere { .. }
                | LifecycleError::RuntimeUnavailable
        )
    }
}
