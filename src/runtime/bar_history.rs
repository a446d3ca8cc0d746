//! Bar history for backtests: "ensure the bars of (provider, symbol, timeframe, range)".
//!
//! The series is the front month (`domain::contracts::front_segments`: the range cut at each
//! roll, each piece served by its own listed contract, unadjusted). The range is widened to
//! whole bars; per contract piece, the parts `market_bar_coverage` does not hold are fetched
//! through the provider's ProviderActor (`RuntimeHandle::fetch_bars`: its breaker, the
//! one call path, a usage event per vendor request carrying the job as `run_id`), in pieces
//! of at most [`PIECE_BARS`] bars so one call stays inside the call time box, each piece
//! marked covered once its bars are stored; then the whole range is read from `market_bars`.
//! A second run over the same range makes no vendor call.
//!
//! Backtests and sweeps read through [`ensure_routed_bars`]: the feed's route, primary first;
//! when the primary fails or refuses (breaker open, vendor error, plan refusal, time-out) the
//! whole range is read from the secondary instead. A run's bars are so one vendor's, never
//! two vendors' in one indicator window: each `market_bars` row names its `provider_id` and
//! contract, and the run records the provider that served it (`backtests.provider_id`).
//!
//! At each roll inside a run's range the new contract's own bars from before the roll are
//! ensured the same way ([`ensure_roll_warmups`]: stored, covered, a second run fetches
//! nothing): the engine starts a new window at the roll and warms it up on them, so a
//! backtest's indicators never join two contracts' prices (`domain::backtest`).

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sqlx::PgPool;

use super::RuntimeHandle;
use super::providers::{BarsRequest, ProviderCallError};
use crate::domain::{
    bars::Bar,
    contracts::{Contract, front_segments},
    instruments::Symbol,
    timeframe::Timeframe,
};
use crate::integrations::{bars::FeedRoute, http::CallContext};
use crate::store::market_bars::{self, Series};

/// Most bars asked of a provider in one call (a piece of a gap).
pub const PIECE_BARS: i64 = 30_000;

/// Daily bars are cut at 22:00 UTC: the start of the CME session in summer (17:00 CDT) and
/// inside the daily halt in winter (16:00 CST), so a cut never splits a session.
const DAY_CUT_SECONDS: i64 = 22 * 3600;

#[derive(Debug, Clone)]
pub struct BarHistoryRequest {
    pub provider: String,
    pub instrument: Symbol,
    pub timeframe: Timeframe,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub ctx: CallContext,
}

/// The bars of the range and what it took to have them.
#[derive(Debug, Clone)]
pub struct BarHistory {
    pub bars: Vec<Bar>,
    /// Vendor calls made (0 when the range was already covered).
    pub pieces_fetched: usize,
    /// The range actually covered (widened to whole bars).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum BarHistoryError {
    #[error(transparent)]
    Provider(#[from] ProviderCallError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn grid(tf: Timeframe) -> (i64, i64) {
    let len = tf.duration().num_seconds();
    let offset = if tf == Timeframe::D1 {
        DAY_CUT_SECONDS
    } else {
        0
    };
    (len, offset)
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().unwrap_or_default()
}

/// `[from, to)` widened to whole bars of `tf` (daily bars on the 22:00 UTC grid).
pub fn align(
    tf: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let (len, offset) = grid(tf);
    let floor = |t: DateTime<Utc>| (t.timestamp() - offset).div_euclid(len) * len + offset;
    let start = floor(from);
    let end = floor(to - Duration::nanoseconds(1)) + len;
    (at(start), at(end.max(start)))
}

/// A gap cut into pieces of at most [`PIECE_BARS`] bars, on the bar grid.
pub fn pieces(
    tf: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let step = tf.duration() * i32::try_from(PIECE_BARS).unwrap_or(i32::MAX);
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        let end = (start + step).min(to);
        out.push((start, end));
        start = end;
    }
    out
}

