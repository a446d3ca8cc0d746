//! Broker sessions as supervised actors (issue 17 parts 1 and 5): the `Brokers` supervisor
//! (one_for_one, under the root, started after Providers) holds one [`SessionActor`] per
//! configured broker account. The session's state ([`BrokerSession`]: token, account,
//! heartbeats, hold) lives outside the actor, so a crashed actor is restarted per its spec
//! (permanent, exponential backoff) and carries on with the same session.
//!
//! Each turn (every `RuntimeConfig::broker_every`) the actor renews the token when due and,
//! every [`SessionConfig::heartbeat_every`] (at once while logged out), heartbeats
//! ([`BrokerSession::heartbeat`]: breaker-admitted, one cheap vendor read).
//!
//! **Cancel-on-disconnect**: when a heartbeat answers after the session was lost for at least
//! [`SessionConfig::cancel_after`] (`TRADEPLANE_CANCEL_ON_DISCONNECT_SECS`, default 30), the
//! actor cancels every working order at the account (read from the broker, plus the ledger's
//! WORKING orders routed there; Ironbeam `cancelMultiple` in one request, Tradovate one
//! `cancelorder` each), marks our cancelled orders CANCELLED in the ledger, and puts a
//! [`Hold`] on the session: the account's LIVE bots see `broker_ready` closed
//! (`EXECUTION_BROKER_UNAVAILABLE`, status SUSPENDED) — SEV-1 system event
//! `BROKER_SESSION_LOST` naming the orders and bots. At every heartbeat while held, a failed
//! cancel is retried and the account is reconciled (`Reconciler::run_session`, trigger
//! `CONNECT`); the first clean run lifts the hold (INFO `BROKER_SESSION_RESUMED`).
//!
//! **User stream** (Tradovate and Ironbeam): while the session is logged in, the actor keeps one
//! user-stream socket open in a task of its own (`brokers::run_stream`, by vendor; Ironbeam's
//! next socket asks for a new stream id, a stream id being single-use); when it ends, the next
//! is opened after a backoff ([`SessionConfig::stream`]: 500 ms doubling to 30 s, back to 500 ms once a
//! socket had synced). The task is aborted with the actor (a restarted actor opens a new one).

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SpawnErr};
use serde_json::json;
use sqlx::PgPool;
use tradeplane_actors::{Backoff, ChildSpec, Restart, Strategy, SupervisorSpec};

use super::brokers::{Beat, BrokerSession, Brokers, Hold};
use super::reconciliation::{Reconciler, Resolution, Trigger};
use super::telemetry::TelemetryHandle;
use crate::integrations::brokers::user_stream::StreamConfig;
use crate::store::{
    orders,
    system_events::{NewSystemEvent, Severity},
};

/// The session actors' timing (`RuntimeConfig::broker_sessions`).
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// A heartbeat this often (`TRADEPLANE_BROKER_HEARTBEAT_SECS`, default 15 s): Tradovate's
    /// 80 calls a minute and Ironbeam's 8 a second leave room for it.
    pub heartbeat_every: Duration,
    /// Lost at least this long → cancel-on-disconnect at reconnect
    /// (`TRADEPLANE_CANCEL_ON_DISCONNECT_SECS`, default 30 s).
    pub cancel_after: Duration,
    /// The vendors' user streams (Tradovate, Ironbeam), their timing; `None`: REST polling only.
    pub stream: Option<StreamConfig>,
    /// Reconnect backoff of the user stream: from `.0`, doubling up to `.1`.
    pub stream_backoff: (Duration, Duration),
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            heartbeat_every: Duration::from_secs(15),
            cancel_after: Duration::from_secs(30),
            stream: Some(StreamConfig::default()),
            stream_backoff: (Duration::from_millis(500), Duration::from_secs(30)),
        }
    }
}

pub enum SessionMsg {
    Turn,
    /// Fault injection (tests, drills): the actor fails and is restarted by its supervisor.
    Fail(String),
}

/// What every session actor shares.
#[derive(Clone)]
pub struct SessionContext {
    pub brokers: Arc<Brokers>,
    pub reconciler: Arc<Reconciler>,
    pub pool: PgPool,
    pub telemetry: TelemetryHandle,
    pub every: Duration,
    pub config: SessionConfig,
}

#[derive(Clone)]
pub struct SessionArgs {
    pub session: Arc<BrokerSession>,
    pub ctx: SessionContext,
}

pub struct SessionState {
    args: SessionArgs,
    next_heartbeat: tokio::time::Instant,
    stream: StreamSlot,
}

/// The user-stream task the actor keeps, and when the next socket may open.
struct StreamSlot {
    task: Option<tokio::task::JoinHandle<()>>,
    retry_at: tokio::time::Instant,
    backoff: Duration,
}

