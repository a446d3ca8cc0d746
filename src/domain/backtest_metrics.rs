//! A backtest's figures, from its closed trades and its equity curve (one point per bar):
//! PnL, trade statistics, Sharpe and Sortino on daily returns, drawdown, exposure and the
//! longest flat period. Pure; money stays `Decimal`, ratios are `f64`.
//!
//! Definitions (the ones the result page and the evidence gates read):
//! - `win_rate_pct`: trades with net PnL > 0 over all trades; `profit_factor`: the sum of
//!   winning trades' net PnL over the absolute sum of losing ones (none without a loser);
//!   `avg_trade`: net PnL per trade, to the cent.
//! - Daily returns: the last equity of each CME trade date (17:00 CT roll) over the previous
//!   one, the first over the starting capital. Sharpe = mean / sample stdev × √252; Sortino =
//!   mean / downside deviation (√(Σ min(r, 0)² / n)) × √252. Fewer than two days, or no
//!   spread, gives none.
//! - Drawdown at a point: the highest equity so far (the starting capital included) minus the
//!   equity, and that as a percentage of the peak; the two maxima are taken separately.
//! - Exposure: the share of equity points inside a trade (`entry_ts ≤ ts < exit_ts`: the bar
//!   that filled the entry holds the position at its close, the bar that filled the exit no
//!   longer does). Longest flat period: the longest span without a position, from the first
//!   point to the first entry, between an exit and the next entry, and from the last exit to
//!   the last point.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::{Decimal, prelude::ToPrimitive};
use serde::{Deserialize, Serialize};

use super::backtest::{BacktestRun, EquityPoint, SimTrade};
use super::calendar::{trade_date, trade_date_start};
use super::money;

/// What the metrics read of a closed trade (the backtester's trades implement it).
pub trait ClosedTrade {
    fn entry_ts(&self) -> DateTime<Utc>;
    fn exit_ts(&self) -> DateTime<Utc>;
    fn gross_pnl(&self) -> Decimal;
    fn commission(&self) -> Decimal;
    fn net_pnl(&self) -> Decimal;
}

impl ClosedTrade for SimTrade {
    fn entry_ts(&self) -> DateTime<Utc> {
        self.entry_ts
    }
    fn exit_ts(&self) -> DateTime<Utc> {
        self.exit_ts
    }
    fn gross_pnl(&self) -> Decimal {
        self.gross_pnl
    }
    fn commission(&self) -> Decimal {
        self.commission
    }
    fn net_pnl(&self) -> Decimal {
        self.net_pnl
    }
}

/// The figures of a backtester run (`domain::backtest::run`).
pub fn of_run(starting_capital: Decimal, run: &BacktestRun) -> Metrics {
    compute(starting_capital, &run.trades, &run.equity)
}

/// Trading days a year, for annualising daily Sharpe and Sortino.
pub const TRADING_DAYS_PER_YEAR: f64 = 252.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub starting_capital: Decimal,
    pub ending_equity: Decimal,
    pub net_pnl: Decimal,
    pub gross_pnl: Decimal,
    pub commissions: Decimal,
    pub trades: u64,
    pub winning_trades: u64,
    pub losing_trades: u64,
    pub win_rate_pct: Option<f64>,
    pub profit_factor: Option<f64>,
    pub avg_trade: Option<Decimal>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    /// Trade dates with at least one equity point (the daily returns' count).
    pub trading_days: u64,
    pub max_drawdown: Decimal,
    pub max_drawdown_pct: f64,
    pub exposure_pct: f64,
    pub longest_flat_seconds: i64,
}

/// One point of the drawdown curve (same times as the equity curve).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrawdownPoint {
    pub ts: DateTime<Utc>,
    pub drawdown: Decimal,
    pub drawdown_pct: f64,
}

fn ratio(num: Decimal, den: Decimal) -> Option<f64> {
    if den.is_zero() {
        return None;
    }
    (num / den).to_f64().filter(|r| r.is_finite())
}

/// The drawdown curve of `equity` from `starting_capital`.
pub fn drawdown_curve(starting_capital: Decimal, equity: &[EquityPoint]) -> Vec<DrawdownPoint> {
    let mut peak = starting_capital;
    equity
        .iter()
        .map(|&EquityPoint { ts, equity: e }| {
            peak = peak.max(e);
            let drawdown = peak - e;
            DrawdownPoint {
                ts,
                drawdown,
                drawdown_pct: drawdown_pct(drawdown, peak),
            }
        })
        .collect()
}

