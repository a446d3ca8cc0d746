//! Discord alerts (issue 7): when `discord` is configured, the system events the alert routing
//! names (`domain::alert_routing`, `GET|PUT /api/settings/alerts`; by default SEV-1 and kills
//! of any severity) are posted to its webhook. The routing is read at every poll, so a change
//! holds from the next second on. [`send_test`] posts one test message through the same path.
//!
//! A background task, beside the tree and never in anyone's way: it polls `system_events`
//! every second (nothing that writes an event waits for it), deduplicates (same code and
//! bot/provider within 5 minutes → one post now, one "repeated N times" post when the window
//! closes), stays under Discord's webhook budget (5 posts per 10 s; the overflow is folded into
//! one summary post) and posts through the provider call path (`integrations::http`), so each
//! post is a usage event (`alert.post`) with the webhook token redacted. Failures are logged
//! and counted; a 429 is re-queued after its `retry_after`, and a post that met a 5xx, a
//! timeout or no answer is sent again after 1, 2 and 4 s before it is dropped: an alert that
//! may reach the desk twice beats a SEV-1 nobody hears of (Discord's webhooks take no
//! idempotency key). A rejected webhook (bad token, deleted) stops the task, as Discord asks,
//! with one SEV-2 `ALERTS_WEBHOOK_REJECTED` event.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::watch;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ownership::Leadership;
use super::{RuntimeHandle, TelemetryHandle};
use crate::domain::alert_routing::AlertRouting;
use crate::domain::provider::Outcome;
use crate::integrations::{
    outcome::Failure,
    providers::{
        ProviderClient,
        discord::{self, CONTENT_MAX_CHARS},
    },
};
use crate::store::system_events::{NewSystemEvent, Severity, SystemEvent};
use crate::trace::TraceId;

/// Codes posted whatever their severity: every way a bot (or all of them) gets killed.
pub const KILL_CODES: &[&str] = &[
    "BOT_KILLED",
    "RISK_KILL_TRIGGER",
    "SUPERVISION_KILL_TRIGGER",
    "KILL_SWITCH_ACTIVATED",
];

#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub poll_every: Duration,
    /// Same code and bot/provider within this window: one post, then a count.
    pub dedup_window: Duration,
    /// At most `burst` posts per `burst_window` (Discord allows about 30/min per webhook).
    pub burst: usize,
    pub burst_window: Duration,
    /// Events are written in batches by the telemetry writer, stamped when they happened: each
    /// poll re-reads this far behind the newest event seen so a late-written one is not missed.
    pub lookback: Duration,
    /// Rows read per query (a poll pages through more).
    pub page: i64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            poll_every: Duration::from_secs(1),
            dedup_window: Duration::from_secs(300),
            burst: 5,
            burst_window: Duration::from_secs(10),
            lookback: Duration::from_secs(10),
            page: 500,
        }
    }
}

/// What the alerts task has done (for `/api/system/status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct AlertStats {
    /// `discord` is configured and its webhook has not been rejected.
    pub enabled: bool,
    /// Messages Discord accepted (alerts, repeat counts and summaries).
    pub posted: u64,
    /// Events folded into an earlier alert of the same code and bot/provider.
    pub deduplicated: u64,
    /// Posts folded into a summary post by the rate limit.
    pub coalesced: u64,
    /// Posts that failed (each one a usage event with status `ERROR`).
    pub failed: u64,
    /// Polls of `system_events` that failed (the database was unavailable).
    pub poll_failures: u64,
    /// Posts waiting for rate-limit budget.
    pub pending: u64,
    pub last_posted_at: Option<DateTime<Utc>>,
    /// Code of the latest failed post.
    pub last_error_code: Option<String>,
}

/// Shared counters behind [`AlertStats`].
#[derive(Debug, Default)]
pub struct AlertCounters {
    enabled: AtomicBool,
    posted: AtomicU64,
    deduplicated: AtomicU64,
    coalesced: AtomicU64,
    failed: AtomicU64,
    poll_failures: AtomicU64,
    pending: AtomicU64,
    last: Mutex<(Option<DateTime<Utc>>, Option<String>)>,
}

