//! The live event bus behind `GET /api/events/stream`: a broadcast of [`LiveEvent`]s plus a
//! bounded ring of the latest ones, so a client that reconnects with `Last-Event-ID` gets
//! exactly what it missed (or a `reset` when the ring no longer holds it).
//!
//! Ids are consecutive within a process and start from a time-based base, so an id handed out
//! by a previous process is recognisably foreign. Publishing takes one short mutex section
//! (id, ring, broadcast together, so the ring and the broadcast agree on order), never
//! awaits and never fails the caller.
//!
//! Below the runtime and the integrations (both publish to it) and above nothing but the rows
//! it carries.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::clock::Clock;
use crate::domain::{bot::BotStatus, breaker::BreakerState};
use crate::store::{jobs::JobRun, system_events::SystemEvent};

/// What a live event is about (the SSE `event:` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveKind {
    SystemEvent,
    Breaker,
    BotStatus,
    Trace,
    Job,
}

impl LiveKind {
    pub const ALL: [LiveKind; 5] = [
        LiveKind::SystemEvent,
        LiveKind::Breaker,
        LiveKind::BotStatus,
        LiveKind::Trace,
        LiveKind::Job,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            LiveKind::SystemEvent => "system_event",
            LiveKind::Breaker => "breaker",
            LiveKind::BotStatus => "bot_status",
            LiveKind::Trace => "trace",
            LiveKind::Job => "job",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LiveEvent {
    pub id: u64,
    pub kind: LiveKind,
    pub at: DateTime<Utc>,
    /// The bot the event concerns, if any (the stream's `bot_id` filter).
    pub bot_id: Option<Uuid>,
    /// The SSE `data:` payload; its shape per kind is in docs/architecture.md.
    pub data: Value,
}

/// `decision` or `no_trade`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceKind {
    Decision,
    NoTrade,
}

/// One evaluation's outcome, as the stream shows it (the full trace is at the traces API).
#[derive(Debug, Clone, Serialize)]
pub struct TraceSummary {
    pub bot_id: Uuid,
    pub run_id: Option<Uuid>,
    pub kind: TraceKind,
    pub reason_code: String,
    /// Codes of the gates that blocked it (`no_trade`); empty for a decision.
    pub blocked_codes: Vec<String>,
    pub trace_id: String,
    pub at: DateTime<Utc>,
}

/// Sizes of the bus.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// Events kept for resuming clients.
    pub ring: usize,
    /// Events a subscriber may fall behind before it lags (then it catches up from the ring).
    pub channel: usize,
    /// The node this process is (issue 18): system events published and recorded through
    /// this bus carry it.
    pub node: Option<String>,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            ring: 10_000,
            channel: 4_096,
            node: None,
        }
    }
}

struct Ring {
    /// The id the next event gets.
    next: u64,
    events: VecDeque<Arc<LiveEvent>>,
}

struct Inner {
    tx: broadcast::Sender<Arc<LiveEvent>>,
    ring: Mutex<Ring>,
    capacity: usize,
    /// Ids of this process are greater than `base`.
    base: u64,
    closed: watch::Sender<bool>,
    /// Stamps the events the bus makes itself (bot status) and seeds the id base.
    clock: Clock,
    node: Option<String>,
}

/// Cheap to clone; every clone is the same bus.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("base", &self.inner.base)
            .field("last_id", &self.last_id())
            .finish()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(BusConfig::default(), Clock::system())
    }
}

fn lock(m: &Mutex<Ring>) -> MutexGuard<'_, Ring> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where a subscription starts.
enum Start {
    /// Events after the client's id, from the ring.
    Replay(Vec<Arc<LiveEvent>>),
    /// The client's id is unknown here (too old, or another process's): it must refetch.
    Reset,
}

impl EventBus {
    pub fn new(config: BusConfig, clock: Clock) -> Self {
        // Microseconds since the epoch: a later process starts above every id an earlier one
        // could have reached (short of a million events per second), and stays below 2^53 so
        // browsers read ids exactly.
        let base = u64::try_from(clock.now().timestamp_micros()).unwrap_or(0);
        let capacity = config.ring.max(1);
        Self {
            inner: Arc::new(Inner {
                tx: broadcast::channel(config.channel.max(1)).0,
                ring: Mutex::new(Ring {
                    next: base + 1,
                    events: VecDeque::with_capacity(capacity.min(1024)),
                }),
                capacity,
                base,
                closed: watch::channel(false).0,
                clock,
                node: config.node,
            }),
        }
    }

    /// The node this process is, if it is one.
    pub fn node(&self) -> Option<&str> {
        self.inner.node.as_deref()
    }

    /// The process's clock (the one the runtime was started with).
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The id of the latest event (the base when none was published yet).
    pub fn last_id(&self) -> u64 {
        lock(&self.inner.ring).next - 1
    }

