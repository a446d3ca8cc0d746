//! The telemetry writer: system events and usage events are queued by callers without ever
//! waiting (`try_send` into a bounded buffer) and written to Postgres in multi-row batches by
//! one task.
//!
//! Under a database outage the writer keeps its current batch and retries with backoff; the
//! buffer fills up to its bound, then new events are counted as dropped (never silently): the
//! writer reports `degraded`, and once the database answers again it writes a SEV-2
//! `TELEMETRY_DEGRADED` event naming how many events were lost and how long the outage lasted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use crate::bus::{BusConfig, EventBus};
use crate::clock::Clock;
use crate::store::system_events::{self, NewSystemEvent, Severity, StampedSystemEvent};
use crate::store::usage_events::{self, CachedRead, UsageEvent};

/// Sizing and retry policy.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// Events buffered (queued, not yet taken into a batch) before new ones are dropped.
    pub capacity: usize,
    /// Largest batch written in one statement per table.
    pub batch_max: usize,
    /// First retry delay after a failed write (doubles up to `retry_max`).
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// At shutdown, how long to keep trying to write what is buffered.
    pub shutdown_deadline: Duration,
    /// Writer tasks (each with its own connection when writing): one builds a batch while
    /// another's is in Postgres.
    pub workers: usize,
    /// The node this process is: its system events carry it (`node_id`).
    pub node: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            capacity: 100_000,
            batch_max: 5_000,
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            shutdown_deadline: Duration::from_secs(5),
            workers: 2,
            node: None,
        }
    }
}

enum Item {
    System(StampedSystemEvent),
    Usage(UsageEvent),
    /// A bar read served from the feed's window: a usage event kept as its parts (one per bot
    /// and bar; built into its row only by the writer).
    Read(CachedRead),
}

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    written_system: AtomicU64,
    written_usage: AtomicU64,
    dropped_total: AtomicU64,
    /// Dropped since the last `TELEMETRY_DEGRADED` report.
    dropped_unreported: AtomicU64,
    degraded: AtomicBool,
    failed_writes: AtomicU64,
}

/// What the writer has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct TelemetryStats {
    /// Events accepted into the buffer.
    pub queued: u64,
    pub written_system: u64,
    pub written_usage: u64,
    /// Events refused because the buffer was full or the writer had stopped.
    pub dropped: u64,
    /// The last write failed and the writer is retrying.
    pub degraded: bool,
    pub failed_writes: u64,
}

/// Cheap, cloneable, never blocks: the only way the rest of the process talks to the writer.
/// Every system event it is given is also published live on its [`EventBus`].
#[derive(Clone)]
pub struct TelemetryHandle {
    tx: mpsc::Sender<Item>,
    counters: Arc<Counters>,
    bus: EventBus,
}

impl std::fmt::Debug for TelemetryHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryHandle")
            .field("stats", &self.stats())
            .finish()
    }
}

impl TelemetryHandle {
    /// Queues a system event (stamped now). `false` if it was dropped (and counted).
    pub fn system_event(&self, event: NewSystemEvent) -> bool {
        self.stamped_system_event(event.stamp(self.clock().now()))
    }

    /// Queues an already stamped system event (keeps its time). Published live even when the
    /// buffer is full: the stream still tells the truth during a database outage.
    pub fn stamped_system_event(&self, mut event: StampedSystemEvent) -> bool {
        if event.event.node_id.is_none() {
            event.event.node_id = self.bus.node().map(str::to_owned);
        }
        self.bus.publish_system_event(&event.to_row());
        self.push(Item::System(event))
    }

    /// The live event bus (`GET /api/events/stream`).
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// The clock events are stamped with (the bus's).
    pub fn clock(&self) -> &Clock {
        self.bus.clock()
    }

    /// Queues a usage event. `false` if it was dropped (and counted).
    pub fn usage(&self, event: UsageEvent) -> bool {
        self.push(Item::Usage(event))
    }

    /// Queues a bar read's usage event (the same row as [`CachedRead::into_event`]). `false`
    /// if it was dropped (and counted).
    pub fn cached_read(&self, read: CachedRead) -> bool {
        self.push(Item::Read(read))
    }

