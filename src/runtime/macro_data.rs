//! Macro data for the entry filters (issue 19 §3), off the hot path. The cluster's leader
//! refreshes the FMP economic calendar (the next `TRADEPLANE_ECONOMIC_CALENDAR_DAYS` days) and
//! the FRED series every `TRADEPLANE_MACRO_REFRESH_MINUTES`, through the provider actors (so
//! the breaker and usage events apply); a failed refresh keeps what is stored and writes a
//! SEV-3 `MACRO_REFRESH_FAILED` system event. Every node reloads the stored copy into the
//! runners' filter data (`Trading::filter_data`) every `reload_every`: an evaluation reads
//! memory, never the vendor or the database.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::RuntimeHandle;
use super::providers::{MacroData, MacroRequest, ProviderCallError};
use crate::domain::strategy_filters::MacroSeries;
use crate::store::{
    macro_data::{self as store},
    system_events::{NewSystemEvent, Severity},
};

#[derive(Debug, Clone)]
pub struct MacroConfig {
    /// Between two refreshes from the vendors (leader only).
    pub refresh_every: Duration,
    /// Days ahead a calendar refresh covers (from the start of today, UTC).
    pub calendar_days: u32,
    /// Between two reloads of the stored data into the runners (every node).
    pub reload_every: Duration,
    /// FRED observations read per series and refresh (newest first).
    pub fred_limit: u32,
    /// The leader refreshes on its own (tests turn it off and refresh explicitly).
    pub auto_refresh: bool,
}

impl Default for MacroConfig {
    fn default() -> Self {
        MacroConfig {
            refresh_every: Duration::from_secs(180 * 60),
            calendar_days: 14,
            reload_every: Duration::from_secs(60),
            fred_limit: 10,
            auto_refresh: true,
        }
    }
}

/// The calendar provider and the series provider.
pub const CALENDAR_PROVIDER: &str = "fmp";
pub const SERIES_PROVIDER: &str = "fred";

/// What one refresh did, per source: `Ok(rows stored)`, `Err(why)`, or `None` when the
/// provider is not configured (nothing to do, nothing to report).
#[derive(Debug, Default)]
pub struct Refreshed {
    pub calendar: Option<Result<usize, String>>,
    pub series: Vec<(MacroSeries, Result<usize, String>)>,
}

fn failed(rt: &RuntimeHandle, provider: &str, what: &str, err: &ProviderCallError) {
    rt.telemetry().system_event(
        NewSystemEvent::new(
            Severity::Sev3,
            "MACRO_REFRESH_FAILED",
            format!(
                "{provider}: the {what} refresh failed ({}): the stored copy is kept; entry filters that need it fail closed once it is older than they allow.",
                err.code()
            ),
        )
        .provider(provider)
        .metadata(json!({ "provider": provider, "what": what, "error_code": err.code(), "error": err.to_string() })),
    );
}

/// Fetches the calendar for the days `from..=to` and stores it. A failure is recorded (SEV-3)
/// and leaves the stored events as they were.
pub async fn refresh_calendar(
    rt: &RuntimeHandle,
    from: NaiveDate,
    to: NaiveDate,
) -> Option<Result<usize, String>> {
    let pool = rt.pool()?;
    let request = MacroRequest::Calendar { from, to };
    match rt.fetch_macro(CALENDAR_PROVIDER, request).await {
        Ok(MacroData::Calendar(events)) => {
            let start = from.and_hms_opt(0, 0, 0)?.and_utc();
            let end = to.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc();
            let now = rt.clock().now();
            Some(
                store::store_calendar(&pool, CALENDAR_PROVIDER, start, end, &events, now)
                    .await
                    .map(|()| events.len())
                    .map_err(|e| e.to_string()),
            )
        }
        Ok(MacroData::Fred(_)) => Some(Err("unexpected answer".into())),
        Err(ProviderCallError::NotConfigured(_)) => None,
        Err(e) => {
            failed(rt, CALENDAR_PROVIDER, "economic calendar", &e);
            Some(Err(e.to_string()))
        }
    }
}

/// Fetches the newest observations of every filterable series and stores them (each also
/// refreshes its `fred.<SERIES>` profit variable).
pub async fn refresh_series(
    rt: &RuntimeHandle,
    limit: u32,
) -> Vec<(MacroSeries, Result<usize, String>)> {
    let Some(pool) = rt.pool() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for series in MacroSeries::ALL {
        let request = MacroRequest::Fred { series, limit };
        let r = match rt.fetch_macro(SERIES_PROVIDER, request).await {
            Ok(MacroData::Fred(obs)) => {
                store::store_observations(&pool, series, &obs, rt.clock().now())
                    .await
                    .map(|()| obs.len())
                    .map_err(|e| e.to_string())
            }
            Ok(MacroData::Calendar(_)) => Err("unexpected answer".into()),
            Err(ProviderCallError::NotConfigured(_)) => return out,
            Err(e) => {
                failed(
                    rt,
                    SERIES_PROVIDER,
                    &format!("{} series", series.as_str()),
                    &e,
                );
                Err(e.to_string())
            }
        };
        out.push((series, r));
    }
    out
}

/// One refresh of everything, as the leader runs it at `now`.
pub async fn refresh(rt: &RuntimeHandle, config: &MacroConfig, now: DateTime<Utc>) -> Refreshed {
    let from = now.date_naive();
    let to = from + chrono::Days::new(u64::from(config.calendar_days));
    Refreshed {
        calendar: refresh_calendar(rt, from, to).await,
        series: refresh_series(rt, config.fred_limit).await,
    }
}

/// Loads the stored calendar and series into the runners' filter data (no-op when detached).
pub async fn reload(rt: &RuntimeHandle) -> Result<(), sqlx::Error> {
    let Some(trading) = rt.inner.trading.as_ref() else {
        return Ok(());
    };
    let data = store::load_filter_data(&trading.pool, rt.clock().now()).await?;
    trading.set_filter_data(data);
    Ok(())
}

/// The loop every node runs until `stop`: reload every `reload_every`; on the leader, a
/// refresh every `refresh_every` (the first soon after start, or after becoming leader).
pub async fn run_loop(
    rt: RuntimeHandle,
    config: MacroConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let poll = config.reload_every.min(Duration::from_secs(5));
    let leadership = rt.leadership();
    let mut next_refresh: Option<tokio::time::Instant> = None;
    let mut next_reload = tokio::time::Instant::now();
    // Provider actors start with the tree, just after this loop.
    let settle = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let now = tokio::time::Instant::now();
        let mut changed = false;
        if config.auto_refresh && leadership.is_leader() {
            if now >= settle && next_refresh.is_none_or(|due| now >= due) {
                let done = refresh(&rt, &config, rt.clock().now()).await;
                tracing::debug!(?done, "macro data refreshed");
                next_refresh = Some(now + config.refresh_every);
                changed = true;
            }
        } else {
            next_refresh = None;
        }
        if changed || now >= next_reload {
            if let Err(e) = reload(&rt).await {
                tracing::warn!(error = %e, "macro data reload failed");
            }
            next_reload = now + config.reload_every;
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => return,
        }
    }
}