    /// Publishes an event; `at` goes into the data object too. Never blocks on subscribers.
    pub fn publish(
        &self,
        kind: LiveKind,
        bot_id: Option<Uuid>,
        at: DateTime<Utc>,
        mut data: Value,
    ) -> u64 {
        if let Value::Object(map) = &mut data {
            map.entry("at").or_insert_with(|| json!(at));
        }
        let mut ring = lock(&self.inner.ring);
        let id = ring.next;
        ring.next += 1;
        let event = Arc::new(LiveEvent {
            id,
            kind,
            at,
            bot_id,
            data,
        });
        if ring.events.len() == self.inner.capacity {
            ring.events.pop_front();
        }
        ring.events.push_back(event.clone());
        // Sent under the ring lock so broadcast order is id order. No subscriber: fine.
        let _ = self.inner.tx.send(event);
        id
    }

    /// A system event, shaped like an item of `GET /api/system/events`.
    pub fn publish_system_event(&self, event: &SystemEvent) -> u64 {
        let data = serde_json::to_value(event).unwrap_or_else(|_| json!({}));
        self.publish(LiveKind::SystemEvent, event.bot_id, event.created_at, data)
    }

    /// A circuit breaker changed state (`scope`: `bot:<uuid>` or `provider:<id>`; states
    /// `CLOSED`, `OPEN`, `HALF_OPEN`).
    pub fn publish_breaker(
        &self,
        scope: &str,
        from: BreakerState,
        to: BreakerState,
        reason: &str,
        at: DateTime<Utc>,
    ) -> u64 {
        // The event names the bot or provider its scope stands for.
        let bot_id = scope.strip_prefix("bot:").and_then(|s| s.parse().ok());
        let provider_id = scope.strip_prefix("provider:");
        self.publish(
            LiveKind::Breaker,
            bot_id,
            at,
            json!({
                "scope": scope, "bot_id": bot_id, "provider_id": provider_id,
                "from": from, "to": to, "reason": reason,
            }),
        )
    }

    /// A bot's runner status changed (`status`: SPEC §2 bot status).
    pub fn publish_bot_status(
        &self,
        bot_id: Uuid,
        from: BotStatus,
        status: BotStatus,
        last_error: Option<&str>,
    ) -> u64 {
        self.publish(
            LiveKind::BotStatus,
            Some(bot_id),
            self.inner.clock.now(),
            json!({ "bot_id": bot_id, "from": from, "status": status, "last_error": last_error }),
        )
    }

    /// An evaluation's outcome (decision or no-trade).
    pub fn publish_trace(&self, summary: TraceSummary) -> u64 {
        let data = serde_json::to_value(&summary).unwrap_or_else(|_| json!({}));
        self.publish(LiveKind::Trace, Some(summary.bot_id), summary.at, data)
    }

    /// A job changed status or progress (`status`: SPEC §2 job status; `reason_code` of the
    /// transition, none for a progress report).
    pub fn publish_job(&self, job: &JobRun, reason_code: Option<&str>) -> u64 {
        self.publish(
            LiveKind::Job,
            job.bot_id,
            self.inner.clock.now(),
            json!({
                "job_id": job.id, "kind": job.kind, "status": job.status,
                "progress_pct": job.progress_pct, "reason_code": reason_code,
                "error_code": job.error_code, "bot_id": job.bot_id,
            }),
        )
    }

    /// Ends every subscription (a shutting-down server must not wait on open streams).
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    /// Subscribes, then reads the ring, under the same lock: the replay ends exactly where
    /// the live feed begins (no gap, no duplicate).
    fn attach(&self, after: Option<u64>) -> (broadcast::Receiver<Arc<LiveEvent>>, u64, Start) {
        let ring = lock(&self.inner.ring);
        let rx = self.inner.tx.subscribe();
        let last = ring.next - 1;
        let start = match after {
            None => Start::Replay(Vec::new()),
            Some(id) if id < self.inner.base || id > last => Start::Reset,
            Some(id) => {
                let first = ring.events.front().map_or(ring.next, |e| e.id);
                if id + 1 < first {
                    Start::Reset
                } else {
                    let skip = usize::try_from(id + 1 - first).unwrap_or(usize::MAX);
                    Start::Replay(ring.events.iter().skip(skip).cloned().collect())
                }
            }
        };
        (rx, last, start)
    }

