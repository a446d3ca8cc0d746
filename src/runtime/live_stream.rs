//! Databento's live stream feeding the bar feed's windows (issue 16 part 2).
//!
//! One session with the gateway per process, one subscription per (contract × schema) some
//! running bot reads, whatever the number of bots: the feed registers a series the first time
//! a runner reads it ([`LiveBars::mode`]), the stream subscribes to it (on the open session,
//! or with the next connect). Each bar that arrives is appended to the feed's window for
//! (`databento`, contract, timeframe), waking the runners waiting on that boundary, then
//! stored (`market_bars`, idempotent) by a task of its own, so the next bar never waits on
//! Postgres; a bar that does not follow the window's coverage (a dropped bar, a
//! reconnect) first has the gap filled from the historical API (one `bars.fetch`). A duplicate
//! bar is ignored.
//!
//! A runner's read of a streamed series ([`Mode::Stream`]) waits up to
//! [`LiveStreamConfig::bar_wait`] for the boundary's bar and then reads the window, cached: no
//! vendor call per bot. While the session is down or silent past its heartbeat interval
//! ([`Mode::Stale`]) the read returns the window as it is without waiting: its newest bar ages,
//! and the feed's one failover rule (`domain::feed_source`: a bar due by the calendar and the
//! primary's newest bar past the freshness limit) moves the series to the secondary; once the
//! stream is back and has filled its gap, the primary is fresh again and the series returns
//! after the hysteresis. Boundaries from before a series was subscribed are history, read from
//! the historical API as before.
//!
//! Subscriptions follow the bots: a series no runner has read for
//! [`LiveStreamConfig::unused_after`] (and at least three of its bars; a stopped bot, the old
//! contract after a roll) is no longer wanted and is unsubscribed on the open session
//! (`LiveSession::unsubscribe`, the crate's `LiveClient::unsubscribe`; one usage event
//! `live.unsubscribe` each), looked for at most once per
//! [`LiveStreamConfig::unsubscribe_every`] (debounced; default a minute). A series read again
//! later is subscribed again like a new one. A reconnect subscribes to the wanted series only.
//!
//! The session runs in a task owned by the `live-stream` actor (supervised under the root):
//! connect (CRAM) → subscribe → start → read, reconnecting with exponential backoff. Each
//! connect and subscribe is one usage event (`live.connect`, `live.subscribe`); bars are not
//! calls. Gateway error records (a symbol that does not resolve) are SEV-3
//! `DATA_STREAM_ERROR` system events.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::json;
use tokio::sync::Notify;
use tradeplane_actors::Backoff;

use super::RuntimeHandle;
use super::evaluator::Trading;
use super::providers::BarsRequest;
use crate::domain::{bars::Bar, contracts::Contract, timeframe::Timeframe};
use crate::integrations::{
    http::CallContext,
    providers::{
        ProviderClient,
        databento_live::{self, LiveEvent, LiveSession},
    },
};
use crate::store::market_bars::{self, Series};
use crate::store::system_events::{NewSystemEvent, Severity};

/// The provider whose bars the stream delivers.
pub const PROVIDER: &str = "databento";

type Key = (Contract, Timeframe);

#[derive(Debug, Clone)]
pub struct LiveStreamConfig {
    /// The heartbeat interval asked of the gateway; a session silent for one and a half of it
    /// is stale.
    pub heartbeat: Duration,
    /// How long a runner's read waits for its boundary's bar on the stream.
    pub bar_wait: Duration,
    /// Reconnect backoff.
    pub backoff: Backoff,
    /// A series no runner read for this long (and for three of its bars) is unsubscribed.
    pub unused_after: Duration,
    /// How often unused series are looked for and unsubscribed (debounce).
    pub unsubscribe_every: Duration,
}

impl Default for LiveStreamConfig {
    fn default() -> Self {
        LiveStreamConfig {
            heartbeat: Duration::from_secs(10),
            bar_wait: Duration::from_secs(2),
            backoff: Backoff::exponential(Duration::from_millis(500), Duration::from_secs(30)),
            unused_after: Duration::from_secs(60),
            unsubscribe_every: Duration::from_secs(60),
        }
    }
}

/// How a read of a series is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not streamed (yet), or a boundary from before its subscription: the historical API.
    History,
    /// Streamed and the session is healthy: wait for the boundary's bar, read the window.
    Stream,
    /// Streamed but the session is down or silent: read the window as it is.
    Stale,
}

