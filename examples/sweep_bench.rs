//! The lab's sweep figure (issue 15): a 1,000-combination `sma_crossover` grid over one year of
//! 1-minute ES bars, each combination run as a sweep's child backtest runs
//! (`domain::backtest::run_until` with progress and cancel checks, then
//! `backtest_metrics::of_run`), the children shared by the lab's job workers (2 by default,
//! `JobsConfig::workers`) pulling from one queue, all reading one load of bars.
//!
//! `cargo run --release --example sweep_bench -- [combinations] [days] [workers] [first day]`
//! (defaults 1000, 365, 2, 2026-01-01; a later first day profiles a short range without the
//! New Year holiday's bars, which the sandbox serves and the session gate refuses). The bars
//! are the sandbox's deterministic history (`sandbox::ohlcv`, the one the sandbox market-data
//! provider serves) from the first day on, prices snapped to the tick as vendor prices are;
//! the calendar is the CME fixture for 2026–2027. Risk limits are the 1-minute defaults with
//! the daily-loss and drawdown limits raised out of reach, so every combination runs the whole
//! year (a kill would end it early and flatter the figure).

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use rust_decimal_macros::dec;
use serde_json::json;
use tradeplane::domain::backtest::sweep::{self, SweepMode};
use tradeplane::domain::backtest::{self, BacktestSpec, FillModel};
use tradeplane::domain::backtest_metrics;
use tradeplane::domain::bars::Bar;
use tradeplane::domain::calendar::HolidayCalendar;
use tradeplane::domain::instruments::Symbol;
use tradeplane::domain::risk::{AutonomyTier, RiskLimits};
use tradeplane::domain::strategy_config::{CrossoverParams, MovingAverage, StrategyConfig};
use tradeplane::domain::timeframe::Timeframe;
use tradeplane::sandbox::ohlcv;
use uuid::Uuid;

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (combinations, days, workers) = (arg(1, 1000), arg(2, 365), arg(3, 2).max(1));
    let es = Symbol::Es.spec();
    let from = std::env::args()
        .nth(4)
        .and_then(|d| d.parse::<chrono::NaiveDate>().ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or_else(
            || Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            |d| d.and_utc(),
        );
    let to = from + Duration::days(i64::try_from(days).unwrap_or(365));
    let started = Instant::now();
    let bars: Vec<Bar> = ohlcv::minute_bars("ES.c.0", from, to, usize::MAX)
        .into_iter()
        .filter_map(|b| {
            let px = |v: f64| Decimal::from_f64(v).and_then(|d| es.snap(d));
            Some(Bar {
                ts_open: b.ts,
                open: px(b.open)?,
                high: px(b.high)?,
                low: px(b.low)?,
                close: px(b.close)?,
                volume: b.volume,
            })
        })
        .collect();
    let bars = Arc::new(bars);
    println!(
        "bars: {} one-minute ES bars {} to {} built in {:.2} s",
        bars.len(),
        from.date_naive(),
        to.date_naive(),
        started.elapsed().as_secs_f64()
    );

    // The grid as a sweep request names it: fast 2..=21 × slow 30..=275 step 5 = 1,000.
    let slow_steps = combinations.div_ceil(20).max(1);
    let ranges = json!({
        "fast": {"min": 2, "max": 21, "step": 1},
        "slow": {"min": 30, "max": 30 + 5 * (slow_steps - 1), "step": 5},
    });
    let ranges = sweep::parse_ranges(ranges.as_object().expect("an object")).expect("ranges");
    let space = sweep::parse_space("sma_crossover", &ranges).expect("space");
    let base = StrategyConfig::SmaCrossover(CrossoverParams {
        fast: 10,
        slow: 30,
        average: MovingAverage::Sma,
    });
    let combos: Vec<StrategyConfig> = sweep::pick(&space, SweepMode::Grid, 0, 0)
        .into_iter()
        .take(combinations)
        .filter_map(|i| sweep::apply(&base, &space.combination(i)).ok())
        .collect();

    let show = |s: &StrategyConfig| serde_json::to_string(s).unwrap_or_default();
    println!(
        "grid: {} combinations, first {}, last {}",
        combos.len(),
        combos.first().map(show).unwrap_or_default(),
        combos.last().map(show).unwrap_or_default()
    );

    let calendar = Arc::new(HolidayCalendar::cme_equity_fixture());
    let limits = RiskLimits {
        daily_loss_limit: dec!(100000000),
        max_drawdown: dec!(100000000),
        ..RiskLimits::defaults_for(Timeframe::M1)
    };
    let spec_of = |strategy: StrategyConfig| BacktestSpec {
        bot_id: Uuid::from_u128(1),
        strategy,
        filters: Default::default(),
        filter_data: Default::default(),
        news: Default::default(),
        instrument: es,
        timeframe: Timeframe::M1,
        limits: limits.clone(),
        fill: FillModel {
            slippage_ticks: 1,
            commission_per_contract: dec!(2.25),
        },
        starting_capital: dec!(100000),
        calendar: calendar.clone(),
        tier: AutonomyTier::Supervised,
        evaluate_from: None,
        roll_warmups: Default::default(),
    };

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.trim());
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<(usize, usize, u64, usize, Decimal)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(strategy) = combos.get(i) else {
                            return out;
                        };
                        let spec = spec_of(strategy.clone());
                        let total = bars.len().max(1);
                        let mut pct = 0;
                        let run = backtest::run_until(&spec, &bars, &mut |done| {
                            pct = done * 100 / total;
                            ControlFlow::Continue(())
                        })
                        .expect("never cancelled");
                        let m = backtest_metrics::of_run(spec.starting_capital, &run);
                        out.push((i, run.bars_processed, run.fills, pct, m.net_pnl));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker"))
            .collect()
    });
    let secs = started.elapsed().as_secs_f64();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let evaluated: usize = results.iter().map(|r| r.1).sum();
    let fills: u64 = results.iter().map(|r| r.2).sum();
    let complete = results.iter().filter(|r| r.1 == bars.len()).count();
    let mut best: BTreeMap<Decimal, usize> = BTreeMap::new();
    for r in &results {
        best.insert(r.4, r.0);
    }
    let (top_pnl, top) = best
        .iter()
        .next_back()
        .map_or((Decimal::ZERO, 0), |(p, i)| (*p, *i));
    println!(
        "sweep: {} combinations × {} bars on {workers} workers in {secs:.2} s = {:.0} bar-evaluations/s; \
         {complete} ran the whole range; {fills} fills; best net PnL {top_pnl} ({})",
        results.len(),
        bars.len(),
        evaluated as f64 / secs,
        serde_json::to_string(&combos[top]).unwrap_or_default(),
    );
    println!("load average after: {}", load.trim());
}
