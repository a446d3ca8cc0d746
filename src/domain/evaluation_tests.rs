use super::*;
use crate::domain::bars::test_support::bars_from_closes;
use crate::domain::calendar::HolidayCalendar;
use crate::domain::instruments::Symbol;
use crate::domain::risk::{AutonomyTier, RiskLimits, Stage};
use crate::domain::strategy_config::{CrossoverParams, MovingAverage};
use chrono::Duration;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

struct World {
    config: StrategyConfig,
    spec: ContractSpec,
    cal: HolidayCalendar,
    limits: RiskLimits,
    sim: SimParams,
    bars: Vec<Bar>,
    next: Bar,
}

/// Rising closes (crossover(2,4) → LONG); bars from Tue 2026-11-24 09:00 CT, one a minute.
fn world(closes: &[i64]) -> World {
    let mut all = bars_from_closes(&closes.iter().map(|&c| Decimal::from(c)).collect::<Vec<_>>());
    let next = all.pop().unwrap();
    World {
        config: StrategyConfig::SmaCrossover(CrossoverParams {
            fast: 2,
            slow: 4,
            average: MovingAverage::Sma,
        }),
        spec: Symbol::Es.spec(),
        cal: HolidayCalendar::cme_equity_fixture(),
        limits: RiskLimits {
            max_order_size: 4,
            max_position: 4,
            daily_loss_limit: dec!(1000),
            max_drawdown: dec!(3000),
            max_orders_per_minute: 10,
            price_collar_ticks: 20,
            max_data_age_seconds: 120,
        },
        sim: SimParams {
            slippage_ticks: 1,
            commission_per_contract: dec!(2.25),
        },
        bars: all,
        next,
    }
}

fn input<'a>(w: &'a World, position: &'a Position) -> EvaluationInput<'a> {
    let last = w.bars.last().unwrap();
    let now = last.ts_open + Duration::minutes(1);
    EvaluationInput {
        bot_id: Uuid::from_u128(7),
        config: &w.config,
        config_invalid: None,
        spec: &w.spec,
        bars: &w.bars,
        next_bar: Some(&w.next),
        order_quantity: 1,
        position,
        sim: &w.sim,
        broker_ready: false,
        gates: GateContext {
            now,
            calendar: &w.cal,
            spec: &w.spec,
            limits: &w.limits,
            stage: Stage::Paper,
            tier: AutonomyTier::Supervised,
            is_trading_enabled: false,
            trading_switch_on: true,
            kill_switch_active: false,
            breaker_open: false,
            reconciliation_clean: true,
            last_data_at: Some(now),
            last_price: Some(last.close),
            position: 0,
            order: None,
            daily_pnl: Decimal::ZERO,
            daily_loss_latched: false,
            equity: dec!(100000),
            peak_equity: dec!(100000),
            orders_last_minute: 0,
            filters: crate::domain::strategy_filters::FilterReadings::none(),
            account_risk: None,
        },
    }
}

fn no_trade(e: Evaluation) -> NoTrade {
    match e {
        Evaluation::NoTrade(n) => *n,
        Evaluation::Decision(d) => panic!("expected no-trade, got {d:?}"),
    }
}

fn decision(e: Evaluation) -> Decision {
    match e {
        Evaluation::Decision(d) => *d,
        Evaluation::NoTrade(n) => panic!("expected decision, got {n:?}"),
    }
}

#[test]
fn paper_entry_fills_at_next_open_plus_slippage() {
    // closes 100..108 by 2; next bar opens at 108 (prev close) → buy fill 108.25.
    let w = world(&[100, 102, 104, 106, 108, 110]);
    let pos = Position::flat(Symbol::Es);
    let d = decision(evaluate_bar(&input(&w, &pos)));
    assert_eq!(d.decision_type, DecisionType::Entry);
    assert_eq!(d.reason_code, "SIGNAL_LONG");
    assert_eq!(d.order.side, Side::Buy);
    assert_eq!(d.order.quantity, 1);
    let ExecutionOutcome::Filled(fill) = &d.execution else {
        panic!("{:?}", d.execution)
    };
    assert_eq!(fill.price, dec!(108.25));
    assert_eq!(fill.commission, dec!(2.25));
    assert_eq!(d.variables_snapshot["ma_fast"], 107.0);
    assert_eq!(d.risk_snapshot()["allowed"], true);
    assert!((d.expected_value - 8.0).abs() < 1e-9);
}

