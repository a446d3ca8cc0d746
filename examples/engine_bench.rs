//! Engine figures (issue 15): `domain::backtest::run` throughput over synthetic 1-minute ES bars,
//! and the engine alone per bar (one `Bar` + one `Clock` event, every gate on, effects
//! performed as the backtester does) as p50/p99/max.
//!
//! `cargo run --release --example engine_bench -- [bars] [csv]`: `bars` synthetic bars (default
//! 1,000,000), written to `csv` when given (for `scripts/bench-engine-vs-nautilus.sh`).
//!
//! The bars: one per minute while the CME session (fixture calendar) is open, a deterministic
//! random walk in whole ticks, each bar opening at the previous close, so a fill at the next
//! bar's open (this engine) is the same price as a fill at the decision bar's close (venues
//! that fill market orders on the bar they were sent in). The CSV marks each front contract's
//! last bar before its quarterly roll (`last_of_contract`), where the backtester closes the
//! position and the next contract's window starts anew.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tradeplane::domain::backtest::{self, BacktestSpec, FillModel};
use tradeplane::domain::bars::Bar;
use tradeplane::domain::calendar::HolidayCalendar;
use tradeplane::domain::contracts::Contract;
use tradeplane::domain::engine::{
    Effect, Engine, Event, OrderUpdate, Settings, Tick, TraceDetail, WorkingOrder,
};
use tradeplane::domain::execution::SimParams;
use tradeplane::domain::instruments::Symbol;
use tradeplane::domain::risk::{AutonomyTier, RiskLimits, Stage};
use tradeplane::domain::strategy_config::{CrossoverParams, MovingAverage, StrategyConfig};
use tradeplane::domain::timeframe::Timeframe;
use uuid::Uuid;

const FAST: u32 = 10;
const SLOW: u32 = 30;

fn synthetic_bars(n: usize, cal: &HolidayCalendar) -> Vec<Bar> {
    // Sunday 2024-01-07 17:00 CT: a session opens.
    let mut ts: DateTime<Utc> = Utc.with_ymd_and_hms(2024, 1, 7, 23, 0, 0).unwrap();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut prev = dec!(5000);
    let tick = dec!(0.25);
    let mut bars = Vec::with_capacity(n);
    while bars.len() < n {
        if cal.is_open(ts).is_open() {
            // xorshift64*: a fixed sequence on every machine.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33;
            let steps = (r % 9) as i64 - 4;
            let close = (prev + tick * Decimal::from(steps)).max(dec!(100));
            bars.push(Bar {
                ts_open: ts,
                open: prev,
                high: prev.max(close) + tick,
                low: prev.min(close) - tick,
                close,
                volume: 100 + r % 900,
            });
            prev = close;
        }
        ts += Duration::minutes(1);
    }
    bars
}

fn strategy() -> StrategyConfig {
    StrategyConfig::SmaCrossover(CrossoverParams {
        fast: FAST,
        slow: SLOW,
        average: MovingAverage::Sma,
    })
}

/// One contract long or short; a reversal is one order of 2 (so no exit-first bar).
fn limits() -> RiskLimits {
    RiskLimits {
        max_order_size: 2,
        max_position: 1,
        daily_loss_limit: dec!(100000000),
        max_drawdown: dec!(100000000),
        max_orders_per_minute: 10,
        price_collar_ticks: 40,
        max_data_age_seconds: 125,
    }
}

fn fill_model() -> FillModel {
    FillModel {
        slippage_ticks: 0,
        commission_per_contract: dec!(2.25),
    }
}

fn write_csv(path: &str, bars: &[Bar]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "ts_ns,open,high,low,close,volume,last_in_session,last_of_contract"
    )?;
    let front = |b: &Bar| Contract::front_at(Symbol::Es, b.ts_open);
    for (i, b) in bars.iter().enumerate() {
        let next = bars.get(i + 1);
        // The last bar before a closure: its close is outside the session (no decision).
        let last = next.is_none_or(|n| n.ts_open != b.ts_open + Duration::minutes(1));
        // The last bar of a front contract before the roll: the backtester closes the position
        // at its close and the next contract's window warms up anew (the engine's roll rule).
        let rolls = next.is_some_and(|n| front(n) != front(b));
        let ns = b.ts_open.timestamp_nanos_opt().unwrap_or_default();
        writeln!(
            out,
            "{ns},{},{},{},{},{},{},{}",
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume,
            u8::from(last),
            u8::from(rolls)
        )?;
    }
    out.flush()
}