impl AlertCounters {
    pub fn stats(&self) -> AlertStats {
        let (last_posted_at, last_error_code) = self
            .last
            .lock()
            .map(|l| l.clone())
            .unwrap_or_else(|e| e.into_inner().clone());
        AlertStats {
            enabled: self.enabled.load(Ordering::Relaxed),
            posted: self.posted.load(Ordering::Relaxed),
            deduplicated: self.deduplicated.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            poll_failures: self.poll_failures.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Relaxed),
            last_posted_at,
            last_error_code,
        }
    }

    fn last(&self) -> std::sync::MutexGuard<'_, (Option<DateTime<Utc>>, Option<String>)> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RuntimeHandle {
    /// The Discord alerts task's counters (disabled and zero when `discord` is not configured).
    pub fn alert_stats(&self) -> AlertStats {
        self.inner.alerts.stats()
    }
}

/// Is this event posted under `routing`? (The poll's SQL applies the same rule.)
pub fn alertable(routing: &AlertRouting, severity: Severity, code: &str) -> bool {
    routing.routes(severity.as_str(), KILL_CODES.contains(&code))
}

/// One message to post.
#[derive(Debug, Clone)]
enum Post {
    One(SystemEvent),
    /// The dedup window closed with `count` more events like `last`.
    Repeat {
        last: SystemEvent,
        count: u64,
    },
    /// Posts folded together by the rate limit: one line each, `events` in all.
    Summary {
        lines: Vec<String>,
        events: u64,
    },
}

fn scope(ev: &SystemEvent) -> String {
    match (&ev.bot_id, &ev.provider_id) {
        (Some(bot), _) => format!("bot {bot}"),
        (None, Some(p)) => format!("provider {p}"),
        (None, None) => "system".to_owned(),
    }
}

impl Post {
    fn events(&self) -> u64 {
        match self {
            Post::One(_) => 1,
            Post::Repeat { count, .. } => *count,
            Post::Summary { events, .. } => *events,
        }
    }

    /// One line for a summary.
    fn line(&self) -> Vec<String> {
        match self {
            Post::One(ev) => vec![format!(
                "• {} {} ({}): {}",
                ev.severity,
                ev.code,
                scope(ev),
                discord::truncate(&ev.message, 120)
            )],
            Post::Repeat { last, count } => vec![format!(
                "• {} {} ({}) repeated {count} more times",
                last.severity,
                last.code,
                scope(last)
            )],
            Post::Summary { lines, .. } => lines.clone(),
        }
    }

    fn content(&self, dedup_window: Duration) -> String {
        let text = match self {
            Post::One(ev) => format!(
                "🚨 **{} {}** ({})\n{}\ntrace `{}` · {}",
                ev.severity,
                ev.code,
                scope(ev),
                ev.message,
                ev.trace_id,
                ev.created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            Post::Repeat { last, count } => format!(
                "🔁 **{} {}** ({}) repeated {count} more times in {} min; latest: {}\ntrace `{}`",
                last.severity,
                last.code,
                scope(last),
                dedup_window.as_secs().div_ceil(60),
                last.message,
                last.trace_id
            ),
            Post::Summary { lines, events } => format!(
                "⚠️ **{events} more alerts** (folded by the alert rate limit)\n{}",
                lines.join("\n")
            ),
        };
        discord::truncate(&text, CONTENT_MAX_CHARS)
    }

    /// The trace a post's usage event is recorded under: the event's own, so the usage event
    /// and the system event share it.
    fn trace(&self) -> TraceId {
        let id = match self {
            Post::One(ev) => Some(&ev.trace_id),
            Post::Repeat { last, .. } => Some(&last.trace_id),
            Post::Summary { .. } => None,
        };
        id.and_then(|id| TraceId::from_traceparent(&format!("00-{id}-0000000000000001-01")))
            .unwrap_or_else(TraceId::generate)
    }
}

struct Window {
    opened: Instant,
    suppressed: u64,
    last: SystemEvent,
}

/// Dedup and rate limit, with time passed in (the task feeds it; tests drive it directly).
struct Alerter {
    config: AlertsConfig,
    counters: Arc<AlertCounters>,
    windows: HashMap<(String, String), Window>,
    pending: VecDeque<(Post, u8)>,
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

impl Alerter {
    fn new(config: AlertsConfig, counters: Arc<AlertCounters>) -> Self {
        Alerter {
            config,
            counters,
            windows: HashMap::new(),
            pending: VecDeque::new(),
            sent: VecDeque::new(),
            paused_until: None,
        }
    }