#[derive(Default)]
struct Hub {
    /// Every series asked for, with the clock time it was first subscribed (`None`: not yet).
    wanted: HashMap<Key, Option<DateTime<Utc>>>,
    /// Per wanted series, the latest boundary a runner read it for.
    last_read: HashMap<Key, DateTime<Utc>>,
    /// The open session's last record (any: bar, heartbeat), monotonic.
    last_seen: Option<Instant>,
    up: bool,
    /// Subscriptions sent on the open session.
    on_session: BTreeSet<(String, &'static str)>,
}

/// What the feed and the stream task share.
pub struct LiveBars {
    hub: Mutex<Hub>,
    /// Per series: woken when a bar lands in its window or the session goes down.
    wakes: Mutex<HashMap<Key, Arc<Notify>>>,
    /// Woken when a new series is wanted.
    demand: Notify,
    config: LiveStreamConfig,
    /// Bars delivered, gaps filled, duplicates ignored (figures and tests).
    pub stats: LiveStats,
    /// Each new bar as it lands in its window (figures: arrival → evaluations done).
    arrivals: tokio::sync::broadcast::Sender<Arrival>,
}

/// A streamed bar's arrival.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub contract: Contract,
    pub timeframe: Timeframe,
    pub ts_open: DateTime<Utc>,
    /// When the stream decoded it (monotonic).
    pub at: Instant,
}

