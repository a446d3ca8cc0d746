//! The bar feed runners read from: one in-memory window per (provider, contract, timeframe).
//!
//! A runner reads the front contract of its root at the boundary (`domain::contracts`, the one
//! roll rule). At a roll it moves to the new contract's window, which the vendor fills with
//! that contract's own history, so an indicator window never splices two contracts' prices
//! (no fake jump at the roll; prices stay unadjusted).
//!
//! The first runner that needs bars up to a boundary fetches them through the provider's
//! ProviderActor (one vendor call, its usage event carries that bot's `bot_id`/`run_id`); the
//! runners that ask for the same boundary meanwhile wait on the window's lock and read what it
//! fetched. Every read is a usage event of the reading bot (`metadata.cached` says which were
//! served from the window), so each bot's proof of use is its own and vendor calls stay one per
//! symbol and bar, not one per bot.
//!
//! Failover: each series (root × timeframe) reads the primary (the first configured of
//! `integrations::bars::PROVIDERS`) until `domain::feed_source` judges it unhealthy (breaker not
//! CLOSED, a failed read, or a due bar late past the freshness limit); the same read is then
//! served by the secondary, so the boundary is evaluated on the secondary's bar. While on the
//! secondary, the first read of each boundary also probes the primary (concurrently; an open
//! breaker refuses it without a vendor call), and the series returns once the primary has
//! been healthy for the hysteresis (`FeedConfig::failback_after`). Each switch is a system
//! event: SEV-2 `DATA_FAILOVER` / INFO `DATA_FAILBACK` with from, to, reason and the trace id
//! of the evaluation that switched.
//!
//! Live stream hook (`live_stream`): when Databento's live stream serves a series, its bars
//! land in the same window ([`BarFeed::push_stream_bar`]) and a read waits for the boundary's
//! bar there instead of calling the historical API.
//!
//! The failover state is the cluster's, not the process's: each series' source and the
//! primary's healthy streak are recorded in `feed_sources` when they change, and loaded once
//! per boundary before the series is judged (the first read of a boundary, whatever the number
//! of bots). A restarted node, or another node reading the same series, so continues on the
//! secondary until the failback instead of starting on a primary that is down; the switch
//! events are written only by the node that judged the switch.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

use super::RuntimeHandle;
use super::live_stream::{self, LiveBars, Mode};
use super::providers::{BarsRequest, ProviderCallError};
use crate::domain::{
    bars::Bar,
    calendar::HolidayCalendar,
    contracts::Contract,
    feed_source::{self, Choice, FeedSource, PrimaryReading, Source},
    instruments::Symbol,
    risk::RiskLimits,
    timeframe::Timeframe,
};
pub use crate::integrations::bars::FeedRoute;
use crate::integrations::http::CallContext;
use crate::store::feed_sources::{self, FeedSourceRow};
use crate::store::system_events::{NewSystemEvent, Severity};
use crate::store::usage_events::CachedRead;
use crate::trace::TraceId;

/// A window's key: the provider's static id (no string made per read), contract, timeframe.
type Key = (&'static str, Contract, Timeframe);

#[derive(Default)]
struct Window {
    bars: VecDeque<Bar>,
    /// `[from, until)` already asked of the vendor.
    covered: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// How the feed fails over.
#[derive(Debug, Clone, Copy)]
pub struct FeedConfig {
    /// How long the primary must be healthy before a series returns to it (hysteresis).
    pub failback_after: chrono::Duration,
    /// How long a read waits for the primary when a secondary exists: a primary that has not
    /// answered by then counts as failed for this boundary and the secondary serves it (a
    /// hanging vendor costs this long, not its whole call time box). Its call still completes
    /// in its provider actor and is recorded there.
    pub primary_deadline: std::time::Duration,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            failback_after: chrono::Duration::minutes(5),
            primary_deadline: std::time::Duration::from_secs(5),
        }
    }
}

/// One runner's read: `need` bars of `timeframe` before `until`, from the route's source.
#[derive(Debug, Clone, Copy)]
pub struct FeedRequest {
    pub route: FeedRoute,
    pub instrument: Symbol,
    pub timeframe: Timeframe,
    pub until: DateTime<Utc>,
    pub need: usize,
    pub ctx: CallContext,
}