pub struct SessionActor;

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SessionArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        args.session.set_actor(myself.clone());
        args.session.set_cancel_after(args.ctx.config.cancel_after);
        let _ = myself.send_message(SessionMsg::Turn);
        let backoff = args.ctx.config.stream_backoff.0;
        Ok(SessionState {
            args,
            next_heartbeat: tokio::time::Instant::now(),
            stream: StreamSlot {
                task: None,
                retry_at: tokio::time::Instant::now(),
                backoff,
            },
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(task) = state.stream.task.take() {
            task.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Turn => {
                turn(state).await;
                keep_stream(state);
                // The timer runs on its own; its handle is not needed.
                drop(myself.send_after(state.args.ctx.every, || SessionMsg::Turn));
            }
            SessionMsg::Fail(reason) => return Err(Box::new(super::InjectedFailure(reason))),
        }
        Ok(())
    }
}

async fn turn(state: &mut SessionState) {
    let a = &state.args;
    let now = tokio::time::Instant::now();
    if now < state.next_heartbeat && a.session.has_login() {
        // Between heartbeats: only a renewal when due.
        a.session.maintain().await;
        return;
    }
    state.next_heartbeat = now + a.ctx.config.heartbeat_every;
    match a.session.heartbeat().await {
        Beat::Up {
            reconnected_after: Some(lost),
        } if lost.to_std().unwrap_or_default() >= a.ctx.config.cancel_after => {
            cancel_on_disconnect(a, lost).await;
        }
        Beat::Up { .. } => {}
        Beat::Down(f) => {
            tracing::debug!(
                broker = a.session.vendor().id(),
                code = f.code,
                "heartbeat failed"
            );
            return;
        }
    }
    if let Some(hold) = a.session.hold() {
        resume_if_clean(a, hold).await;
    }
}

/// Keeps the user stream open while logged in: opens a socket when none runs and its backoff
/// has passed; a socket that ended doubles the backoff (reset when it had synced).
fn keep_stream(state: &mut SessionState) {
    let a = &state.args;
    let Some(cfg) = &a.ctx.config.stream else {
        return;
    };
    if !a.session.offers_stream() {
        return;
    }
    let now = tokio::time::Instant::now();
    if state.stream.task.as_ref().is_some_and(|t| !t.is_finished()) {
        return;
    }
    let (min, max) = a.ctx.config.stream_backoff;
    if state.stream.task.take().is_some() {
        state.stream.backoff = if a.session.stream_last_run_synced() {
            min
        } else {
            (state.stream.backoff * 2).min(max)
        };
        state.stream.retry_at = now + state.stream.backoff;
    }
    if now < state.stream.retry_at || !a.session.has_login() {
        return;
    }
    state.stream.task = Some(tokio::spawn(super::brokers::run_stream(
        a.session.clone(),
        cfg.clone(),
    )));
}

/// Cancels every working order at the account (broker's and ledger's) in bulk where the
/// vendor offers it; marks ours CANCELLED where the broker cancelled them (one it reports
/// filled while the session was lost stays open: its fills are booked). Returns the broker
/// ids cancelled, or why it failed.
async fn cancel_working(a: &SessionArgs) -> Result<Vec<String>, String> {
    let session = &a.session;
    let Some(account) = session.account() else {
        return Err("no account known".into());
    };
    let ledger = orders::live_working_at(&a.ctx.pool, session.vendor().id(), &account.id)
        .await
        .map_err(|e| format!("ledger: {e}"))?;
    let mut ids: Vec<String> = session
        .orders()
        .await
        .map_err(|f| format!("{}: {}", f.code, f.message))?
        .into_iter()
        .filter(|o| !o.status.is_final())
        .map(|o| o.broker_order_id)
        .collect();
    for o in &ledger {
        if let Some(id) = &o.broker_order_id
            && !ids.contains(id)
        {
            ids.push(id.clone());
        }
    }
    let ids = if ids.is_empty() {
        ids
    } else {
        session
            .cancel_many(&ids)
            .await
            .map_err(|f| format!("{}: {}", f.code, f.message))?
            .cancelled
    };
    let ours: Vec<uuid::Uuid> = ledger
        .iter()
        .filter(|o| o.broker_order_id.as_ref().is_some_and(|b| ids.contains(b)))
        .map(|o| o.id)
        .collect();
    if !ours.is_empty() {
        let reason = "cancel-on-disconnect: the broker session was lost";
        orders::mark_cancelled(
            &a.ctx.pool,
            &ours,
            reason,
            a.ctx.telemetry.bus().clock().now(),
        )
        .await
        .map_err(|e| format!("ledger: {e}"))?;
    }
    Ok(ids)
}

/// The LIVE bots whose orders go to this session's account.
async fn bots_of(a: &SessionArgs) -> Vec<uuid::Uuid> {
    let session = &a.session;
    let Some(account) = session.account() else {
        return Vec::new();
    };
    let default_here = a
        .ctx
        .brokers
        .for_live()
        .is_some_and(|s| s.vendor() == session.vendor());
    match crate::store::reconciliation::live_bots(&a.ctx.pool).await {
        Ok(bots) => bots
            .into_iter()
            .filter(|b| match (&b.broker, &b.broker_account) {
                (Some(v), Some(acc)) => v == session.vendor().id() && *acc == account.id,
                _ => default_here,
            })
            .map(|b| b.id)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "LIVE bots of the account not read");
            Vec::new()
        }
    }
}