/// Ensures the bars of the range are stored (fetching only what is missing) and returns
/// them, oldest first. `on_piece(done, total)` is called after each vendor call.
pub async fn ensure_bars(
    rt: &RuntimeHandle,
    pool: &PgPool,
    request: &BarHistoryRequest,
    mut on_piece: impl FnMut(usize, usize),
) -> Result<BarHistory, BarHistoryError> {
    let (from, to) = align(request.timeframe, request.from, request.to);
    let segments = front_segments(request.instrument, from, to);
    let series = |contract: Contract| Series {
        provider_id: &request.provider,
        symbol: request.instrument,
        contract,
        timeframe: request.timeframe,
    };
    let mut todo = Vec::new();
    for seg in &segments {
        for (a, b) in market_bars::gaps(pool, series(seg.contract), seg.from, seg.to).await? {
            todo.extend(
                pieces(request.timeframe, a, b)
                    .into_iter()
                    .map(|(a, b)| (seg.contract, a, b)),
            );
        }
    }
    for (i, &(contract, a, b)) in todo.iter().enumerate() {
        let bars = BarsRequest {
            instrument: request.instrument,
            contract: Some(contract),
            timeframe: request.timeframe,
            from: a,
            to: b,
            ctx: request.ctx,
        };
        // `fetch_bars` stores what it got before it answers; the piece counts as covered only then.
        rt.fetch_bars(&request.provider, bars).await?;
        market_bars::mark_covered(pool, series(contract), a, b).await?;
        on_piece(i + 1, todo.len());
    }
    let mut bars = Vec::new();
    for seg in &segments {
        bars.extend(market_bars::range(pool, series(seg.contract), seg.from, seg.to).await?);
    }
    Ok(BarHistory {
        bars,
        pieces_fetched: todo.len(),
        from,
        to,
    })
}

/// How far before a roll the new contract's warm-up bars are looked for: twice the `need` bars
/// in time, at least up to 2,000 bars or 4 days (a holiday or a halt inside), at most 90 days
/// (a contract trades thinly long before it becomes the front one).
pub fn roll_warmup_span(tf: Timeframe, need: usize) -> Duration {
    let bars = |n: usize| tf.duration() * i32::try_from(n).unwrap_or(i32::MAX);
    bars(need.saturating_mul(2))
        .max(bars(2_000).min(Duration::days(4)))
        .min(Duration::days(90))
}

/// For each roll inside `[from, to)` (aligned like [`ensure_bars`]), the new contract's last
/// `need` bars before the roll from `provider`, ensured like any bars (only the parts
/// `market_bar_coverage` lacks are fetched, then stored and marked covered). Fewer when the
/// vendor has fewer (the engine then warms up on the bars after the roll).
pub async fn ensure_roll_warmups(
    rt: &RuntimeHandle,
    pool: &PgPool,
    request: &BarHistoryRequest,
    need: usize,
) -> Result<HashMap<Contract, Vec<Bar>>, BarHistoryError> {
    let (from, to) = align(request.timeframe, request.from, request.to);
    let span = roll_warmup_span(request.timeframe, need);
    let mut out = HashMap::new();
    for seg in front_segments(request.instrument, from, to)
        .into_iter()
        .skip(1)
    {
        let series = Series {
            provider_id: &request.provider,
            symbol: request.instrument,
            contract: seg.contract,
            timeframe: request.timeframe,
        };
        let (a, b) = align(request.timeframe, seg.from - span, seg.from);
        for (gap_from, gap_to) in market_bars::gaps(pool, series, a, b).await? {
            for (p, q) in pieces(request.timeframe, gap_from, gap_to) {
                let bars = BarsRequest {
                    instrument: request.instrument,
                    contract: Some(seg.contract),
                    timeframe: request.timeframe,
                    from: p,
                    to: q,
                    ctx: request.ctx,
                };
                rt.fetch_bars(&request.provider, bars).await?;
                market_bars::mark_covered(pool, series, p, q).await?;
            }
        }
        let mut bars = market_bars::range(pool, series, a, seg.from).await?;
        bars.drain(..bars.len().saturating_sub(need));
        out.insert(seg.contract, bars);
    }
    Ok(out)
}