/// `drawdown` as a percentage of `peak` (0 without a positive peak).
fn drawdown_pct(drawdown: Decimal, peak: Decimal) -> f64 {
    if peak > Decimal::ZERO {
        ratio(drawdown * Decimal::ONE_HUNDRED, peak).unwrap_or(0.0)
    } else {
        0.0
    }
}

/// Daily returns: the last equity of each trade date over the previous day's (the first
/// over `starting_capital`).
pub fn daily_returns(starting_capital: Decimal, equity: &[EquityPoint]) -> Vec<f64> {
    let mut closes: Vec<(NaiveDate, Decimal)> = Vec::new();
    // The points are in time order: a trade date is looked up (a time-zone conversion) only
    // when a point reaches the start of the next one, not for every point.
    let mut next_day_at: Option<DateTime<Utc>> = None;
    for &EquityPoint { ts, equity: e } in equity {
        if next_day_at.is_none_or(|next| ts >= next) {
            let day = trade_date(ts);
            next_day_at = day.succ_opt().map(trade_date_start);
            if closes.last().is_none_or(|(d, _)| *d != day) {
                closes.push((day, e));
                continue;
            }
        }
        if let Some((_, last)) = closes.last_mut() {
            *last = e;
        }
    }
    let mut prev = starting_capital;
    closes
        .into_iter()
        .map(|(_, e)| {
            let r = ratio(e - prev, prev).unwrap_or(0.0);
            prev = e;
            r
        })
        .collect()
}

fn sharpe_sortino(returns: &[f64]) -> (Option<f64>, Option<f64>) {
    if returns.len() < 2 {
        return (None, None);
    }
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let downside = (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n).sqrt();
    let annual = TRADING_DAYS_PER_YEAR.sqrt();
    let finite = |x: f64| Some(x).filter(|x| x.is_finite());
    let sharpe = (var > 0.0)
        .then(|| mean / var.sqrt() * annual)
        .and_then(finite);
    let sortino = (downside > 0.0)
        .then(|| mean / downside * annual)
        .and_then(finite);
    (sharpe, sortino)
}

/// The largest drawdown in $ and in % of [`drawdown_curve`], without a division per point:
/// while the peak stays the same, the largest drawdown is also the largest percentage of it,
/// so the percentage is taken once per peak.
fn max_drawdowns(starting_capital: Decimal, equity: &[EquityPoint]) -> (Decimal, f64) {
    // Per peak, its lowest equity after it; the maxima are taken as each peak is left.
    let (mut peak, mut low) = (starting_capital, starting_capital);
    let (mut max, mut max_pct) = (Decimal::ZERO, 0.0f64);
    for &EquityPoint { equity: e, .. } in equity {
        if money::cmp(&e, &peak).is_gt() {
            let deepest = peak - low;
            max = money::max(max, deepest);
            max_pct = max_pct.max(drawdown_pct(deepest, peak));
            (peak, low) = (e, e);
        } else if money::cmp(&e, &low).is_lt() {
            low = e;
        }
    }
    let deepest = peak - low;
    (
        money::max(max, deepest),
        max_pct.max(drawdown_pct(deepest, peak)),
    )
}

/// Exposure % and the longest flat period (seconds) of `trades` over the equity points.
fn exposure<T: ClosedTrade>(trades: &[T], equity: &[EquityPoint]) -> (f64, i64) {
    let (Some(first), Some(last)) = (equity.first(), equity.last()) else {
        return (0.0, 0);
    };
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> =
        trades.iter().map(|t| (t.entry_ts(), t.exit_ts())).collect();
    spans.sort();
    let mut inside = 0usize;
    let mut k = 0;
    for &EquityPoint { ts, .. } in equity {
        while k < spans.len() && spans[k].1 <= ts {
            k += 1;
        }
        if spans.get(k).is_some_and(|s| s.0 <= ts) {
            inside += 1;
        }
    }
    let mut flat = 0i64;
    let mut free_from = first.ts;
    for &(entry, exit) in &spans {
        let entry = entry.clamp(first.ts, last.ts);
        flat = flat.max((entry - free_from).num_seconds());
        free_from = free_from.max(exit.min(last.ts));
    }
    flat = flat.max((last.ts - free_from).num_seconds());
    (inside as f64 * 100.0 / equity.len() as f64, flat)
}