#[test]
fn halt_and_no_signal_both_listed() {
    let w = world(&[100, 100, 100, 100, 100, 100]);
    let pos = Position::flat(Symbol::Es);
    let mut i = input(&w, &pos);
    i.gates.now =
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 24, 22, 30, 0).unwrap();
    i.gates.last_data_at = Some(i.gates.now);
    let n = no_trade(evaluate_bar(&i));
    let codes: Vec<_> = n.blocked_by.iter().map(|b| &*b.code).collect();
    assert_eq!(codes, vec!["MARKET_CLOSED", "NO_SIGNAL"]);
    assert_eq!(n.suppression_type, "GATE_BLOCKED");
    assert_eq!(n.suppression_decision, "NONE");
    assert_eq!(n.reason_code, "MARKET_CLOSED");
    assert_eq!(n.fold_key(), "GATE_BLOCKED|NONE|MARKET_CLOSED,NO_SIGNAL");
}

#[test]
fn blocked_entry_names_what_it_suppressed() {
    let w = world(&[100, 102, 104, 106, 108, 110]);
    let pos = Position::flat(Symbol::Es);
    let mut i = input(&w, &pos);
    i.gates.kill_switch_active = true;
    i.gates.tier = AutonomyTier::Locked;
    let n = no_trade(evaluate_bar(&i));
    let codes: Vec<_> = n.blocked_by.iter().map(|b| &*b.code).collect();
    assert_eq!(
        codes,
        vec!["KILL_SWITCH_ACTIVE", "AUTONOMY_TIER_INSUFFICIENT"]
    );
    assert_eq!(n.suppression_decision, "ENTRY");
    assert_eq!(n.signals.to_json()["signal"], "LONG");
}

#[test]
fn insufficient_history_is_a_no_trade() {
    let w = world(&[100, 102, 104, 106]);
    let pos = Position::flat(Symbol::Es);
    let n = no_trade(evaluate_bar(&input(&w, &pos)));
    assert_eq!(n.suppression_type, "INSUFFICIENT_HISTORY");
    assert_eq!(n.reason_code, "INSUFFICIENT_HISTORY");
    assert!(n.variables_snapshot.is_empty());
}

#[test]
fn holding_the_target_is_no_signal_and_a_flip_is_one_adjust() {
    let w = world(&[100, 102, 104, 106, 108, 110]);
    let mut pos = Position::flat(Symbol::Es);
    pos.apply_fill(Side::Buy, 1, dec!(100), Decimal::ZERO);
    let n = no_trade(evaluate_bar(&input(&w, &pos)));
    assert_eq!(
        (&*n.suppression_type, &*n.reason_code),
        ("NO_SIGNAL", "NO_SIGNAL")
    );

    let w = world(&[108, 106, 104, 102, 100, 98]);
    let d = decision(evaluate_bar(&input(&w, &pos)));
    assert_eq!(d.decision_type, DecisionType::Adjust);
    assert_eq!((d.order.side, d.order.quantity), (Side::Sell, 2));
    assert_eq!(d.gate_report.position_after, -1);
}

#[test]
fn live_without_broker_is_refused_never_simulated() {
    let w = world(&[100, 102, 104, 106, 108, 110]);
    let pos = Position::flat(Symbol::Es);
    let mut i = input(&w, &pos);
    i.gates.stage = Stage::Live;
    i.gates.tier = AutonomyTier::FullAutonomy;
    i.gates.is_trading_enabled = true;
    let n = no_trade(evaluate_bar(&i));
    assert_eq!(n.suppression_type, "EXECUTION_REFUSED");
    assert_eq!(n.reason_code, "EXECUTION_BROKER_UNAVAILABLE");
}

#[test]
fn shadow_awaits_its_hypothetical_fill_and_keys_repeat_on_restart() {
    let w = world(&[100, 102, 104, 106, 108, 110]);
    let pos = Position::flat(Symbol::Es);
    let mut i = input(&w, &pos);
    i.gates.stage = Stage::Shadow;
    i.gates.tier = AutonomyTier::LimitedAutonomy;
    let a = decision(evaluate_bar(&i));
    // The PAPER fill model, hypothetically: the same execution a PAPER bot gets.
    let mut paper = i.clone();
    paper.gates.stage = Stage::Paper;
    assert_eq!(a.execution, decision(evaluate_bar(&paper)).execution);
    assert!(matches!(
        a.execution,
        ExecutionOutcome::Filled(_) | ExecutionOutcome::AwaitingNextBar
    ));
    let b = decision(evaluate_bar(&i));
    assert_eq!(a.order.idempotency_key, b.order.idempotency_key);
}