    fn push(&self, item: Item) -> bool {
        match self.tx.try_send(item) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.counters.dropped_total.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .dropped_unreported
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Room left in the buffer (a producer that would rather wait than drop can check it).
    pub fn free_capacity(&self) -> usize {
        self.tx.capacity()
    }

    /// Events waiting in the buffer for the writer.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn stats(&self) -> TelemetryStats {
        let c = &self.counters;
        TelemetryStats {
            queued: c.queued.load(Ordering::Relaxed),
            written_system: c.written_system.load(Ordering::Relaxed),
            written_usage: c.written_usage.load(Ordering::Relaxed),
            dropped: c.dropped_total.load(Ordering::Relaxed),
            degraded: c.degraded.load(Ordering::Relaxed),
            failed_writes: c.failed_writes.load(Ordering::Relaxed),
        }
    }

    /// A handle with no writer behind it: every event is counted as dropped. For an AppState
    /// built without a running runtime.
    pub fn detached(clock: Clock) -> Self {
        let (tx, _rx) = mpsc::channel(1);
        Self {
            tx,
            counters: Arc::default(),
            bus: EventBus::new(BusConfig::default(), clock),
        }
    }
}

/// The writer tasks. Stop them with [`TelemetryWriter::shutdown`] to flush what is buffered.
pub struct TelemetryWriter {
    handle: TelemetryHandle,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl TelemetryWriter {
    /// Starts the writer tasks; events are stamped with `clock` and published live on a new bus.
    pub fn start(pool: PgPool, config: TelemetryConfig, clock: Clock) -> Self {
        let bus = EventBus::new(
            BusConfig {
                node: config.node.clone(),
                ..BusConfig::default()
            },
            clock,
        );
        let (tx, rx) = mpsc::channel(config.capacity.max(1));
        let counters = Arc::new(Counters::default());
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            pool,
            bus: bus.clone(),
            rx: tokio::sync::Mutex::new(rx),
            counters: counters.clone(),
            outage_since: std::sync::Mutex::new(None),
            config,
        });
        let tasks = (0..shared.config.workers.max(1))
            .map(|_| {
                tokio::spawn(
                    Worker {
                        shared: shared.clone(),
                        system: Vec::new(),
                        usage: Vec::new(),
                        reads: Vec::new(),
                    }
                    .run(stop_rx.clone()),
                )
            })
            .collect();
        Self {
            handle: TelemetryHandle { tx, counters, bus },
            stop,
            tasks,
        }
    }

    pub fn handle(&self) -> TelemetryHandle {
        self.handle.clone()
    }

    /// Stops accepting events, writes everything buffered (retrying up to the shutdown
    /// deadline; what still cannot be written is counted as dropped) and returns the totals.
    pub async fn shutdown(self) -> TelemetryStats {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "telemetry writer task failed");
            }
        }
        self.handle.stats()
    }
}

/// What the writer tasks share: the receiving end (taken in turns, one batch at a time), the
/// counters and the outage clock.
struct Shared {
    pool: PgPool,
    bus: EventBus,
    config: TelemetryConfig,
    rx: tokio::sync::Mutex<mpsc::Receiver<Item>>,
    counters: Arc<Counters>,
    outage_since: std::sync::Mutex<Option<Instant>>,
}

/// One writer task: takes a batch, writes it (retrying until it lands), repeats. Several run
/// side by side so one batch is built while another is in Postgres.
struct Worker {
    shared: Arc<Shared>,
    system: Vec<StampedSystemEvent>,
    usage: Vec<UsageEvent>,
    reads: Vec<CachedRead>,
}

impl Worker {
    fn take(&mut self, item: Item) {
        match item {
            Item::System(e) => self.system.push(e),
            Item::Usage(e) => self.usage.push(e),
            Item::Read(r) => self.reads.push(r),
        }
    }

    fn batch_len(&self) -> usize {
        self.system.len() + self.usage.len() + self.reads.len()
    }

    /// Takes what is queued, up to the batch size, without waiting.
    fn fill(&mut self, rx: &mut mpsc::Receiver<Item>) {
        while self.batch_len() < self.shared.config.batch_max {
            match rx.try_recv() {
                Ok(item) => self.take(item),
                Err(_) => break,
            }
        }
    }