/// Every figure of a run. `equity` is oldest first, one point per bar.
pub fn compute<T: ClosedTrade>(
    starting_capital: Decimal,
    trades: &[T],
    equity: &[EquityPoint],
) -> Metrics {
    let net_pnl: Decimal = trades.iter().map(ClosedTrade::net_pnl).sum();
    let gross_pnl: Decimal = trades.iter().map(ClosedTrade::gross_pnl).sum();
    let commissions: Decimal = trades.iter().map(ClosedTrade::commission).sum();
    let won: Decimal = trades
        .iter()
        .map(ClosedTrade::net_pnl)
        .filter(|p| *p > Decimal::ZERO)
        .sum();
    let lost: Decimal = trades
        .iter()
        .map(ClosedTrade::net_pnl)
        .filter(|p| *p < Decimal::ZERO)
        .sum();
    let count = trades.len() as u64;
    let winning_trades = trades
        .iter()
        .filter(|t| t.net_pnl() > Decimal::ZERO)
        .count() as u64;
    let losing_trades = trades
        .iter()
        .filter(|t| t.net_pnl() < Decimal::ZERO)
        .count() as u64;
    let (max_drawdown, max_drawdown_pct) = max_drawdowns(starting_capital, equity);
    let returns = daily_returns(starting_capital, equity);
    let (sharpe, sortino) = sharpe_sortino(&returns);
    let (exposure_pct, longest_flat_seconds) = exposure(trades, equity);
    Metrics {
        starting_capital,
        ending_equity: equity.last().map_or(starting_capital, |p| p.equity),
        net_pnl,
        gross_pnl,
        commissions,
        trades: count,
        winning_trades,
        losing_trades,
        win_rate_pct: (count > 0).then(|| winning_trades as f64 * 100.0 / count as f64),
        profit_factor: ratio(won, -lost),
        avg_trade: (count > 0).then(|| (net_pnl / Decimal::from(count)).round_dp(2)),
        sharpe,
        sortino,
        trading_days: returns.len() as u64,
        max_drawdown,
        max_drawdown_pct,
        exposure_pct,
        longest_flat_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    struct T {
        entry: DateTime<Utc>,
        exit: DateTime<Utc>,
        gross: Decimal,
        commission: Decimal,
    }

    impl ClosedTrade for T {
        fn entry_ts(&self) -> DateTime<Utc> {
            self.entry
        }
        fn exit_ts(&self) -> DateTime<Utc> {
            self.exit
        }
        fn gross_pnl(&self) -> Decimal {
            self.gross
        }
        fn commission(&self) -> Decimal {
            self.commission
        }
        fn net_pnl(&self) -> Decimal {
            self.gross - self.commission
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn pt(ts: &str, equity: Decimal) -> EquityPoint {
        EquityPoint { ts: at(ts), equity }
    }

    /// Three trade dates (Tue 24, Wed 25, Thu 26 Nov 2026; 15:00 UTC is 09:00 CT), hourly
    /// points, three trades: +250 gross (−5), −100 gross (−5), +50 gross (−5).
    fn fixture() -> (Vec<T>, Vec<EquityPoint>) {
        let trades = vec![
            T {
                entry: at("2026-11-24T15:00:00Z"),
                exit: at("2026-11-24T17:00:00Z"),
                gross: dec!(250),
                commission: dec!(5),
            },
            T {
                entry: at("2026-11-25T15:00:00Z"),
                exit: at("2026-11-25T16:00:00Z"),
                gross: dec!(-100),
                commission: dec!(5),
            },
            T {
                entry: at("2026-11-26T16:00:00Z"),
                exit: at("2026-11-26T17:00:00Z"),
                gross: dec!(50),
                commission: dec!(5),
            },
        ];
        let equity = vec![
            pt("2026-11-24T14:00:00Z", dec!(10000)),
            pt("2026-11-24T15:00:00Z", dec!(10100)),
            pt("2026-11-24T16:00:00Z", dec!(10300)),
            pt("2026-11-24T17:00:00Z", dec!(10245)),
            pt("2026-11-25T14:00:00Z", dec!(10245)),
            pt("2026-11-25T15:00:00Z", dec!(10140)),
            pt("2026-11-25T16:00:00Z", dec!(10140)),
            pt("2026-11-26T14:00:00Z", dec!(10140)),
            pt("2026-11-26T15:00:00Z", dec!(10140)),
            pt("2026-11-26T16:00:00Z", dec!(10200)),
            pt("2026-11-26T17:00:00Z", dec!(10185)),
        ];
        (trades, equity)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn pnl_and_trade_statistics() {
        let (trades, equity) = fixture();
        let m = compute(dec!(10000), &trades, &equity);
        assert_eq!(m.gross_pnl, dec!(200));
        assert_eq!(m.commissions, dec!(15));
        assert_eq!(m.net_pnl, dec!(185));
        assert_eq!(m.ending_equity, dec!(10185));
        assert_eq!((m.trades, m.winning_trades, m.losing_trades), (3, 2, 1));
        assert!(close(m.win_rate_pct.unwrap(), 200.0 / 3.0));
        // Winners 245 + 45 = 290 over the loser's 105.
        assert!(close(m.profit_factor.unwrap(), 290.0 / 105.0));
        // 185 / 3 = 61.666… → 61.67.
        assert_eq!(m.avg_trade, Some(dec!(61.67)));
    }

    #[test]
    fn drawdown_in_dollars_and_percent() {
        let (trades, equity) = fixture();
        let m = compute(dec!(10000), &trades, &equity);
        // Peak 10,300 at 16:00 on the 24th; lowest after it 10,140: 160 $, 160/10300 %.
        assert_eq!(m.max_drawdown, dec!(160));
        assert!(close(m.max_drawdown_pct, 16000.0 / 10300.0));
        let curve = drawdown_curve(dec!(10000), &equity);
        assert_eq!(curve.len(), equity.len());
        assert_eq!(curve[3].drawdown, dec!(55));
        assert_eq!(curve[2].drawdown, Decimal::ZERO);
        // Below the starting capital counts from it.
        let under = drawdown_curve(dec!(100), &[pt("2026-11-24T14:00:00Z", dec!(90))]);
        assert_eq!(under[0].drawdown, dec!(10));
        assert!(close(under[0].drawdown_pct, 10.0));
    }

    /// A deterministic random walk of equity every `step` minutes from `from`.
    fn walk(from: &str, points: usize, step: i64) -> Vec<EquityPoint> {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut e = dec!(10000);
        (0..points)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                e += Decimal::from((state % 2001) as i64 - 1000) / dec!(8);
                EquityPoint {
                    ts: at(from) + chrono::Duration::minutes(i as i64 * step),
                    equity: e,
                }
            })
            .collect()
    }

    #[test]
    fn the_maxima_are_the_drawdown_curves() {
        for (from, step) in [("2026-03-01T00:00:00Z", 7), ("2026-10-30T12:00:00Z", 61)] {
            let equity = walk(from, 5000, step);
            let curve = drawdown_curve(dec!(10000), &equity);
            let m = compute::<SimTrade>(dec!(10000), &[], &equity);
            assert_eq!(
                m.max_drawdown,
                curve.iter().map(|d| d.drawdown).max().unwrap()
            );
            let pct = curve.iter().map(|d| d.drawdown_pct).fold(0.0, f64::max);
            assert_eq!(m.max_drawdown_pct, pct);
        }
    }

    #[test]
    fn daily_returns_split_at_each_trade_dates_start() {
        // Through both DST changes of 2026 and a year end: each point's own trade date.
        for (from, step) in [("2026-03-05T00:00:00Z", 13), ("2026-10-29T00:00:00Z", 17)] {
            let equity = walk(from, 6000, step);
            let mut by_day: Vec<(NaiveDate, Decimal)> = Vec::new();
            for &EquityPoint { ts, equity: e } in &equity {
                match by_day.last_mut() {
                    Some((d, last)) if *d == trade_date(ts) => *last = e,
                    _ => by_day.push((trade_date(ts), e)),
                }
            }
            let mut prev = dec!(10000);
            let want: Vec<f64> = by_day
                .iter()
                .map(|&(_, e)| {
                    let r = ratio(e - prev, prev).unwrap_or(0.0);
                    prev = e;
                    r
                })
                .collect();
            assert_eq!(daily_returns(dec!(10000), &equity), want, "{from}");
        }
    }

    #[test]
    fn sharpe_and_sortino_on_daily_returns() {
        let (trades, equity) = fixture();
        let m = compute(dec!(10000), &trades, &equity);
        let r = [0.0245, 10140.0 / 10245.0 - 1.0, 10185.0 / 10140.0 - 1.0];
        let got = daily_returns(dec!(10000), &equity);
        assert_eq!(got.len(), 3);
        for (g, w) in got.iter().zip(r) {
            assert!(close(*g, w), "{g} vs {w}");
        }
        let mean = r.iter().sum::<f64>() / 3.0;
        let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        let down = (r[1].powi(2) / 3.0).sqrt();
        assert!(close(m.sharpe.unwrap(), mean / sd * 252f64.sqrt()));
        assert!(close(m.sortino.unwrap(), mean / down * 252f64.sqrt()));
        assert_eq!(m.trading_days, 3);
    }

    #[test]
    fn exposure_and_longest_flat_period() {
        let (trades, equity) = fixture();
        let m = compute(dec!(10000), &trades, &equity);
        // Inside a trade: 15:00 and 16:00 on the 24th, 15:00 on the 25th, 16:00 on the 26th.
        assert!(close(m.exposure_pct, 400.0 / 11.0));
        // Longest flat: 16:00 on the 25th to 16:00 on the 26th.
        assert_eq!(m.longest_flat_seconds, 24 * 3600);
    }

    #[test]
    fn the_day_rolls_at_17_central() {
        // 23:30 UTC on the 24th is 17:30 CT: already the 25th's trade date.
        let equity = [
            pt("2026-11-24T20:00:00Z", dec!(110)),
            pt("2026-11-24T23:30:00Z", dec!(121)),
        ];
        let r = daily_returns(dec!(100), &equity);
        assert_eq!(r.len(), 2);
        assert!(close(r[0], 0.1) && close(r[1], 0.1));
    }

    #[test]
    fn the_backtesters_trades_are_measured_as_they_are() {
        use crate::domain::side::TradeSide;
        let trade = SimTrade {
            side: TradeSide::Long,
            qty: 1,
            entry_ts: at("2026-11-24T15:00:00Z"),
            entry_price: dec!(6000),
            exit_ts: at("2026-11-24T16:00:00Z"),
            exit_price: dec!(6002),
            gross_pnl: dec!(100),
            commission: dec!(4.5),
            net_pnl: dec!(95.5),
        };
        let m = compute(
            dec!(1000),
            &[trade],
            &[pt("2026-11-24T15:00:00Z", dec!(1000))],
        );
        assert_eq!(
            (m.gross_pnl, m.commissions, m.net_pnl),
            (dec!(100), dec!(4.5), dec!(95.5))
        );
    }

    #[test]
    fn nothing_to_measure() {
        let m = compute::<T>(dec!(5000), &[], &[]);
        assert_eq!(m.net_pnl, Decimal::ZERO);
        assert_eq!(m.ending_equity, dec!(5000));
        assert_eq!(m.trades, 0);
        assert_eq!(
            (
                m.win_rate_pct,
                m.profit_factor,
                m.avg_trade,
                m.sharpe,
                m.sortino
            ),
            (None, None, None, None, None)
        );
        assert_eq!((m.exposure_pct, m.longest_flat_seconds), (0.0, 0));
        // A flat run: no trades, no spread → no ratios; flat the whole time.
        let equity = [
            pt("2026-11-24T14:00:00Z", dec!(5000)),
            pt("2026-11-26T14:00:00Z", dec!(5000)),
        ];
        let m = compute::<T>(dec!(5000), &[], &equity);
        assert_eq!((m.sharpe, m.sortino), (None, None));
        assert_eq!(m.longest_flat_seconds, 48 * 3600);
        // Only winners: no profit factor (no loss to divide by).
        let one = [T {
            entry: equity[0].ts,
            exit: equity[1].ts,
            gross: dec!(10),
            commission: dec!(1),
        }];
        let m = compute(dec!(5000), &one, &equity);
        assert_eq!(m.profit_factor, None);
        assert_eq!(m.win_rate_pct, Some(100.0));
        assert_eq!(m.longest_flat_seconds, 0);
    }
}