    /// Queues `ev` unless one like it was queued within the dedup window (then counts it).
    fn offer(&mut self, ev: SystemEvent, now: Instant) {
        self.expire(now);
        let key = (ev.code.clone(), scope(&ev));
        if let Some(w) = self.windows.get_mut(&key) {
            w.suppressed += 1;
            w.last = ev;
            self.counters.deduplicated.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.windows.insert(
            key,
            Window {
                opened: now,
                suppressed: 0,
                last: ev.clone(),
            },
        );
        self.pending.push_back((Post::One(ev), 0));
    }

    /// Closes the windows older than the dedup window, queueing their repeat counts.
    fn expire(&mut self, now: Instant) {
        let window = self.config.dedup_window;
        let closed: Vec<_> = self
            .windows
            .iter()
            .filter(|(_, w)| now.saturating_duration_since(w.opened) >= window)
            .map(|(k, _)| k.clone())
            .collect();
        for key in closed {
            if let Some(w) = self.windows.remove(&key)
                && w.suppressed > 0
            {
                self.pending.push_back((
                    Post::Repeat {
                        last: w.last,
                        count: w.suppressed,
                    },
                    0,
                ));
            }
        }
    }

    /// The posts to send now: all pending if the budget allows, else as many as it allows
    /// with the last one a summary of the rest.
    fn due(&mut self, now: Instant) -> Vec<(Post, u8)> {
        self.expire(now);
        if self.paused_until.is_some_and(|until| now < until) {
            return Vec::new();
        }
        self.paused_until = None;
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.config.burst_window)
        {
            self.sent.pop_front();
        }
        let budget = self.config.burst.saturating_sub(self.sent.len());
        if budget == 0 || self.pending.is_empty() {
            return Vec::new();
        }
        if self.pending.len() <= budget {
            return self.pending.drain(..).collect();
        }
        let mut out: Vec<_> = self.pending.drain(..budget - 1).collect();
        let rest: Vec<_> = self.pending.drain(..).collect();
        self.counters
            .coalesced
            .fetch_add(rest.len() as u64, Ordering::Relaxed);
        let events = rest.iter().map(|(p, _)| p.events()).sum();
        let lines = rest.iter().flat_map(|(p, _)| p.line()).collect();
        out.push((Post::Summary { lines, events }, 0));
        out
    }

    /// A post went out (whatever Discord answered: the attempt uses its budget).
    fn attempted(&mut self, now: Instant) {
        self.sent.push_back(now);
    }

    /// Puts posts not sent because of a retry's pause back in the queue, in order, right
    /// behind the post being retried (given last first).
    fn requeue(&mut self, posts: impl Iterator<Item = (Post, u8)>) {
        let retried = self.pending.pop_front();
        for p in posts {
            self.pending.push_front(p);
        }
        if let Some(r) = retried {
            self.pending.push_front(r);
        }
    }