#[test]
fn a_reversal_beyond_max_order_size_exits_first() {
    let mut w = world(&[108, 106, 104, 102, 100, 98]);
    w.limits.max_order_size = 1;
    let mut pos = Position::flat(Symbol::Es);
    pos.apply_fill(Side::Buy, 1, dec!(100), Decimal::ZERO);
    let d = decision(evaluate_bar(&input(&w, &pos)));
    assert_eq!(d.decision_type, DecisionType::Exit);
    assert_eq!((d.order.side, d.order.quantity), (Side::Sell, 1));
    assert_eq!(d.gate_report.position_after, 0);
}

#[test]
fn a_suppressions_type_code_and_report_are_its_no_trades() {
    // Every way an evaluation is suppressed: no signal, too few bars, a gate with and without
    // a proposed order (two gates), the execution refusing (LIVE without a broker session).
    let flat = world(&[100, 100, 100, 100, 100, 100]);
    let rising = world(&[100, 102, 104, 106, 108, 110]);
    let short = world(&[100, 102, 104]);
    let pos = Position::flat(Symbol::Es);
    type Edit = fn(&mut EvaluationInput<'_>);
    let cases: [(&World, Edit, &str, &str); 8] = [
        (&flat, |_| {}, "NO_SIGNAL", "NO_SIGNAL"),
        (
            &short,
            |_| {},
            "INSUFFICIENT_HISTORY",
            "INSUFFICIENT_HISTORY",
        ),
        (
            &flat,
            |i| i.gates.kill_switch_active = true,
            "GATE_BLOCKED",
            "KILL_SWITCH_ACTIVE",
        ),
        (
            &rising,
            |i| i.gates.kill_switch_active = true,
            "GATE_BLOCKED",
            "KILL_SWITCH_ACTIVE",
        ),
        (
            &rising,
            |i| {
                i.gates.breaker_open = true;
                i.gates.last_data_at = None;
            },
            "GATE_BLOCKED",
            "CIRCUIT_BREAKER_OPEN",
        ),
        (
            &rising,
            |i| i.gates.now += Duration::hours(100),
            "GATE_BLOCKED",
            "MARKET_CLOSED",
        ),
        (
            &rising,
            |i| {
                i.gates.stage = Stage::Live;
                i.gates.is_trading_enabled = true;
                i.gates.tier = AutonomyTier::FullAutonomy;
            },
            "EXECUTION_REFUSED",
            "EXECUTION_BROKER_UNAVAILABLE",
        ),
        (
            &rising,
            // A loss past the day's limit: blocked, with a kill trigger.
            |i| i.gates.daily_pnl = -i.gates.limits.daily_loss_limit - dec!(1),
            "GATE_BLOCKED",
            "RISK_LIMIT_BREACHED",
        ),
    ];
    let mut kills = 0;
    for (w, edit, suppression_type, code) in cases {
        let mut i = input(w, &pos);
        edit(&mut i);
        // A driver counting codes gets the same type, code and kill triggers, nothing else.
        let Err(s) = evaluate_bar_parts(&i, None, TraceDetail::Codes) else {
            panic!("{code}: expected a suppression")
        };
        let Err(c) = evaluate_bar_codes(&i, None) else {
            panic!("{code}: expected a suppression's codes")
        };
        assert_eq!(c.suppression_type, s.kind.0, "{code}");
        assert_eq!(c.reason_code, s.reason_code(), "{code}");
        assert_eq!(c.kill_triggers, s.report.kill_triggers, "{code}");
        kills += c.kill_triggers.len();
        for detail in [TraceDetail::Full, TraceDetail::Codes] {
            let Err(s) = evaluate_bar_parts(&i, None, detail) else {
                panic!("{code}: expected a suppression")
            };
            assert_eq!(s.kind.0, suppression_type, "{code}");
            assert_eq!(s.reason_code(), code);
            let report = s.report.clone();
            let n = s.into_no_trade();
            assert_eq!(n.suppression_type, suppression_type);
            assert_eq!(n.reason_code, code);
            assert_eq!(n.gate_report, report);
            // The same no-trade, field for field, as the evaluation builds.
            assert_eq!(*n, no_trade(evaluate_bar_with(&i, None, detail)), "{code}");
        }
    }
    assert!(kills > 0, "a case with kill triggers");
}