#[derive(Debug, Default)]
pub struct LiveStats {
    pub bars: std::sync::atomic::AtomicU64,
    pub gap_fills: std::sync::atomic::AtomicU64,
    pub duplicates: std::sync::atomic::AtomicU64,
    pub connects: std::sync::atomic::AtomicU64,
    pub subscriptions: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LiveBars {
    pub fn new(config: LiveStreamConfig) -> Self {
        LiveBars {
            hub: Mutex::default(),
            wakes: Mutex::default(),
            demand: Notify::new(),
            config,
            stats: LiveStats::default(),
            arrivals: tokio::sync::broadcast::channel(4096).0,
        }
    }

    /// Streamed bars as they arrive.
    pub fn arrivals(&self) -> tokio::sync::broadcast::Receiver<Arrival> {
        self.arrivals.subscribe()
    }

    pub fn config(&self) -> &LiveStreamConfig {
        &self.config
    }

    /// How a read of `contract`'s `timeframe` bars up to `until` is served; the first read of
    /// a series with a live schema asks the stream for it.
    pub fn mode(&self, contract: Contract, timeframe: Timeframe, until: DateTime<Utc>) -> Mode {
        if databento_live::live_schema(timeframe).is_none() {
            return Mode::History;
        }
        let mut hub = lock(&self.hub);
        let read = hub.last_read.entry((contract, timeframe)).or_insert(until);
        *read = (*read).max(until);
        let healthy = hub.up
            && hub
                .last_seen
                .is_some_and(|t| t.elapsed() <= self.config.heartbeat * 3 / 2);
        match hub.wanted.get(&(contract, timeframe)) {
            None => {
                hub.wanted.insert((contract, timeframe), None);
                drop(hub);
                self.demand.notify_one();
                Mode::History
            }
            Some(None) => Mode::History,
            // The bar closing at `until` opened after the subscription: the stream's.
            Some(Some(since)) if until - timeframe.duration() < *since => Mode::History,
            Some(Some(_)) if healthy => Mode::Stream,
            Some(Some(_)) => Mode::Stale,
        }
    }

    /// The wake-up of a series' window.
    pub fn wake(&self, contract: Contract, timeframe: Timeframe) -> Arc<Notify> {
        lock(&self.wakes)
            .entry((contract, timeframe))
            .or_default()
            .clone()
    }

    /// Series subscribed so far (one per contract × schema, whatever the number of bots).
    pub fn subscriptions(&self) -> usize {
        lock(&self.hub).on_session.len()
    }

    fn wake_all(&self) {
        for n in lock(&self.wakes).values() {
            n.notify_waiters();
        }
    }

    fn touch(&self) {
        let mut hub = lock(&self.hub);
        hub.last_seen = Some(Instant::now());
    }

    fn set_up(&self, up: bool) {
        {
            let mut hub = lock(&self.hub);
            hub.up = up;
            if up {
                hub.last_seen = Some(Instant::now());
            } else {
                hub.on_session.clear();
            }
        }
        if !up {
            self.wake_all();
        }
    }

    /// Series wanted but not subscribed on the open session.
    fn pending(&self) -> Vec<Key> {
        let hub = lock(&self.hub);
        hub.wanted
            .keys()
            .filter(|(c, tf)| !hub.on_session.contains(&(c.code(), tf.as_str())))
            .copied()
            .collect()
    }

    /// Drops from the wanted set the series no runner read since `now` less
    /// [`LiveStreamConfig::unused_after`] (or three of its bars, if longer); returns them.
    fn drop_unused(&self, now: DateTime<Utc>) -> Vec<Key> {
        let mut hub = lock(&self.hub);
        let floor = chrono::Duration::from_std(self.config.unused_after)
            .unwrap_or_else(|_| chrono::Duration::days(3650));
        let unused: Vec<Key> = hub
            .wanted
            .keys()
            .filter(|key| {
                let idle = floor.max(key.1.duration() * 3);
                hub.last_read.get(key).is_none_or(|read| now - *read > idle)
            })
            .copied()
            .collect();
        for key in &unused {
            hub.wanted.remove(key);
            hub.last_read.remove(key);
        }
        unused
    }

    /// `key` is no longer subscribed on the open session.
    fn unsubscribed(&self, key: Key) {
        lock(&self.hub)
            .on_session
            .remove(&(key.0.code(), key.1.as_str()));
    }

    /// Whether the open session has `key` subscribed.
    fn on_session(&self, key: Key) -> bool {
        lock(&self.hub)
            .on_session
            .contains(&(key.0.code(), key.1.as_str()))
    }

    fn subscribed(&self, key: Key, at: DateTime<Utc>) {
        let mut hub = lock(&self.hub);
        hub.on_session.insert((key.0.code(), key.1.as_str()));
        hub.wanted.entry(key).or_default().get_or_insert(at);
    }
}

/// The `live-stream` actor: owns the session task; a task that ends unexpectedly fails the
/// actor, and its supervisor restarts it.
pub struct LiveStream;

pub struct LiveStreamArgs {
    pub rt: RuntimeHandle,
    pub trading: Arc<Trading>,
    pub live: Arc<LiveBars>,
}

pub enum LiveStreamMsg {
    Ended(String),
}

impl Actor for LiveStream {
    type Msg = LiveStreamMsg;
    /// The session task and its watcher.
    type State = (tokio::task::AbortHandle, tokio::task::JoinHandle<()>);
    type Arguments = LiveStreamArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: LiveStreamArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let task = tokio::spawn(run(args.rt, args.trading, args.live));
        let abort = task.abort_handle();
        let watcher = tokio::spawn(async move {
            let why = match task.await {
                Ok(()) => "the session loop returned".to_owned(),
                Err(e) => e.to_string(),
            };
            let _ = myself.cast(LiveStreamMsg::Ended(why));
        });
        Ok((abort, watcher))
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            LiveStreamMsg::Ended(why) => Err(format!("live stream ended: {why}").into()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.1.abort();
        state.0.abort();
        Ok(())
    }
}

/// Connect, subscribe, read; reconnect with backoff. Never returns while the runtime runs.
async fn run(rt: RuntimeHandle, trading: Arc<Trading>, live: Arc<LiveBars>) {
    let Some(client) = rt.integrations().client(PROVIDER) else {
        return std::future::pending().await;
    };
    // The bars are stored by a task of their own: the stream's read path never waits on
    // Postgres (the pool, busy with the runners' order writes at a boundary where many bots
    // decide, held the next symbol's bar back from its window by as long). It ends, after
    // storing what is queued, when this loop is dropped.
    let (store, stored) = tokio::sync::mpsc::channel(STORE_QUEUE);
    tokio::spawn(store_bars(trading.pool.clone(), stored));
    let mut failures = 0u32;
    loop {
        // Nothing to stream until a runner reads a series.
        while lock(&live.hub).wanted.is_empty() {
            live.demand.notified().await;
        }
        let started = Instant::now();
        match session(&rt, &trading, &live, &client, &store).await {
            Ok(()) => tracing::info!("live stream: the gateway closed the session"),
            Err(e) => tracing::warn!(error = %e, "live stream: session failed"),
        }
        live.set_up(false);
        if started.elapsed() >= live.config.heartbeat * 3 {
            failures = 0;
        }
        tokio::time::sleep(live.config.backoff.delay(failures)).await;
        failures = failures.saturating_add(1);
    }
}

async fn subscribe_pending(
    live: &LiveBars,
    session: &mut LiveSession,
    client: &ProviderClient,
    now: DateTime<Utc>,
) -> Result<(), String> {
    for (contract, timeframe) in live.pending() {
        session
            .subscribe(client, contract, timeframe, CallContext::default())
            .await
            .map_err(|f| format!("{}: {}", f.code, f.message))?;
        live.stats
            .subscriptions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        live.subscribed((contract, timeframe), now);
    }
    Ok(())
}

/// Unsubscribes the series no runner reads any more from the open session (one usage event
/// `live.unsubscribe` each).
async fn unsubscribe_unused(
    rt: &RuntimeHandle,
    live: &LiveBars,
    session: &mut LiveSession,
    client: &ProviderClient,
) -> Result<(), String> {
    for key in live.drop_unused(rt.clock().now()) {
        if !live.on_session(key) {
            continue;
        }
        session
            .unsubscribe(client, key.0, key.1, CallContext::default())
            .await
            .map_err(|f| format!("{}: {}", f.code, f.message))?;
        live.unsubscribed(key);
    }
    Ok(())
}

async fn session(
    rt: &RuntimeHandle,
    trading: &Trading,
    live: &LiveBars,
    client: &ProviderClient,
    store: &tokio::sync::mpsc::Sender<StreamedBar>,
) -> Result<(), String> {
    let failed = |f: crate::integrations::outcome::Failure| format!("{}: {}", f.code, f.message);
    let mut session =
        databento_live::connect(client, live.config.heartbeat, CallContext::default())
            .await
            .map_err(failed)?;
    live.stats
        .connects
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    subscribe_pending(live, &mut session, client, rt.clock().now()).await?;
    session.start().await.map_err(failed)?;
    live.set_up(true);
    // How often the session looks for series no runner reads any more (the first look one
    // period after the start).
    let every = live
        .config
        .unsubscribe_every
        .max(Duration::from_millis(100));
    let mut unused = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    unused.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let demand = live.demand.notified();
        tokio::select! {
            _ = unused.tick() => {
                unsubscribe_unused(rt, live, &mut session, client).await?;
            }
            event = session.next() => match event.map_err(failed)? {
                None => return Ok(()),
                Some(event) => {
                    live.touch();
                    match event {
                        LiveEvent::Bar { contract, timeframe, bar } => {
                            on_bar(rt, trading, live, store, (contract, timeframe), bar).await;
                        }
                        LiveEvent::System(_) => {}
                        LiveEvent::Error(msg) => {
                            rt.telemetry().system_event(
                                NewSystemEvent::new(
                                    Severity::Sev3,
                                    "DATA_STREAM_ERROR",
                                    format!("Databento live gateway: {msg}"),
                                )
                                .provider(PROVIDER)
                                .metadata(json!({"error": msg})),
                            );
                        }
                    }
                }
            },
            () = demand => {
                subscribe_pending(live, &mut session, client, rt.clock().now()).await?;
            }
        }
    }
}