    /// Discord said 429 (or failed): try `post` again (first) after `after`.
    fn retry_later(&mut self, post: Post, attempts: u8, until: Instant) {
        self.pending.push_front((post, attempts));
        self.paused_until = Some(until);
    }
}

/// Where the poll is: events from boot on, re-read `lookback` behind the newest seen.
struct Cursor {
    boot: DateTime<Utc>,
    high_water: DateTime<Utc>,
    seen: HashMap<Uuid, DateTime<Utc>>,
}

async fn poll(
    pool: &PgPool,
    cursor: &mut Cursor,
    config: &AlertsConfig,
    now: DateTime<Utc>,
) -> Result<Vec<SystemEvent>, sqlx::Error> {
    let lookback = chrono::Duration::from_std(config.lookback).unwrap_or_default();
    // A row stamped in the future (clock skew) must not push the cursor past real events.
    let from = cursor.boot.max(cursor.high_water.min(now) - lookback);
    let mut after = (from, Uuid::nil());
    let mut out = Vec::new();
    loop {
        // A short range of system_events_created_idx (the lookback), filtered by the routing
        // read in the same statement (one snapshot: an event written after a routing change
        // is never judged by the routing before it).
        let rows: Vec<SystemEvent> = sqlx::query_as(
            "SELECT e.* FROM system_events e, settings s \
             WHERE s.id AND e.created_at >= $1 AND (e.created_at, e.id) > ($1, $2) \
               AND (e.severity = ANY(s.alert_severities) \
                    OR (s.alert_kills AND e.code = ANY($3))) \
             ORDER BY e.created_at, e.id LIMIT $4",
        )
        .bind(after.0)
        .bind(after.1)
        .bind(KILL_CODES)
        .bind(config.page)
        .fetch_all(pool)
        .await?;
        let full = rows.len() as i64 >= config.page;
        if let Some(last) = rows.last() {
            after = (last.created_at, last.id);
        }
        for row in rows {
            if cursor.seen.insert(row.id, row.created_at).is_none() {
                cursor.high_water = cursor.high_water.max(row.created_at);
                out.push(row);
            }
        }
        if !full {
            break;
        }
    }
    cursor.seen.retain(|_, at| *at >= from);
    Ok(out)
}

/// Starts the alerts task when `client` (the `discord` provider) is configured; stops when
/// `stop` turns true (or its sender is dropped).
pub(crate) fn spawn(
    pool: PgPool,
    client: Option<Arc<ProviderClient>>,
    telemetry: TelemetryHandle,
    counters: Arc<AlertCounters>,
    config: AlertsConfig,
    leadership: Leadership,
    stop: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let client = client?;
    counters.enabled.store(true, Ordering::Relaxed);
    // "Now" is taken here, not when the task first runs: an event written right after start
    // returns must not count as history.
    let boot = telemetry.clock().now();
    let alerter = Alerter::new(config, counters);
    Some(tokio::spawn(run(
        pool, client, telemetry, alerter, leadership, stop, boot,
    )))
}

async fn run(
    pool: PgPool,
    client: Arc<ProviderClient>,
    telemetry: TelemetryHandle,
    mut alerter: Alerter,
    leadership: Leadership,
    mut stop: watch::Receiver<bool>,
    boot: DateTime<Utc>,
) {
    let (config, counters) = (alerter.config.clone(), alerter.counters.clone());
    let mut cursor = Cursor {
        boot,
        high_water: boot,
        seen: HashMap::new(),
    };
    let mut tick = tokio::time::interval(config.poll_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut db_down = false;
    let mut leading = false;
    loop {
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        // One node posts for the cluster. A node taking over re-reads the window its
        // predecessor may have died in: an alert may repeat across a failover, never be lost.
        if !leadership.is_leader() {
            leading = false;
            continue;
        }
        if !leading {
            leading = true;
            let gap = leadership.takeover_gap() + config.poll_every;
            cursor.high_water = boot
                .max(telemetry.clock().now() - chrono::Duration::from_std(gap).unwrap_or_default());
        }
        match poll(&pool, &mut cursor, &config, telemetry.clock().now()).await {
            Ok(events) => {
                if db_down {
                    tracing::info!("alerts: system_events readable again");
                    db_down = false;
                }
                for ev in events {
                    alerter.offer(ev, Instant::now());
                }
            }
            Err(err) => {
                counters.poll_failures.fetch_add(1, Ordering::Relaxed);
                // Once per outage, not once per second.
                if !db_down {
                    tracing::warn!(error = %err, "alerts: cannot read system_events");
                    db_down = true;
                }
            }
        }
        let mut due: VecDeque<_> = alerter.due(Instant::now()).into();
        while let Some((post, attempts)) = due.pop_front() {
            if alerter.paused_until.is_some() {
                // A retry paused posting: this post and the rest wait, in order, behind the
                // retried post.
                due.push_front((post, attempts));
                alerter.requeue(due.drain(..).rev());
                break;
            }
            alerter.attempted(Instant::now());
            let payload = json!({
                "content": post.content(config.dedup_window),
                // Never ping anyone, whatever a message contains.
                "allowed_mentions": { "parse": [] },
            });
            let sent = tokio::select! {
                _ = stop.changed() => return,
                r = post.trace().scope(discord::post(&client, payload)) => r,
            };
            match sent {
                Ok(()) => {
                    counters.posted.fetch_add(1, Ordering::Relaxed);
                    counters.last().0 = Some(telemetry.clock().now());
                }
                Err(f) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    counters.last().1 = Some(f.code.to_owned());
                    if !on_failure(&mut alerter, &telemetry, &counters, post, attempts, &f) {
                        return;
                    }
                }
            }
        }
        counters
            .pending
            .store(alerter.pending.len() as u64, Ordering::Relaxed);
    }
}

/// What becomes of a post that failed.
#[derive(Debug, PartialEq, Eq)]
enum AfterFailure {
    /// Sent again first, after this long (posting pauses until then).
    Retry(Duration),
    Drop,
    /// The webhook is refused for good: alerts stop.
    Stop,
}

/// Retries of a post throttled by Discord (429).
const THROTTLED_RETRIES: u8 = 2;
/// Retries of a post that met a 5xx, a timeout or no answer: after 1, 2, 4 s.
const TRANSIENT_RETRIES: u8 = 3;

/// `attempts`: the post's retries so far.
fn after_failure(f: &Failure, attempts: u8) -> AfterFailure {
    match f.outcome {
        Outcome::RateLimited if attempts < THROTTLED_RETRIES => {
            AfterFailure::Retry(f.retry_after.unwrap_or(Duration::from_secs(5)))
        }
        Outcome::ProviderError | Outcome::Unreachable
            if attempts < TRANSIENT_RETRIES && f.http_status.is_none_or(|s| s >= 500) =>
        {
            AfterFailure::Retry(Duration::from_secs(1 << attempts))
        }
        Outcome::InvalidCredentials => AfterFailure::Stop,
        _ => AfterFailure::Drop,
    }
}

/// Handles a failed post (the call path already logged it, redacted). `false`: stop for good.
fn on_failure(
    alerter: &mut Alerter,
    telemetry: &TelemetryHandle,
    counters: &AlertCounters,
    post: Post,
    attempts: u8,
    f: &Failure,
) -> bool {
    match after_failure(f, attempts) {
        AfterFailure::Retry(after) => {
            alerter.retry_later(post, attempts + 1, Instant::now() + after);
            true
        }
        AfterFailure::Stop => {
            counters.enabled.store(false, Ordering::Relaxed);
            tracing::error!(
                code = f.code,
                "alerts: Discord rejected the webhook; alerts stop until DISCORD_WEBHOOK_URL is replaced"
            );
            telemetry.system_event(
                NewSystemEvent::new(
                    Severity::Sev2,
                    "ALERTS_WEBHOOK_REJECTED",
                    "Discord rejected the alert webhook (bad token or deleted); alerts are off until DISCORD_WEBHOOK_URL is replaced and tradeplane restarted",
                )
                .provider("discord")
                .metadata(json!({ "error_code": f.code, "http_status": f.http_status })),
            );
            false
        }
        AfterFailure::Drop => {
            tracing::warn!(
                code = f.code,
                retries = attempts,
                "alerts: post failed; alert dropped"
            );
            true
        }
    }
}

/// Why a test message was not sent.
#[derive(Debug)]
pub enum TestAlertError {
    /// `discord` is not configured (`DISCORD_WEBHOOK_URL` missing).
    NotConfigured,
    /// Discord (or the way to it) refused or failed: the call path's failure.
    Failed(Failure),
}

/// Posts one test message to the Discord webhook through the provider call path (one usage
/// event `alert.post` under the current trace), naming who asked and the current routing.
/// Never retried.
pub async fn send_test(
    client: Option<Arc<ProviderClient>>,
    routing: &AlertRouting,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, TestAlertError> {
    let client = client.ok_or(TestAlertError::NotConfigured)?;
    let content = discord::truncate(
        &format!(
            "🧪 **Test alert** from tradeplane, sent by {by} at {}.\nRouted to this channel: {}.",
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            routing.describe()
        ),
        CONTENT_MAX_CHARS,
    );
    let payload = json!({ "content": content, "allowed_mentions": { "parse": [] } });
    discord::post(&client, payload)
        .await
        .map_err(TestAlertError::Failed)?;
    Ok(content)
}

#[cfg(test)]
#[path = "alerts_tests.rs"]
mod tests;