    /// Waits for at least one item (or stop), then takes a batch. `false` once stopping or
    /// the channel is closed.
    async fn next_batch(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        let shared = self.shared.clone();
        let mut rx = tokio::select! {
            rx = shared.rx.lock() => rx,
            _ = stop.wait_for(|s| *s) => return false,
        };
        tokio::select! {
            item = rx.recv() => match item {
                Some(item) => self.take(item),
                None => return false,
            },
            _ = stop.wait_for(|s| *s) => return false,
        }
        self.fill(&mut rx);
        true
    }

    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let config = self.shared.config.clone();
        let mut retry = config.retry_min;
        loop {
            if self.batch_len() == 0 && !self.next_batch(&mut stop).await {
                break;
            }
            if self.write().await {
                retry = config.retry_min;
                continue;
            }
            // Keep the batch (and take no more: the bounded buffer does the counting).
            tokio::select! {
                () = tokio::time::sleep(retry) => {},
                _ = stop.wait_for(|s| *s) => break,
            }
            retry = (retry * 2).min(config.retry_max);
        }
        self.drain().await;
    }

    /// Writes the current batch. On success also reports a past outage or drops.
    async fn write(&mut self) -> bool {
        let shared = self.shared.clone();
        let counters = &shared.counters;
        let result = async {
            if !self.system.is_empty() {
                system_events::insert_many(&shared.pool, &self.system).await?;
                let n = self.system.len() as u64;
                counters.written_system.fetch_add(n, Ordering::Relaxed);
                self.system.clear();
            }
            if !self.usage.is_empty() || !self.reads.is_empty() {
                usage_events::insert_batch(&shared.pool, &self.usage, &self.reads).await?;
                let n = (self.usage.len() + self.reads.len()) as u64;
                counters.written_usage.fetch_add(n, Ordering::Relaxed);
                self.usage.clear();
                self.reads.clear();
            }
            Ok::<(), sqlx::Error>(())
        }
        .await;
        match result {
            Ok(()) => {
                counters.degraded.store(false, Ordering::Relaxed);
                self.report_recovery();
                true
            }
            Err(err) => {
                counters.failed_writes.fetch_add(1, Ordering::Relaxed);
                if !counters.degraded.swap(true, Ordering::Relaxed) {
                    let mut since = shared
                        .outage_since
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    since.get_or_insert_with(Instant::now);
                    tracing::warn!(error = %err, buffered = self.batch_len(), "telemetry write failed; retrying");
                }
                false
            }
        }
    }

    /// After an outage or any drop: one SEV-2 event saying what was lost (put into this
    /// worker's next batch, so it is written with the same guarantees).
    fn report_recovery(&mut self) {
        let outage = self
            .shared
            .outage_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let dropped = self
            .shared
            .counters
            .dropped_unreported
            .swap(0, Ordering::Relaxed);
        if outage.is_none() && dropped == 0 {
            return;
        }
        let outage_ms = outage.map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX));
        let message = format!(
            "telemetry was degraded: {dropped} events dropped{}",
            outage_ms
                .map(|ms| format!(", database unavailable for {ms} ms"))
                .unwrap_or_default()
        );
        let event = NewSystemEvent::new(Severity::Sev2, "TELEMETRY_DEGRADED", message)
            .metadata(json!({ "dropped": dropped, "outage_ms": outage_ms }))
            .stamp(self.shared.bus.clock().now());
        self.shared.bus.publish_system_event(&event.to_row());
        self.system.push(event);
    }

    /// Shutdown: refuse new events, write everything left until the deadline.
    async fn drain(&mut self) {
        let shared = self.shared.clone();
        let deadline = Instant::now() + shared.config.shutdown_deadline;
        let mut retry = shared.config.retry_min;
        loop {
            {
                let mut rx = shared.rx.lock().await;
                rx.close();
                self.fill(&mut rx);
            }
            if self.batch_len() == 0 {
                return;
            }
            if self.write().await {
                continue;
            }
            if Instant::now() + retry > deadline {
                let mut lost = self.batch_len() as u64;
                let mut rx = shared.rx.lock().await;
                while rx.try_recv().is_ok() {
                    lost += 1;
                }
                shared
                    .counters
                    .dropped_total
                    .fetch_add(lost, Ordering::Relaxed);
                tracing::error!(lost, "telemetry could not be flushed before shutdown");
                return;
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(shared.config.retry_max);
        }
    }
}

/// Provider calls report their usage events here: queued, never awaited.
impl crate::integrations::usage::UsageSink for TelemetryHandle {
    fn record(&self, event: UsageEvent) {
        self.usage(event);
    }
}