/// Streamed bars the store task may be behind by before the stream waits for it.
const STORE_QUEUE: usize = 4_096;

/// A streamed bar on its way to `market_bars`.
type StreamedBar = (Key, Bar);

/// Stores the streamed bars in arrival order (idempotent: a replayed bar is one row), each
/// series' bars of a batch in one statement; ends when the stream's loop drops its sender.
async fn store_bars(pool: sqlx::PgPool, mut bars: tokio::sync::mpsc::Receiver<StreamedBar>) {
    let mut batch = Vec::with_capacity(64);
    while bars.recv_many(&mut batch, 256).await > 0 {
        let mut start = 0;
        while start < batch.len() {
            let key = batch[start].0;
            let end = batch[start..]
                .iter()
                .position(|(k, _)| *k != key)
                .map_or(batch.len(), |n| start + n);
            let series = Series {
                provider_id: PROVIDER,
                symbol: key.0.root,
                contract: key.0,
                timeframe: key.1,
            };
            let run: Vec<Bar> = batch[start..end].iter().map(|(_, b)| b.clone()).collect();
            if let Err(e) = market_bars::upsert_many(&pool, series, &run).await {
                tracing::warn!(error = %e, "live stream: storing bars failed");
            }
            start = end;
        }
        batch.clear();
    }
}

/// One streamed bar into the feed's window (gap filled first from the historical API), then
/// the waiting runners are woken and the bar is queued for the store.
async fn on_bar(
    rt: &RuntimeHandle,
    trading: &Trading,
    live: &LiveBars,
    store: &tokio::sync::mpsc::Sender<StreamedBar>,
    (contract, timeframe): Key,
    bar: Bar,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let arrived = Instant::now();
    let outcome = trading
        .feed
        .push_stream_bar(PROVIDER, contract, timeframe, bar.clone(), |from, to| {
            live.stats.gap_fills.fetch_add(1, Relaxed);
            rt.fetch_bars(
                PROVIDER,
                BarsRequest {
                    instrument: contract.root,
                    contract: Some(contract),
                    timeframe,
                    from,
                    to,
                    ctx: CallContext::default(),
                },
            )
        })
        .await;
    live.wake(contract, timeframe).notify_waiters();
    if !outcome {
        live.stats.duplicates.fetch_add(1, Relaxed);
        return;
    }
    live.stats.bars.fetch_add(1, Relaxed);
    let _ = live.arrivals.send(Arrival {
        contract,
        timeframe,
        ts_open: bar.ts_open,
        at: arrived,
    });
    // Stored after the runners are woken, by the store task (the stream waits only when
    // that task is `STORE_QUEUE` bars behind).
    let _ = store.send(((contract, timeframe), bar)).await;
}