async fn cancel_on_disconnect(a: &SessionArgs, lost: chrono::Duration) {
    let session = &a.session;
    let vendor = session.vendor().id();
    let account = session.account().map(|a| a.id).unwrap_or_default();
    let now = a.ctx.telemetry.bus().clock().now();
    let cancelled = cancel_working(a).await;
    let bots = bots_of(a).await;
    let hold = Hold {
        since: now,
        lost_seconds: lost.num_seconds(),
        cancelled: cancelled.clone().unwrap_or_default(),
        cancel_pending: cancelled.is_err(),
        bots: bots.clone(),
    };
    session.set_hold(Some(hold.clone()));
    let what = match &cancelled {
        Ok(ids) => format!("{} working order(s) cancelled at the broker", ids.len()),
        Err(e) => format!("the cancel of the working orders failed ({e}); retried"),
    };
    let mut event = NewSystemEvent::new(
        Severity::Sev1,
        "BROKER_SESSION_LOST",
        format!(
            "{vendor} account {account}: the session was lost for {} s (limit {} s): {what}; \
             {} LIVE bot(s) suspended until the account reconciles clean",
            lost.num_seconds(),
            a.ctx.config.cancel_after.as_secs(),
            bots.len()
        ),
    )
    .metadata(json!({"broker": vendor, "account": account, "hold": hold}));
    if let Some(bot) = bots.first() {
        event = event.bot(*bot);
    }
    a.ctx.telemetry.system_event(event);
}

async fn resume_if_clean(a: &SessionArgs, mut hold: Hold) {
    let session = &a.session;
    if hold.cancel_pending {
        match cancel_working(a).await {
            Ok(ids) => {
                hold.cancelled.extend(ids);
                hold.cancel_pending = false;
                session.set_hold(Some(hold.clone()));
            }
            Err(e) => {
                tracing::warn!(broker = session.vendor().id(), error = %e, "cancel-on-disconnect retry failed");
                return;
            }
        }
    }
    let resolution = Resolution {
        name: "RECONCILED",
        by: None,
    };
    match a
        .ctx
        .reconciler
        .run_session(session, Trigger::Connect, resolution)
        .await
    {
        Ok(applied) if applied.open == 0 => {
            session.set_hold(None);
            let vendor = session.vendor().id();
            let account = session.account().map(|a| a.id).unwrap_or_default();
            let mut event = NewSystemEvent::new(
                Severity::Info,
                "BROKER_SESSION_RESUMED",
                format!(
                    "{vendor} account {account}: reconciled clean after cancel-on-disconnect; \
                     its LIVE bots may trade again"
                ),
            )
            .metadata(json!({"broker": vendor, "account": account, "hold": hold}));
            if let Some(bot) = hold.bots.first() {
                event = event.bot(*bot);
            }
            a.ctx.telemetry.system_event(event);
        }
        Ok(applied) => {
            tracing::info!(
                broker = session.vendor().id(),
                open = applied.open,
                "held after cancel-on-disconnect: the account has open mismatches"
            );
        }
        Err(e) => {
            tracing::warn!(broker = session.vendor().id(), error = %e, "reconciliation after reconnect failed");
        }
    }
}

/// The Brokers supervisor's spec: one permanent session actor per configured broker.
pub fn supervisor_spec(ctx: &SessionContext, names: &str) -> SupervisorSpec {
    let mut spec = SupervisorSpec::new(Strategy::OneForOne).intensity(10, Duration::from_secs(60));
    for session in ctx.brokers.sessions() {
        let args = SessionArgs {
            session: session.clone(),
            ctx: ctx.clone(),
        };
        let name = format!("{names}.{}", session.vendor().id());
        let started = std::sync::atomic::AtomicBool::new(false);
        let child = ChildSpec::new(
            format!("broker:{}", session.vendor().id()),
            move |sup: ActorCell| {
                if started.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    args.session.count_restart();
                }
                let (args, name) = (args.clone(), name.clone());
                async move {
                    Actor::spawn_linked(Some(name), SessionActor, args, sup)
                        .await
                        .map(|(r, _)| r.get_cell())
                }
            },
        )
        .restart(Restart::Permanent)
        .backoff(Backoff::exponential(
            Duration::from_millis(100),
            Duration::from_secs(10),
        ));
        spec = spec.child(child);
    }
    spec
}

/// Spawns the Brokers supervisor under `parent`.
pub async fn spawn_brokers(
    name: String,
    spec: SupervisorSpec,
    sink: tradeplane_actors::SharedSink,
    parent: ActorCell,
) -> Result<ActorCell, SpawnErr> {
    tradeplane_actors::Supervisor::spawn(Some(name), spec, sink, Some(parent))
        .await
        .map(|(r, _)| r.get_cell())
}