    /// A subscription resuming after `after` (a client's `Last-Event-ID`; `None`: from now).
    pub fn subscribe(&self, after: Option<u64>, filter: Filter) -> Subscription {
        let (rx, last, start) = self.attach(after);
        let mut sub = Subscription {
            bus: self.clone(),
            rx,
            closed: self.inner.closed.subscribe(),
            filter,
            last,
            pending: VecDeque::new(),
        };
        match (after, start) {
            // A fresh client learns its position first, so it can resume even if nothing
            // happens before it disconnects.
            (None, _) => sub.pending.push_back(Delivery::Position(last)),
            (Some(_), Start::Replay(events)) => sub.queue(events),
            (Some(_), Start::Reset) => sub.pending.push_back(Delivery::Reset {
                last_id: last,
                reason: ResetReason::UnknownId,
            }),
        }
        sub
    }
}

/// Which events a subscriber wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `None`: every kind.
    pub kinds: Option<HashSet<LiveKind>>,
    /// Only events about this bot.
    pub bot_id: Option<Uuid>,
}

impl Filter {
    pub fn matches(&self, e: &LiveEvent) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&e.kind))
            && self.bot_id.is_none_or(|b| e.bot_id == Some(b))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetReason {
    /// The client's `Last-Event-ID` is older than the ring or from another process.
    UnknownId,
    /// The client fell further behind than the ring holds.
    Lagged,
}

/// What a subscription yields next.
#[derive(Debug, Clone)]
pub enum Delivery {
    Event(Arc<LiveEvent>),
    /// The stream's position (sent first to a fresh client; carries no event).
    Position(u64),
    /// Events were missed: refetch state, then continue from `last_id`.
    Reset {
        last_id: u64,
        reason: ResetReason,
    },
}

pub struct Subscription {
    bus: EventBus,
    rx: broadcast::Receiver<Arc<LiveEvent>>,
    closed: watch::Receiver<bool>,
    filter: Filter,
    /// The last id this subscription has accounted for (delivered or filtered out).
    last: u64,
    pending: VecDeque<Delivery>,
}

impl Subscription {
    fn queue(&mut self, events: Vec<Arc<LiveEvent>>) {
        for e in events {
            self.last = e.id;
            if self.filter.matches(&e) {
                self.pending.push_back(Delivery::Event(e));
            }
        }
    }

    /// Fell behind the broadcast: catch up from the ring, or reset when it no longer holds
    /// the missed events. Never skips silently.
    fn recover(&mut self) {
        let (rx, last, start) = self.bus.attach(Some(self.last));
        self.rx = rx;
        match start {
            Start::Replay(events) => self.queue(events),
            Start::Reset => {
                self.last = last;
                self.pending.push_back(Delivery::Reset {
                    last_id: last,
                    reason: ResetReason::Lagged,
                });
            }
        }
    }

    /// The next delivery; `None` once the bus is closed.
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            if *self.closed.borrow() {
                return None;
            }
            if let Some(d) = self.pending.pop_front() {
                return Some(d);
            }
            let received = tokio::select! {
                r = self.rx.recv() => r,
                _ = self.closed.wait_for(|c| *c) => return None,
            };
            match received {
                Ok(e) if e.id <= self.last => {}
                Ok(e) if e.id == self.last + 1 => self.queue(vec![e]),
                // A hole in consecutive ids: missed something; treat as a lag.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.recover(),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(ring: usize, channel: usize) -> EventBus {
        EventBus::new(
            BusConfig {
                ring,
                channel,
                node: None,
            },
            Clock::system(),
        )
    }

    fn publish_n(bus: &EventBus, n: usize) -> Vec<u64> {
        (0..n)
            .map(|i| {
                bus.publish(
                    LiveKind::SystemEvent,
                    None,
                    bus.clock().now(),
                    json!({ "i": i }),
                )
            })
            .collect()
    }

    async fn events(sub: &mut Subscription, n: usize) -> Vec<u64> {
        let mut ids = Vec::new();
        while ids.len() < n {
            match sub.next().await.unwrap() {
                Delivery::Event(e) => ids.push(e.id),
                other => panic!("expected an event, got {other:?}"),
            }
        }
        ids
    }

    #[tokio::test]
    async fn ids_are_consecutive_and_above_the_base() {
        let bus = EventBus::default();
        let base = bus.last_id();
        let ids = publish_n(&bus, 3);
        assert_eq!(ids, vec![base + 1, base + 2, base + 3]);
        // A bus made later (another process) starts above every id this one handed out.
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(EventBus::default().last_id() > ids[2]);
    }

    #[tokio::test]
    async fn fresh_subscription_learns_its_position_then_gets_live_events() {
        let bus = EventBus::default();
        publish_n(&bus, 2);
        let mut sub = bus.subscribe(None, Filter::default());
        let at = bus.last_id();
        assert!(matches!(sub.next().await, Some(Delivery::Position(p)) if p == at));
        let ids = publish_n(&bus, 2);
        assert_eq!(events(&mut sub, 2).await, ids);
    }