/// What a read returns: the bars and where they came from.
#[derive(Debug, Clone)]
pub struct BarRead {
    pub bars: Vec<Bar>,
    pub provider: &'static str,
    pub contract: Contract,
}

/// One series' source, and the last boundary its primary was probed for while on the
/// secondary (one probe per boundary, whatever the number of bots).
#[derive(Default)]
struct Series {
    source: FeedSource,
    probed: Option<DateTime<Utc>>,
    /// The boundary of the judgement `source` holds (this node's or a loaded record's).
    observed: Option<DateTime<Utc>>,
    /// The last boundary `feed_sources` was loaded for.
    synced: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct BarFeed {
    windows: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<Window>>>>,
    series: Mutex<HashMap<(Symbol, Timeframe), Series>>,
    config: FeedConfig,
    /// Databento's live stream, when configured (`live_stream`).
    live: OnceLock<Arc<LiveBars>>,
    /// Where the failover state is shared (`None`: this process's memory only).
    pool: Option<PgPool>,
    /// One `feed_sources` load at a time, so the bots of a boundary wait for the first's.
    loading: tokio::sync::Mutex<()>,
}

/// Most bars one window keeps (the longest strategy lookback is far below this).
const CAPACITY: usize = 2_000;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl BarFeed {
    pub fn new(config: FeedConfig) -> Self {
        BarFeed {
            config,
            ..BarFeed::default()
        }
    }

    /// Databento's live stream, when hooked in.
    pub fn live(&self) -> Option<&Arc<LiveBars>> {
        self.live.get()
    }

    /// Hooks Databento's live stream in (once, at start-up).
    pub fn set_live(&self, live: Arc<LiveBars>) {
        let _ = self.live.set(live);
    }

    /// Appends a bar that arrived on `provider`'s live stream to its window. A bar that does
    /// not follow what the window covers has the gap `[covered end, bar open)` filled first
    /// with `fill` (the historical API); when that fails the window is dropped and the next
    /// read fetches it whole. Returns `false` for a bar the window already has (a duplicate).
    pub async fn push_stream_bar<F, Fut>(
        &self,
        provider: &'static str,
        contract: Contract,
        timeframe: Timeframe,
        bar: Bar,
        fill: F,
    ) -> bool
    where
        F: FnOnce(DateTime<Utc>, DateTime<Utc>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<Bar>, ProviderCallError>>,
    {
        let window = self.window((provider, contract, timeframe));
        let mut w = window.lock().await;
        if w.bars.back().is_some_and(|b| b.ts_open >= bar.ts_open) {
            return false;
        }
        let end = bar.ts_open + timeframe.duration();
        match w.covered {
            Some((_, to)) if to < bar.ts_open => match fill(to, bar.ts_open).await {
                Ok(filled) => {
                    for b in filled {
                        // In order and before the streamed bar: the window stays sorted.
                        if b.ts_open < bar.ts_open
                            && w.bars.back().is_none_or(|n| b.ts_open > n.ts_open)
                        {
                            w.bars.push_back(b);
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "stream gap fill failed: the window is refetched");
                    w.bars.clear();
                    w.covered = None;
                    return true;
                }
            },
            _ => {}
        }
        w.bars.push_back(bar.clone());
        while w.bars.len() > CAPACITY {
            w.bars.pop_front();
        }
        w.covered = Some(match w.covered {
            Some((from, to)) => (from, to.max(end)),
            None => (bar.ts_open, end),
        });
        true
    }

    /// The feed with its failover state shared through `feed_sources` in `pool`.
    pub fn shared(self, pool: PgPool) -> Self {
        BarFeed {
            pool: Some(pool),
            ..self
        }
    }

    /// Loads the series' recorded state once per boundary: a record of a later judgement than
    /// the one held (another node's, or a previous run's) replaces it. A database failure
    /// keeps the state held (logged; the next boundary tries again).
    async fn load(&self, r: &FeedRequest, primary: &'static str, secondary: &'static str) {
        let Some(pool) = &self.pool else { return };
        let key = (r.instrument, r.timeframe);
        let loaded = |all: &HashMap<_, Series>| {
            all.get(&key)
                .and_then(|s| s.synced)
                .is_some_and(|t| t >= r.until)
        };
        if loaded(&lock(&self.series)) {
            return;
        }
        let _one = self.loading.lock().await;
        if loaded(&lock(&self.series)) {
            return;
        }
        let row = feed_sources::get(pool, r.instrument, r.timeframe).await;
        let mut all = lock(&self.series);
        let s = all.entry(key).or_default();
        s.synced = Some(r.until);
        let row = match row {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(symbol = r.instrument.as_str(), timeframe = r.timeframe.as_str(), error = %e, "feed_sources load failed");
                return;
            }
        };
        let source = if (row.primary_id.as_str(), row.secondary_id.as_str()) != (primary, secondary)
        {
            return;
        } else if row.provider_id == secondary {
            Source::Secondary
        } else {
            Source::Primary
        };
        if s.observed.is_none_or(|o| row.observed_at > o) {
            s.source = FeedSource::restore(source, row.healthy_since);
            s.observed = Some(row.observed_at);
        }
    }

    /// Records a series' changed state for the other nodes and the next run.
    async fn record(&self, rt: &RuntimeHandle, r: &FeedRequest, row: FeedSourceRow) {
        let Some(pool) = &self.pool else { return };
        if let Err(e) =
            feed_sources::record(pool, r.instrument, r.timeframe, &row, rt.clock().now()).await
        {
            tracing::warn!(symbol = r.instrument.as_str(), timeframe = r.timeframe.as_str(), error = %e, "feed_sources record failed");
        }
    }

    /// The last `need` bars that opened before `until`, oldest first, from the series'
    /// source (failing over within this read when the primary is unhealthy).
    pub async fn read(
        &self,
        rt: &RuntimeHandle,
        calendar: &HolidayCalendar,
        r: &FeedRequest,
    ) -> Result<BarRead, ProviderCallError> {
        let FeedRoute { primary, secondary } = r.route;
        let Some(secondary) = secondary else {
            return self.read_window(rt, primary, r).await;
        };
        self.load(r, primary, secondary).await;
        let key = (r.instrument, r.timeframe);
        let (on, probe) = {
            let mut all = lock(&self.series);
            let s = all.entry(key).or_default();
            let on = s.source.current();
            let probe = on == Source::Secondary && s.probed.is_none_or(|p| p < r.until);
            if probe {
                s.probed = Some(r.until);
            }
            (on, probe)
        };
        match on {
            Source::Primary => {
                let read = self.read_primary(rt, primary, r).await;
                let choice = self.judge(rt, calendar, r, primary, secondary, &read).await;
                if choice.source == Source::Primary {
                    return read;
                }
                self.read_window(rt, secondary, r).await
            }
            Source::Secondary if probe => {
                let (second, first) = tokio::join!(
                    self.read_window(rt, secondary, r),
                    self.read_primary(rt, primary, r)
                );
                let choice = self
                    .judge(rt, calendar, r, primary, secondary, &first)
                    .await;
                match (choice.source, first) {
                    (Source::Primary, Ok(first)) => Ok(first),
                    // The secondary failed where the recovering primary answered: its bars
                    // beat none (the freshness gate still judges their age).
                    (Source::Secondary, Ok(first)) if second.is_err() => Ok(first),
                    _ => second,
                }
            }
            Source::Secondary => self.read_window(rt, secondary, r).await,
        }
    }

    /// The primary's read, given up after [`FeedConfig::primary_deadline`].
    async fn read_primary(
        &self,
        rt: &RuntimeHandle,
        primary: &'static str,
        r: &FeedRequest,
    ) -> Result<BarRead, ProviderCallError> {
        tokio::time::timeout(
            self.config.primary_deadline,
            self.read_window(rt, primary, r),
        )
        .await
        .unwrap_or_else(|_| Err(ProviderCallError::Timeout(primary.to_owned())))
    }

    /// Feeds the primary's read to the series' rule; records a changed state in
    /// `feed_sources` and a switch as a system event.
    async fn judge(
        &self,
        rt: &RuntimeHandle,
        calendar: &HolidayCalendar,
        r: &FeedRequest,
        primary: &'static str,
        secondary: &'static str,
        read: &Result<BarRead, ProviderCallError>,
    ) -> Choice {
        let limit = chrono::Duration::seconds(i64::from(
            RiskLimits::defaults_for(r.timeframe).max_data_age_seconds,
        ));
        let tf = r.timeframe.duration();
        let reading = PrimaryReading {
            breaker: rt.provider_breaker_state(primary),
            answered: read.is_ok(),
            newest_close: read
                .as_ref()
                .ok()
                .and_then(|b| b.bars.last())
                .map(|b| b.ts_open + tf),
            bar_due: feed_source::bar_due(calendar, r.until, r.timeframe, limit),
        };
        let (choice, changed) = {
            let mut all = lock(&self.series);
            let s = all.entry((r.instrument, r.timeframe)).or_default();
            // The primary has been heard for this boundary: no second probe of it.
            s.probed = Some(s.probed.map_or(r.until, |p| p.max(r.until)));
            let before = s.source;
            let choice = s
                .source
                .observe(r.until, reading, limit, self.config.failback_after);
            let changed = (s.source != before).then(|| {
                s.observed = Some(s.observed.map_or(r.until, |o| o.max(r.until)));
                FeedSourceRow {
                    primary_id: primary.to_owned(),
                    secondary_id: secondary.to_owned(),
                    provider_id: match s.source.current() {
                        Source::Primary => primary,
                        Source::Secondary => secondary,
                    }
                    .to_owned(),
                    healthy_since: s.source.healthy_since(),
                    observed_at: r.until,
                }
            });
            (choice, changed)
        };
        if let Some(row) = changed {
            self.record(rt, r, row).await;
        }
        if choice.switched {
            let (severity, code, from, to) = match choice.source {
                Source::Secondary => (Severity::Sev2, "DATA_FAILOVER", primary, secondary),
                Source::Primary => (Severity::Info, "DATA_FAILBACK", secondary, primary),
            };
            let (symbol, timeframe) = (r.instrument.as_str(), r.timeframe.as_str());
            let error = read.as_ref().err().map(|e| e.code().to_owned());
            rt.telemetry().system_event(
                NewSystemEvent::new(
                    severity,
                    code,
                    format!(
                        "{symbol} {timeframe} bars: {from} → {to}: {}",
                        choice.reason.human()
                    ),
                )
                .provider(primary)
                .metadata(json!({
                    "from": from, "to": to, "reason": choice.reason, "error_code": error,
                    "symbol": symbol, "timeframe": timeframe, "boundary": r.until,
                })),
            );
        }
        choice
    }

    fn window(&self, key: Key) -> Arc<tokio::sync::Mutex<Window>> {
        let mut w = match self.windows.lock() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        };
        w.entry(key).or_default().clone()
    }

    /// The last `need` bars that opened before `until` in `provider`'s window, oldest first
    /// (fewer when the vendor has fewer, e.g. across a session halt).
    async fn read_window(
        &self,
        rt: &RuntimeHandle,
        provider: &'static str,
        r: &FeedRequest,
    ) -> Result<BarRead, ProviderCallError> {
        let FeedRequest {
            instrument,
            timeframe,
            until,
            need,
            ctx,
            ..
        } = *r;
        let symbol = instrument.as_str();
        let contract = Contract::front_at(instrument, until);
        let window = self.window((provider, contract, timeframe));
        let mode = match self.live.get() {
            Some(live) if provider == live_stream::PROVIDER => {
                let mode = live.mode(contract, timeframe, until);
                if mode == Mode::Stream {
                    wait_for_stream(live, &window, contract, timeframe, until).await;
                }
                mode
            }
            _ => Mode::History,
        };
        let mut w = window.lock().await;
        let tf = timeframe.duration();
        // Twice the bars needed, in time: room for a halt inside the lookback.
        let span = tf * i32::try_from(need.max(1) * 2).unwrap_or(i32::MAX);
        let want_from = until - span;
        // The end of the newest bar held: a vendor that was late (served less than asked) is
        // asked again from there, so its late bars fill in rather than leave a hole.
        let held_to = w.bars.back().map(|b| b.ts_open + tf);
        let fetch = match w.covered {
            Some((from, to)) if from <= want_from && to >= until => None,
            // The stream keeps the window current: what it has is the primary's answer (an
            // aged newest bar is judged late by the failover rule).
            Some((from, _)) if from <= want_from && mode != Mode::History => None,
            // Contiguous with what we hold: only the new part (and a late vendor's tail).
            Some((from, to)) if from <= want_from && to >= want_from => {
                Some((held_to.map_or(to, |h| h.clamp(want_from, to)), until))
            }
            _ => {
                w.bars.clear();
                w.covered = None;
                Some((want_from, until))
            }
        };
        let cached = fetch.is_none();
        let fresh = w.covered.is_none();
        if let Some((mut from, to)) = fetch {
            let request = BarsRequest {
                instrument,
                contract: Some(contract),
                timeframe,
                from,
                to,
                ctx,
            };
            let mut fetched = rt.fetch_bars(provider, request).await?;
            // A fresh window (start, restart, a roll) whose lookback fell into a halt or a
            // weekend holds fewer bars than an evaluation needs; without the older ones the
            // runner's window would still hold the previous contract's bars there (a splice at
            // the roll). Ask once more, further back: up to 4 days, at most a window's capacity.
            let held = fetched.iter().filter(|b| b.ts_open < until).count();
            if fresh && held < need {
                let reach = (tf * i32::try_from(CAPACITY).unwrap_or(i32::MAX))
                    .min(chrono::Duration::days(4));
                let back_from = until - reach;
                if back_from < from {
                    let earlier = BarsRequest {
                        instrument,
                        contract: Some(contract),
                        timeframe,
                        from: back_from,
                        to: from,
                        ctx,
                    };
                    let mut older = rt.fetch_bars(provider, earlier).await?;
                    older.retain(|b| b.ts_open < from);
                    older.append(&mut fetched);
                    fetched = older;
                    from = back_from;
                }
            }
            let newest = w.bars.back().map(|b| b.ts_open);
            for bar in fetched {
                if newest.is_none_or(|n| bar.ts_open > n) {
                    w.bars.push_back(bar);
                }
            }
            while w.bars.len() > CAPACITY {
                w.bars.pop_front();
            }
            let start = w.covered.map_or(from, |(f, _)| f.min(from));
            w.covered = Some((
                start.max(until - tf * i32::try_from(CAPACITY).unwrap_or(0)),
                to,
            ));
        }
        // The window is in `ts_open` order: the bars before `until` end at its partition point
        // (no walk and no copy of the whole window, up to `CAPACITY` bars, per read).
        let out: Vec<Bar> = {
            let end = w.bars.partition_point(|b| b.ts_open < until);
            w.bars
                .range(end.saturating_sub(need)..end)
                .cloned()
                .collect()
        };
        drop(w);
        if cached {
            // The bot's own usage event, as its parts (its row is built by the writer).
            rt.telemetry().cached_read(CachedRead {
                id: uuid::Uuid::now_v7(),
                created_at: rt.clock().now(),
                provider_id: provider,
                bot_id: ctx.bot_id,
                run_id: ctx.run_id,
                trace_id: TraceId::current(),
                symbol,
                contract,
                timeframe: timeframe.as_str(),
                bars: out.len(),
                stream: mode != Mode::History,
            });
        }
        Ok(BarRead {
            bars: out,
            provider,
            contract,
        })
    }
}

/// Waits until the window holds the bar that closes at `until`, the stream stops being
/// healthy, or the stream's bar wait passes.
async fn wait_for_stream(
    live: &LiveBars,
    window: &tokio::sync::Mutex<Window>,
    contract: Contract,
    timeframe: Timeframe,
    until: DateTime<Utc>,
) {
    let wake = live.wake(contract, timeframe);
    let deadline = tokio::time::Instant::now() + live.config().bar_wait;
    loop {
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match window.lock().await.covered {
            Some((_, to)) if to < until => {}
            // Covered, or nothing yet (the first read fetches the history).
            _ => return,
        }
        if live.mode(contract, timeframe, until) != Mode::Stream
            || tokio::time::timeout_at(deadline, notified).await.is_err()
        {
            return;
        }
    }
}