/// The engine alone, timed per bar: feed the bar, perform its fill, evaluate the boundary,
/// place its decision (what `backtest::run` does, without its order log and equity curve),
/// traces summarised by code as the backtester asks for them.
fn time_engine(bars: &[Bar], cal: Arc<HolidayCalendar>) -> Vec<u64> {
    let settings = Settings {
        bot_id: Uuid::from_u128(1),
        spec: Symbol::Es.spec(),
        timeframe: Timeframe::M1,
        stage: Stage::Paper,
        config: strategy(),
        filters: Default::default(),
        limits: limits(),
        is_trading_enabled: false,
        sim: SimParams::from(&fill_model()),
    };
    let mut engine = Engine::new(settings, cal);
    engine.set_trace_detail(TraceDetail::Codes);
    let mut ns = Vec::with_capacity(bars.len());
    let mut id = 0u128;
    let (mut effects, mut more) = (Vec::new(), Vec::new());
    // One contract for the whole timing (the engine's roll rule is one comparison per bar).
    let contract = bars
        .first()
        .map(|b| Contract::front_at(Symbol::Es, b.ts_open));
    for bar in bars {
        let started = Instant::now();
        if let Some(contract) = contract {
            let event = Event::Bar {
                bar: bar.clone(),
                contract,
            };
            engine.handle_into(event, &mut effects);
        }
        for effect in effects.drain(..) {
            if let Effect::Fill { fill, .. } = effect {
                engine.handle_into(Event::Fill(fill), &mut more);
            }
        }
        let tick = Tick {
            now: bar.ts_open + Duration::minutes(1),
            tier: AutonomyTier::FullAutonomy,
            trading_switch_on: true,
            kill_switch_active: false,
            breaker_open: false,
            reconciliation_clean: true,
            broker_ready: false,
        };
        engine.handle_into(Event::Clock(tick), &mut effects);
        for effect in effects.drain(..) {
            if let Effect::Decision(d) = effect {
                id += 1;
                let working = WorkingOrder {
                    id: Uuid::from_u128(id),
                    side: d.order.side,
                    quantity: d.order.quantity,
                    decision_bar_at: Some(d.order.bar_ts),
                    reference_price: Some(d.order.reference_price),
                    idempotency_key: d.order.idempotency_key,
                };
                let placed = OrderUpdate::Placed {
                    working: Some(working),
                };
                engine.handle_into(Event::OrderUpdate(placed), &mut more);
            }
        }
        more.clear();
        ns.push(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    ns
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let csv = args.next();
    let cal = Arc::new(HolidayCalendar::cme_equity_fixture());
    let bars = synthetic_bars(n, &cal);
    if let Some(path) = &csv {
        write_csv(path, &bars).expect("write the bars");
    }

    let spec = BacktestSpec {
        bot_id: Uuid::from_u128(1),
        strategy: strategy(),
        filters: Default::default(),
        filter_data: Default::default(),
        news: Default::default(),
        instrument: Symbol::Es.spec(),
        timeframe: Timeframe::M1,
        limits: limits(),
        fill: fill_model(),
        starting_capital: dec!(1000000),
        calendar: cal.clone(),
        tier: AutonomyTier::FullAutonomy,
        evaluate_from: None,
        roll_warmups: Default::default(),
    };
    let started = Instant::now();
    let run = backtest::run(&spec, &bars, &mut |_| {});
    let secs = started.elapsed().as_secs_f64();
    let closed_net: Decimal = run.trades.iter().map(|t| t.net_pnl).sum();
    let commissions: Decimal = run
        .order_log
        .iter()
        .filter_map(|o| o.fill.as_ref())
        .map(|f| f.commission)
        .sum();
    let gross: Decimal = run.trades.iter().map(|t| t.gross_pnl).sum();
    println!(
        "engine backtest: {} bars in {secs:.3} s = {:.0} bars/s; orders {} fills {} closed trades {}; \
         gross realized {gross} commissions {commissions} net realized {} (closed trades net {closed_net}); \
         no-trades {:?}",
        run.bars_processed,
        run.bars_processed as f64 / secs,
        run.orders,
        run.fills,
        run.trades.len(),
        gross - commissions,
        run.no_trades_by_code,
    );

    let timed = bars.len().min(200_000);
    let mut ns = time_engine(&bars[..timed], cal);
    ns.sort_unstable();
    let pct = |p: f64| ns[((timed as f64 * p) as usize).min(timed - 1)] as f64 / 1000.0;
    println!(
        "engine per bar (Bar + Clock, all gates): {timed} bars p50 {:.2} µs p99 {:.2} µs p99.9 {:.2} µs max {:.2} µs",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        ns[timed - 1] as f64 / 1000.0
    );
}