/// A range's bars from one vendor of a route, and which one served them.
#[derive(Debug, Clone)]
pub struct RoutedHistory {
    pub history: BarHistory,
    pub provider: &'static str,
    /// Why the primary did not serve (the secondary did), if it did not.
    pub primary_failed: Option<String>,
}

/// [`ensure_bars`] for `[from, to)` of `instrument` from `route`'s primary or, when it fails or
/// refuses, wholly from its secondary (one vendor per run). A database failure is not the
/// vendor's and is returned as it is; when both vendors fail, the primary's error is returned.
#[allow(clippy::too_many_arguments)]
pub async fn ensure_routed_bars(
    rt: &RuntimeHandle,
    pool: &PgPool,
    route: FeedRoute,
    instrument: Symbol,
    timeframe: Timeframe,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    ctx: CallContext,
    mut on_piece: impl FnMut(usize, usize),
) -> Result<RoutedHistory, BarHistoryError> {
    let request = |provider: &str| BarHistoryRequest {
        provider: provider.to_owned(),
        instrument,
        timeframe,
        from,
        to,
        ctx,
    };
    let err = match ensure_bars(rt, pool, &request(route.primary), &mut on_piece).await {
        Ok(history) => {
            return Ok(RoutedHistory {
                history,
                provider: route.primary,
                primary_failed: None,
            });
        }
        Err(BarHistoryError::Provider(err)) => err,
        Err(db) => return Err(db),
    };
    let Some(secondary) = route.secondary else {
        return Err(err.into());
    };
    tracing::info!(
        primary = route.primary, secondary, error = %err,
        "bar history: the primary failed, reading the range from the secondary"
    );
    match ensure_bars(rt, pool, &request(secondary), &mut on_piece).await {
        Ok(history) => Ok(RoutedHistory {
            history,
            provider: secondary,
            primary_failed: Some(format!("{}: {err}", route.primary)),
        }),
        Err(BarHistoryError::Provider(_)) => Err(err.into()),
        Err(db) => Err(db),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_widen_to_whole_bars() {
        assert_eq!(
            align(
                Timeframe::M5,
                t("2026-11-24T15:02:00Z"),
                t("2026-11-24T15:10:00Z")
            ),
            (t("2026-11-24T15:00:00Z"), t("2026-11-24T15:10:00Z"))
        );
        assert_eq!(
            align(
                Timeframe::M5,
                t("2026-11-24T15:00:00Z"),
                t("2026-11-24T15:10:01Z")
            ),
            (t("2026-11-24T15:00:00Z"), t("2026-11-24T15:15:00Z"))
        );
        assert_eq!(
            align(
                Timeframe::D1,
                t("2026-11-24T15:00:00Z"),
                t("2026-11-25T23:00:00Z")
            ),
            (t("2026-11-23T22:00:00Z"), t("2026-11-26T22:00:00Z"))
        );
        assert_eq!(
            align(
                Timeframe::S1,
                t("2026-11-24T15:00:00.500Z"),
                t("2026-11-24T15:00:02Z")
            ),
            (t("2026-11-24T15:00:00Z"), t("2026-11-24T15:00:02Z"))
        );
    }

    #[test]
    fn gaps_are_cut_into_bounded_pieces() {
        let (from, to) = (t("2026-01-01T00:00:00Z"), t("2026-03-01T00:00:00Z"));
        let p = pieces(Timeframe::M1, from, to);
        // 59 days = 84,960 minutes → 30,000 + 30,000 + 24,960.
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].0, from);
        assert_eq!(p[2].1, to);
        assert!(p.windows(2).all(|w| w[0].1 == w[1].0));
        assert_eq!(p[0].1 - p[0].0, Duration::minutes(30_000));
        assert!(pieces(Timeframe::M1, to, to).is_empty());
    }
}
