//! Resume after a process restart: the bots that were running come back only through safe
//! start, a batch at a time, under leases this node takes for them.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{Lifecycle, LifecycleError};
use crate::runtime::RuntimeError;
use crate::{
    domain::bot::BotStatus,
    error_code::ErrorCode,
    store::{
        bot_leases::{self, Fence},
        bots::{self, Bot},
        system_events::{NewSystemEvent, Severity},
    },
};

/// How many bots a resume handles per batch (one bots read, one status write per status,
/// one safe-start reading and one events insert each).
const START_BATCH: usize = 64;

/// What [`Lifecycle::resume_after_restart`] did.
#[derive(Debug, Default, Serialize)]
pub struct ResumeReport {
    pub resumed: Vec<Uuid>,
    /// Running on another node (which holds an unexpired lease): left alone.
    pub owned_elsewhere: Vec<Uuid>,
    /// Bot and the code of the gate that refused it.
    pub refused: Vec<(Uuid, ErrorCode)>,
}

impl Lifecycle {
    /// After a process restart: every bot whose row says a runner was up comes back only
    /// through safe start (so LIVE never resumes without passing every gate again). A refused
    /// bot is left STOPPED with a SEV-2 `BOT_RESUME_REFUSED` event naming the gate; a KILLED
    /// one stays KILLED.
    ///
    /// With several nodes on one database, a bot another node holds an unexpired lease on is
    /// that node's (listed in `owned_elsewhere`, untouched). Once done, this node starts taking
    /// over released and expired leases.
    pub async fn resume_after_restart(&self) -> Result<ResumeReport, sqlx::Error> {
        let mut report = ResumeReport::default();
        let ids = bots::active_ids(&self.pool).await?;
        for chunk in ids.chunks(START_BATCH) {
            self.resume_batch(chunk, &mut report).await?;
        }
        if let Some(ownership) = self.runtime.ownership() {
            ownership.start_claiming();
        }
        Ok(report)
    }

    /// [`Lifecycle::resume_after_restart`] for some of the bots: leases taken one by one, then
    /// one bots read, one STOPPED write, one safe-start reading, the runners, one RUNNING
    /// write and one events insert for the batch.
    async fn resume_batch(
        &self,
        ids: &[Uuid],
        report: &mut ResumeReport,
    ) -> Result<(), sqlx::Error> {
        let ownership = self.runtime.ownership();
        let mut mine = Vec::new();
        let rows = bots::get_many(&self.pool, ids).await?;
        // The batch's leases in one statement; a locked row (a paused node's write) fails it,
        // then one by one below.
        let taken = match ownership {
            Some(o) => {
                let ids: Vec<Uuid> = rows.iter().map(|b| b.id).collect();
                match o.acquire_many(&ids).await {
                    Ok(taken) => Some(taken),
                    Err(e) if bot_leases::is_timeout(&e) => None,
                    Err(e) => return Err(e),
                }
            }
            None => None,
        };
        for bot in rows {
            if let Some(taken) = &taken {
                if taken.contains(&bot.id) {
                    mine.push(bot);
                } else {
                    report.owned_elsewhere.push(bot.id);
                }
                continue;
            }
            match self.acquire(&bot).await {
                Ok(()) => mine.push(bot),
                Err(LifecycleError::OwnedElsewhere { .. }) => report.owned_elsewhere.push(bot.id),
                // Its lease row is locked (a paused node's write): left to the rescue that
                // claims it once the lock and the lease are gone; the start goes on.
                Err(LifecycleError::Database(e)) if bot_leases::is_timeout(&e) => {
                    report.owned_elsewhere.push(bot.id);
                }
                Err(LifecycleError::Database(e)) => return Err(e),
                Err(_) => mine.push(bot),
            }
        }
        // STOPPED under the leases just taken: a node paused here past them writes nothing,
        // and a bot another node took meanwhile is left to it.
        let fences: HashMap<Uuid, Fence> = mine
            .iter()
            .filter_map(|b| {
                ownership
                    .and_then(|o| o.held_fence(b.id))
                    .map(|f| (b.id, f))
            })
            .collect();
        let stopped = self
            .write_statuses(&mine, &fences, BotStatus::Stopped)
            .await?;
        let mut bots = Vec::new();
        for mut bot in mine {
            if stopped.contains(&bot.id) {
                bot.status = BotStatus::Stopped;
                bots.push(bot);
            } else {
                if let (Some(o), Some(f)) = (ownership, fences.get(&bot.id)) {
                    o.lost(bot.id, f.epoch);
                }
                report.owned_elsewhere.push(bot.id);
            }
        }
        let facts = self.start_facts(bots.iter().map(|b| b.stage)).await?;
        let (started, failed) = self.start_batch(&bots, &facts).await;
        let mut failed: Vec<(&Bot, LifecycleError)> = failed
            .into_iter()
            .map(|(bot, _, err)| {
                let err = err.unwrap_or_else(|| {
                    LifecycleError::of_runtime(RuntimeError::AlreadyRunning(bot.id), bot)
                });
                (bot, err)
            })
            .collect();
        let mut events = Vec::new();
        match self.write_running(&started, &fences).await {
            Ok(running) => {
                for bot in started {
                    if !running.contains(&bot.id) {
                        report.owned_elsewhere.push(bot.id);
                        continue;
                    }
                    report.resumed.push(bot.id);
                    let (id, stage) = (bot.id, bot.stage);
                    events.push(
                        NewSystemEvent::new(
                            Severity::Info,
                            "BOT_RESUMED",
                            format!("bot {id} ({stage}) resumed after restart"),
                        )
                        .metadata(json!({ "stage": stage }))
                        .bot(id),
                    );
                }
            }
            Err(e) => {
                let code = LifecycleError::Database(e).code();
                for bot in started {
                    report.refused.push((bot.id, code));
                    self.release(bot.id).await;
                }
            }
        }
        for (bot, err) in failed.drain(..) {
            let (id, stage, code) = (bot.id, bot.stage, err.code());
            report.refused.push((id, code));
            self.release(id).await;
            events.push(
                NewSystemEvent::new(
                    Severity::Sev2,
                    "BOT_RESUME_REFUSED",
                    format!(
                        "bot {id} ({stage}) was running before the restart but did not pass safe start: {code}"
                    ),
                )
                .metadata(json!({
                    "stage": stage, "code": code, "message": err.message(),
                    "suggested_fix": err.suggested_fix(),
                }))
                .bot(id),
            );
        }
        self.events(events).await;
        Ok(())
    }
}
