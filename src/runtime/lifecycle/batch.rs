//! What resume and takeover share: a batch's gates and runner starts, its status writes under
//! the leases held for it, and its events written in one insert.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use uuid::Uuid;

use super::safe_start::StartFacts;
use super::{Lifecycle, LifecycleError};
use crate::runtime::RunnerOptions;
use crate::{
    domain::{bot::BotStatus, risk::Stage},
    store::{
        bot_leases::Fence,
        bots::{self, Bot},
        system_events::{self, NewSystemEvent},
    },
};

/// How many runners a resume or takeover batch starts at once.
const RUNNER_STARTS_AT_ONCE: usize = 16;

impl Lifecycle {
    /// Each bot's own gates on facts read for its batch, then, for the bots that pass, what
    /// their runners load read for all of them at once and the runners started a few at a
    /// time: the bots whose runner started, and the others with whether a runner of theirs
    /// was still here (`busy`, not started again) and why not (`None`: busy).
    #[allow(clippy::type_complexity)]
    pub(super) async fn start_batch<'b>(
        &self,
        bots: &'b [Bot],
        facts: &StartFacts,
    ) -> (Vec<&'b Bot>, Vec<(&'b Bot, bool, Option<LifecycleError>)>) {
        let mut failed = Vec::new();
        let mut ready = Vec::new();
        for bot in bots {
            // A runner of this bot still here (stopping after an earlier loss).
            if self
                .runtime
                .runner(bot.id)
                .is_some_and(|r| r.status.is_live())
            {
                failed.push((bot, true, None));
            } else if let Err(err) = self.gates(bot, facts) {
                failed.push((bot, false, Some(err)));
            } else {
                ready.push(bot);
            }
        }
        if ready.is_empty() {
            return (Vec::new(), failed);
        }
        let ids: Vec<Uuid> = ready.iter().map(|b| b.id).collect();
        let rows: Vec<Bot> = ready.iter().map(|b| (*b).clone()).collect();
        if let Err(err) = self.runtime.preload_runners(&rows).await {
            // Each runner reads its own then.
            tracing::warn!(error = %err, bots = ids.len(), "could not read the batch's runner state at once");
        }
        // Futures collected first: a closure in the stream would not be general enough for
        // the spawned takeover task.
        let starts: Vec<_> = ready.iter().map(|bot| self.start_one(bot)).collect();
        let outcomes: Vec<(&Bot, Result<(), LifecycleError>)> = futures::stream::iter(starts)
            .buffer_unordered(RUNNER_STARTS_AT_ONCE)
            .collect()
            .await;
        self.runtime.forget_preloaded(&ids);
        let mut started = Vec::new();
        for (bot, outcome) in outcomes {
            match outcome {
                Ok(()) => started.push(bot),
                Err(err) => failed.push((bot, false, Some(err))),
            }
        }
        (started, failed)
    }

    async fn start_one<'b>(&self, bot: &'b Bot) -> (&'b Bot, Result<(), LifecycleError>) {
        let started = self
            .runtime
            .start_runner(
                bot.id,
                RunnerOptions {
                    timeframe: bot.timeframe,
                    live: bot.stage == Stage::Live,
                },
            )
            .await
            .map_err(|e| LifecycleError::of_runtime(e, bot));
        (bot, started)
    }

    /// Safe start of one bot of a batch on the facts read for it: its latch, its stage's
    /// prerequisites with its own trading switch, its filters' needs.
    fn gates(&self, bot: &Bot, facts: &StartFacts) -> Result<(), LifecycleError> {
        Self::refuse_killed(bot)?;
        let mut failures = self.failures_with(facts, bot.stage, bot.is_trading_enabled);
        failures.extend(self.filter_failures(bot, bot.stage));
        match failures.into_iter().next() {
            Some(first) => Err(LifecycleError::Unsafe(first)),
            None => Ok(()),
        }
    }

    /// `status` for `bots` in one statement in the runtime's status turn, each under this
    /// node's lease in `fences` (without ownership: unfenced): a bot another node holds now is
    /// not written. Answers the bots written.
    pub(super) async fn write_statuses(
        &self,
        bots: &[Bot],
        fences: &HashMap<Uuid, Fence>,
        status: BotStatus,
    ) -> Result<HashSet<Uuid>, sqlx::Error> {
        if bots.is_empty() {
            return Ok(HashSet::new());
        }
        let now = self.clock().now();
        let _turn = self.runtime.status_turn().await;
        let written = match self.runtime.ownership() {
            Some(o) => {
                let held: Vec<(Uuid, i64)> = bots
                    .iter()
                    .filter_map(|b| fences.get(&b.id).map(|f| (b.id, f.epoch)))
                    .collect();
                bots::set_status_fenced_many(&self.pool, o.name(), &held, status, now).await?
            }
            None => {
                let ids: Vec<Uuid> = bots.iter().map(|b| b.id).collect();
                bots::set_status_many(&self.pool, &ids, status, now).await?
            }
        };
        Ok(written.into_iter().collect())
    }

    /// RUNNING for the bots whose runners a batch started ([`Lifecycle::write_statuses`]): a
    /// bot another node took meanwhile is not written, and its runner here stops (the lease
    /// is forgotten). Answers the bots written.
    pub(super) async fn write_running(
        &self,
        bots: &[&Bot],
        fences: &HashMap<Uuid, Fence>,
    ) -> Result<HashSet<Uuid>, sqlx::Error> {
        let owned: Vec<Bot> = bots.iter().map(|b| (*b).clone()).collect();
        let written = self
            .write_statuses(&owned, fences, BotStatus::Running)
            .await?;
        for bot in bots {
            if written.contains(&bot.id) {
                continue;
            }
            tracing::warn!(bot = %bot.id, "another node holds the bot now; stopping its runner here");
            self.runtime.release_runner(bot.id);
            if let (Some(o), Some(f)) = (self.runtime.ownership(), fences.get(&bot.id)) {
                o.lost(bot.id, f.epoch);
            }
        }
        Ok(written)
    }

    pub(super) async fn release_all(&self, ids: &[Uuid]) {
        for id in ids {
            self.release(*id).await;
        }
    }

    /// Writes a batch's events in one insert and publishes them on the live stream; a failed
    /// write is logged (recording events never fails the action they describe).
    pub(super) async fn events(&self, events: Vec<NewSystemEvent>) {
        if events.is_empty() {
            return;
        }
        let now = self.clock().now();
        let bus = self.runtime.bus();
        let stamped: Vec<_> = events
            .into_iter()
            .map(|mut e| {
                if e.node_id.is_none() {
                    e.node_id = bus.node().map(str::to_owned);
                }
                e.stamp(now)
            })
            .collect();
        match system_events::insert_many(&self.pool, &stamped).await {
            Ok(_) => {
                for e in &stamped {
                    bus.publish_system_event(&e.to_row());
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, events = stamped.len(), "could not record system events")
            }
        }
    }
}
