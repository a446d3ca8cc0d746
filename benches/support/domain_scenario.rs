//! The evaluation scenario shared by `benches/domain.rs` and `examples/domain_eval_timing.rs`:
//! 100 one-minute ES bars in an open session, a flat PAPER bot at FULL_AUTONOMY, every gate
//! passing (so every gate runs and the sim fill happens).

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tradeplane::domain::bars::Bar;
use tradeplane::domain::calendar::HolidayCalendar;
use tradeplane::domain::evaluation::EvaluationInput;
use tradeplane::domain::execution::SimParams;
use tradeplane::domain::instruments::{ContractSpec, Symbol};
use tradeplane::domain::positions::Position;
use tradeplane::domain::risk::{AutonomyTier, GateContext, RiskLimits, Stage};
use tradeplane::domain::strategy_config::{
    CrossoverParams, DonchianParams, MovingAverage, RsiParams, StrategyConfig,
};
use uuid::Uuid;

pub struct Scenario {
    history: Vec<Bar>,
    next: Bar,
    spec: ContractSpec,
    cal: HolidayCalendar,
    limits: RiskLimits,
    sim: SimParams,
    position: Position,
    now: DateTime<Utc>,
}

/// `n` one-minute ES bars from Tue 2026-11-24 09:00 CT, a deterministic zig-zag uptrend.
fn bars(n: usize) -> Vec<Bar> {
    let start = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap();
    let mut prev = dec!(5000);
    (0..n)
        .map(|i| {
            let close = prev + Decimal::from((i % 7) as i64 - 2) * dec!(0.25);
            let b = Bar {
                ts_open: start + Duration::minutes(i as i64),
                open: prev,
                high: prev.max(close) + dec!(0.25),
                low: prev.min(close) - dec!(0.25),
                close,
                volume: 1000,
            };
            prev = close;
            b
        })
        .collect()
}

pub fn configs() -> Vec<(&'static str, StrategyConfig)> {
    vec![
        (
            "sma_crossover_10_30",
            StrategyConfig::SmaCrossover(CrossoverParams {
                fast: 10,
                slow: 30,
                average: MovingAverage::Sma,
            }),
        ),
        (
            "donchian_20",
            StrategyConfig::DonchianBreakout(DonchianParams { lookback: 20 }),
        ),
        (
            "rsi_14",
            StrategyConfig::RsiMeanReversion(RsiParams {
                period: 14,
                oversold: 30.0,
                overbought: 70.0,
            }),
        ),
    ]
}

impl Scenario {
    pub fn new() -> Self {
        let mut history = bars(101);
        let next = history.pop().unwrap();
        let now = next.ts_open;
        Scenario {
            history,
            next,
            spec: Symbol::Es.spec(),
            cal: HolidayCalendar::cme_equity_fixture(),
            limits: RiskLimits {
                max_order_size: 5,
                max_position: 10,
                daily_loss_limit: dec!(2000),
                max_drawdown: dec!(5000),
                max_orders_per_minute: 30,
                price_collar_ticks: 40,
                max_data_age_seconds: 120,
            },
            sim: SimParams {
                slippage_ticks: 1,
                commission_per_contract: dec!(2.25),
            },
            position: Position::flat(Symbol::Es),
            now,
        }
    }

    pub fn input<'a>(&'a self, config: &'a StrategyConfig) -> EvaluationInput<'a> {
        let last = &self.history[self.history.len() - 1];
        EvaluationInput {
            bot_id: Uuid::from_u128(1),
            config,
            // The benches' configs are valid (the engine checks a config once, when it is set).
            config_invalid: None,
            spec: &self.spec,
            bars: &self.history,
            next_bar: Some(&self.next),
            order_quantity: 2,
            position: &self.position,
            sim: &self.sim,
            broker_ready: false,
            gates: GateContext {
                now: self.now,
                calendar: &self.cal,
                spec: &self.spec,
                limits: &self.limits,
                stage: Stage::Paper,
                tier: AutonomyTier::FullAutonomy,
                is_trading_enabled: false,
                trading_switch_on: true,
                kill_switch_active: false,
                breaker_open: false,
                reconciliation_clean: true,
                last_data_at: Some(self.now),
                last_price: Some(last.close),
                position: 0,
                order: None,
                daily_pnl: dec!(-150),
                daily_loss_latched: false,
                equity: dec!(100000),
                peak_equity: dec!(101000),
                orders_last_minute: 3,
                filters: tradeplane::domain::strategy_filters::FilterReadings::none(),
                account_risk: None,
            },
        }
    }
}
