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
use crate::integrations::http::CallContext;
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
