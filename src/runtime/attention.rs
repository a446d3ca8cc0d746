//! Gathers the facts of the needs-attention queue (`GET /api/attention`) and hands them to the
//! one rule, `domain::attention::queue`: bots KILLED, SUSPENDED or ERROR, bots holding a
//! position (for a roll exit that has not gone through), bots no node owns, and recently
//! failed jobs from Postgres (read now, not from the status cache: an answer is
//! either current or an error); open breakers and failing providers from the runtime's
//! published readings; the system status's own blockers for the rest.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    RuntimeHandle,
    events::{bot_of, provider_of},
    system_status::system_status,
};
use crate::{
    domain::{
        attention::{
            AttentionItem, BotRef, BreakerFact, FAILED_JOB_WINDOW, Fact, FailedBotFact,
            HeldPositionFact, JobFact, KilledFact, ProviderFact, Severity, Subject, SuspendedFact,
            SystemFact, UnownedFact, queue,
        },
        breaker::BreakerState,
        risk::Stage,
    },
    store::{attention as rows, bot_leases, system_events::Severity as EventSeverity},
    trace::TraceId,
};

/// At most this many failed jobs are listed (the newest).
const FAILED_JOBS_SHOWN: i64 = 20;

/// The queue at `now`, ordered (see `domain::attention`).
pub async fn attention(
    rt: &RuntimeHandle,
    pool: &PgPool,
    trace: &TraceId,
) -> Result<Vec<AttentionItem>, sqlx::Error> {
    let now = rt.clock().now();
    let mut facts = Vec::new();

    for bot in rows::bots(pool).await? {
        let r#ref = BotRef {
            id: bot.id,
            name: bot.name,
        };
        facts.push(match bot.status.as_str() {
            "KILLED" => Fact::Killed(KilledFact {
                // This node's latch first (current), else the persisted one.
                reason: rt
                    .runner(bot.id)
                    .and_then(|r| r.kill_reason)
                    .or(bot.last_error),
                bot: r#ref,
                since: bot.since,
                contracts_held: bot.contracts_held,
                working_orders: bot.working_orders,
                acknowledged_by: bot.exposure_acknowledged_by,
            }),
            "SUSPENDED" => Fact::Suspended(SuspendedFact {
                bot: r#ref,
                since: bot.since,
                blocked_codes: bot.blocked_codes,
            }),
            _ => Fact::Failed(FailedBotFact {
                bot: r#ref,
                since: bot.since,
                live: bot.stage == Stage::Live,
                last_error: bot.last_error,
            }),
        });
    }

    for p in rows::held_positions(pool).await? {
        facts.push(Fact::HeldPosition(HeldPositionFact {
            bot: BotRef {
                id: p.id,
                name: p.name,
            },
            live: p.stage == Stage::Live,
            symbol: p.symbol,
            quantity: p.quantity,
            last_decided_at: p.last_decided_at,
        }));
    }

    breakers(rt, pool, now, &mut facts).await?;

    for p in rt.providers_health() {
        if p.failing() && p.breaker_state != BreakerState::Open {
            facts.push(Fact::ProviderFailing(ProviderFact {
                provider_id: p.provider_id,
                breaker_state: p.breaker_state.as_str(),
                recent_calls: p.recent_calls,
                recent_ok: p.recent_ok,
                last_error_code: p.last_error_code,
                last_error_at: p.last_error_at,
            }));
        }
    }

    if let Some(node) = rt.ownership() {
        let ttl = chrono::Duration::from_std(rt.lease_ttl()).unwrap_or(chrono::Duration::MAX);
        for bot in bot_leases::unowned(pool, now).await? {
            facts.push(Fact::Unowned(UnownedFact {
                bot: BotRef {
                    id: bot.id,
                    name: bot.name,
                },
                status: bot.status.as_str().to_owned(),
                since: bot.since,
                node_started_at: node.started_at(),
                lease_ttl: ttl,
            }));
        }
    }

    for job in rows::failed_jobs(pool, now - FAILED_JOB_WINDOW, FAILED_JOBS_SHOWN).await? {
        facts.push(Fact::JobFailed(JobFact {
            id: job.id,
            kind: job.kind,
            status: job.status,
            finished_at: job.finished_at,
            error_code: job.error_code,
            error: job.error,
            bot: job
                .bot_id
                .zip(job.bot_name)
                .map(|(id, name)| BotRef { id, name }),
        }));
    }

    for b in system_status(rt, trace).blockers {
        let severity = match b.severity {
            EventSeverity::Sev1 => Severity::Sev1,
            EventSeverity::Sev2 => Severity::Sev2,
            EventSeverity::Sev3 | EventSeverity::Info => Severity::Sev3,
        };
        facts.push(Fact::System(SystemFact {
            code: b.code,
            severity,
            message: b.message,
            fix: b.suggested_fix,
        }));
    }

    Ok(queue(facts, now))
}

/// One fact per OPEN breaker (bot runners by name, providers by id): this node's, and those
/// of the other alive nodes (their bots and their provider calls).
async fn breakers(
    rt: &RuntimeHandle,
    pool: &PgPool,
    now: DateTime<Utc>,
    facts: &mut Vec<Fact>,
) -> Result<(), sqlx::Error> {
    let open: Vec<(String, Option<DateTime<Utc>>, Option<String>)> = rt
        .breakers()
        .into_iter()
        .filter(|b| b.state == BreakerState::Open)
        .map(|b| (b.scope, b.opened_at, None))
        .chain(
            rt.breakers_elsewhere(pool, now)
                .await?
                .into_iter()
                .filter(|b| b.state == BreakerState::Open)
                .map(|b| (b.scope, Some(b.updated_at), Some(b.node))),
        )
        .collect();
    let bot_ids: Vec<Uuid> = open
        .iter()
        .filter_map(|(scope, ..)| bot_of(scope))
        .collect();
    let names: HashMap<Uuid, (String, Stage)> = rows::bot_names(pool, &bot_ids)
        .await?
        .into_iter()
        .map(|b| (b.id, (b.name, b.stage)))
        .collect();
    for (scope, opened_at, node) in open {
        let (subject, live) = if let Some(id) = bot_of(&scope) {
            let (name, stage) = names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| (id.to_string(), Stage::Paper));
            let live = stage == Stage::Live || rt.runner(id).is_some_and(|r| r.live);
            (Subject::Bot(BotRef { id, name }), live)
        } else if let Some(id) = provider_of(&scope) {
            (Subject::Provider(id.to_owned()), false)
        } else {
            (Subject::System, false)
        };
        facts.push(Fact::BreakerOpen(BreakerFact {
            subject,
            scope,
            opened_at,
            live,
            node,
        }));
    }
    Ok(())
}