    #[tokio::test]
    async fn resume_replays_exactly_what_was_missed_then_goes_live() {
        let bus = small(100, 16);
        let before = publish_n(&bus, 5);
        let mut sub = bus.subscribe(Some(before[1]), Filter::default());
        let live = publish_n(&bus, 2);
        let got = events(&mut sub, 5).await;
        assert_eq!(got, [&before[2..], &live[..]].concat());
        // Up to date: nothing replayed.
        let mut sub = bus.subscribe(Some(bus.last_id()), Filter::default());
        let next = publish_n(&bus, 1);
        assert_eq!(events(&mut sub, 1).await, next);
    }

    #[tokio::test]
    async fn evicted_or_foreign_ids_reset() {
        let bus = small(3, 16);
        let ids = publish_n(&bus, 6);
        for stale in [ids[0], ids[1], 7, bus.last_id() + 10] {
            let mut sub = bus.subscribe(Some(stale), Filter::default());
            match sub.next().await {
                Some(Delivery::Reset { last_id, reason }) => {
                    assert_eq!(last_id, ids[5]);
                    assert_eq!(reason, ResetReason::UnknownId);
                }
                other => panic!("{stale}: {other:?}"),
            }
        }
        // The oldest event still held is replayable from the id just before it.
        let mut sub = bus.subscribe(Some(ids[2]), Filter::default());
        assert_eq!(events(&mut sub, 3).await, ids[3..]);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_catches_up_from_the_ring_or_resets() {
        let bus = small(8, 2);
        let mut sub = bus.subscribe(None, Filter::default());
        assert!(matches!(sub.next().await, Some(Delivery::Position(_))));
        // Behind the channel but within the ring: every event, in order.
        let ids = publish_n(&bus, 6);
        assert_eq!(events(&mut sub, 6).await, ids);
        // Behind the ring too: a reset, then live again.
        publish_n(&bus, 20);
        match sub.next().await {
            Some(Delivery::Reset { last_id, reason }) => {
                assert_eq!(last_id, bus.last_id());
                assert_eq!(reason, ResetReason::Lagged);
            }
            other => panic!("{other:?}"),
        }
        let next = publish_n(&bus, 1);
        assert_eq!(events(&mut sub, 1).await, next);
    }

    #[tokio::test]
    async fn filters_apply_to_replay_and_live() {
        let bus = EventBus::default();
        let bot = Uuid::now_v7();
        let start = bus.last_id();
        bus.publish_bot_status(bot, BotStatus::Stopped, BotStatus::Starting, None);
        bus.publish_bot_status(Uuid::now_v7(), BotStatus::Stopped, BotStatus::Running, None);
        bus.publish_breaker(
            &format!("bot:{bot}"),
            BreakerState::Closed,
            BreakerState::Open,
            "3 failures",
            bus.clock().now(),
        );
        let filter = Filter {
            kinds: Some([LiveKind::BotStatus].into()),
            bot_id: Some(bot),
        };
        let mut sub = bus.subscribe(Some(start), filter);
        let mine = bus.publish_bot_status(bot, BotStatus::Starting, BotStatus::Running, None);
        let got = events(&mut sub, 2).await;
        assert_eq!(got, vec![start + 1, mine]);
    }

    #[tokio::test]
    async fn close_ends_subscriptions() {
        let bus = EventBus::default();
        let mut sub = bus.subscribe(Some(bus.last_id()), Filter::default());
        let waiting = tokio::spawn(async move { sub.next().await.is_none() });
        tokio::task::yield_now().await;
        bus.close();
        assert!(waiting.await.unwrap());
    }

    #[test]
    fn shapes_carry_their_fields() {
        let bus = EventBus::default();
        let mut rx = bus.inner.tx.subscribe();
        let bot = Uuid::now_v7();
        bus.publish_breaker(
            "provider:databento",
            BreakerState::Open,
            BreakerState::HalfOpen,
            "cool-down",
            bus.clock().now(),
        );
        let e = rx.try_recv().unwrap();
        assert_eq!(e.kind, LiveKind::Breaker);
        assert_eq!(e.data["provider_id"], "databento");
        assert!(e.data["bot_id"].is_null() && e.data["at"].is_string());
        bus.publish_trace(TraceSummary {
            bot_id: bot,
            run_id: None,
            kind: TraceKind::NoTrade,
            reason_code: "GATE_BLOCKED".into(),
            blocked_codes: vec!["KILL_SWITCH_ACTIVE".into()],
            trace_id: "t".repeat(32),
            at: bus.clock().now(),
        });
        let e = rx.try_recv().unwrap();
        assert_eq!((e.kind, e.bot_id), (LiveKind::Trace, Some(bot)));
        assert_eq!(e.data["kind"], "no_trade");
        assert_eq!(e.data["blocked_codes"][0], "KILL_SWITCH_ACTIVE");
    }
}
