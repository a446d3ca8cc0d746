use super::*;
use crate::domain::instruments::Symbol;
use chrono::{Duration, TimeZone};
use rust_decimal_macros::dec;

fn limits() -> RiskLimits {
    RiskLimits {
        max_order_size: 4,
        max_position: 6,
        daily_loss_limit: dec!(1000),
        max_drawdown: dec!(2500),
        max_orders_per_minute: 5,
        price_collar_ticks: 8,
        max_data_age_seconds: 120,
    }
}

/// Tuesday 2026-11-24 10:00 CT: open session.
fn open_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 16, 0, 0).unwrap()
}

struct Fixture {
    cal: HolidayCalendar,
    spec: ContractSpec,
    limits: RiskLimits,
}

fn fixture() -> Fixture {
    Fixture {
        cal: HolidayCalendar::cme_equity_fixture(),
        spec: Symbol::Es.spec(),
        limits: limits(),
    }
}

fn ctx(f: &Fixture) -> GateContext<'_> {
    GateContext {
        now: open_now(),
        calendar: &f.cal,
        spec: &f.spec,
        limits: &f.limits,
        stage: Stage::Paper,
        tier: AutonomyTier::FullAutonomy,
        is_trading_enabled: false,
        trading_switch_on: true,
        kill_switch_active: false,
        breaker_open: false,
        reconciliation_clean: true,
        last_data_at: Some(open_now() - Duration::seconds(30)),
        last_price: Some(dec!(5000)),
        position: 0,
        order: Some(ProposedOrder {
            side: Side::Buy,
            quantity: 2,
            price: dec!(5000.25),
        }),
        daily_pnl: dec!(-100),
        daily_loss_latched: false,
        equity: dec!(100000),
        peak_equity: dec!(101000),
        orders_last_minute: 0,
        filters: crate::domain::strategy_filters::FilterReadings::none(),
        account_risk: None,
    }
}

fn gates(r: &GateReport) -> Vec<Gate> {
    r.blockers.iter().map(|b| b.gate).collect()
}

#[test]
fn a_clean_context_is_allowed() {
    let f = fixture();
    let r = evaluate_gates(&ctx(&f));
    assert!(r.allowed, "{:?}", r.blockers);
    assert_eq!(r.position_after, 2);
    assert_eq!(r.drawdown, dec!(1000));
    assert!(r.kill_triggers.is_empty());
}

#[test]
fn every_blocking_gate_is_listed_not_just_the_first() {
    let f = fixture();
    let mut c = ctx(&f);
    c.now = Utc.with_ymd_and_hms(2026, 11, 24, 22, 30, 0).unwrap(); // 16:30 CT halt
    c.kill_switch_active = true;
    c.breaker_open = true;
    c.last_data_at = None;
    c.stage = Stage::Lab;
    c.tier = AutonomyTier::Locked;
    c.order = Some(ProposedOrder {
        side: Side::Buy,
        quantity: 10,
        price: dec!(5010),
    });
    c.orders_last_minute = 5;
    c.daily_pnl = dec!(-1000);
    c.equity = dec!(97000);
    c.peak_equity = dec!(100000);
    let r = evaluate_gates(&c);
    assert!(!r.allowed);
    assert_eq!(
        gates(&r),
        vec![
            Gate::KillSwitch,
            Gate::CircuitBreaker,
            Gate::MarketSession,
            Gate::DataFreshness,
            Gate::Stage,
            Gate::AutonomyTier,
            Gate::MaxOrderSize,
            Gate::MaxPosition,
            Gate::OrderRate,
            Gate::PriceCollar,
            Gate::DailyLoss,
            Gate::Drawdown,
        ]
    );
    let codes: Vec<_> = r.blockers.iter().map(|b| b.code.as_str()).collect();
    assert_eq!(
        &codes[..6],
        &[
            "KILL_SWITCH_ACTIVE",
            "CIRCUIT_BREAKER_OPEN",
            "MARKET_CLOSED",
            "DATA_UNAVAILABLE",
            "PROMOTION_GATE_FAILED",
            "AUTONOMY_TIER_INSUFFICIENT"
        ]
    );
    assert!(r.blockers.iter().all(|b| !b.suggested_fix.is_empty()));
    assert_eq!(r.session, SessionState::DailyHalt);
    assert_eq!(
        r.kill_triggers.iter().map(|k| k.gate).collect::<Vec<_>>(),
        vec![Gate::DailyLoss, Gate::Drawdown]
    );
    assert!(r.daily_loss_latched);
}

#[test]
fn stale_data_is_data_stale() {
    let f = fixture();
    let mut c = ctx(&f);
    c.last_data_at = Some(c.now - Duration::seconds(121));
    let r = evaluate_gates(&c);
    assert_eq!(r.blockers[0].code, ErrorCode::DataStale);
    c.last_data_at = Some(c.now - Duration::seconds(120));
    assert!(evaluate_gates(&c).allowed);
}

#[test]
fn stage_and_tier_rules() {
    let f = fixture();
    let codes = |stage, tier, enabled| {
        let mut c = ctx(&f);
        c.stage = stage;
        c.tier = tier;
        c.is_trading_enabled = enabled;
        evaluate_gates(&c)
            .blockers
            .iter()
            .map(|b| b.code)
            .collect::<Vec<_>>()
    };
    use AutonomyTier::*;
    assert_eq!(codes(Stage::Paper, Supervised, false), vec![]);
    assert_eq!(
        codes(Stage::Shadow, Supervised, false),
        vec![ErrorCode::AutonomyTierInsufficient]
    );
    assert_eq!(
        codes(Stage::Paper, Locked, false),
        vec![ErrorCode::AutonomyTierInsufficient]
    );
    assert_eq!(codes(Stage::Shadow, LimitedAutonomy, false), vec![]);
    assert_eq!(
        codes(Stage::Live, FullAutonomy, false),
        vec![ErrorCode::LiveTradingDisabled]
    );
    assert_eq!(codes(Stage::Live, FullAutonomy, true), vec![]);
    assert_eq!(
        codes(Stage::Live, Supervised, true),
        vec![ErrorCode::AutonomyTierInsufficient]
    );
}

#[test]
fn limited_autonomy_halves_size_limits() {
    let f = fixture();
    let mut c = ctx(&f);
    c.tier = AutonomyTier::LimitedAutonomy;
    c.order = Some(ProposedOrder {
        side: Side::Buy,
        quantity: 3,
        price: dec!(5000),
    });
    let r = evaluate_gates(&c);
    assert_eq!(r.effective_limits.max_order_size, 2);
    assert_eq!(r.effective_limits.max_position, 3);
    assert_eq!(gates(&r), vec![Gate::MaxOrderSize]);
    c.tier = AutonomyTier::FullAutonomy;
    assert!(evaluate_gates(&c).allowed);
}

#[test]
fn max_position_is_post_trade_and_exits_pass() {
    let f = fixture();
    let mut c = ctx(&f);
    c.position = 5;
    c.order = Some(ProposedOrder {
        side: Side::Buy,
        quantity: 2,
        price: dec!(5000),
    });
    assert_eq!(gates(&evaluate_gates(&c)), vec![Gate::MaxPosition]); // 7 > 6
    c.order = Some(ProposedOrder {
        side: Side::Buy,
        quantity: 1,
        price: dec!(5000),
    });
    assert!(evaluate_gates(&c).allowed); // exactly 6
    c.position = -6;
    c.order = Some(ProposedOrder {
        side: Side::Buy,
        quantity: 4,
        price: dec!(5000),
    });
    assert!(evaluate_gates(&c).allowed); // reducing a short
}

#[test]
fn daily_loss_latches_and_stays_latched() {
    let f = fixture();
    let mut c = ctx(&f);
    c.daily_pnl = dec!(-999.99);
    let r = evaluate_gates(&c);
    assert!(r.allowed && !r.daily_loss_latched);
    c.daily_pnl = dec!(-1000);
    let r = evaluate_gates(&c);
    assert!(r.daily_loss_latched);
    assert_eq!(gates(&r), vec![Gate::DailyLoss]);
    assert_eq!(r.kill_triggers.len(), 1);
    // PnL recovers, latch passed back in: still blocked, no second kill trigger.
    c.daily_pnl = dec!(200);
    c.daily_loss_latched = true;
    let r = evaluate_gates(&c);
    assert_eq!(gates(&r), vec![Gate::DailyLoss]);
    assert!(r.kill_triggers.is_empty() && r.daily_loss_latched);
    // An exit is still allowed while latched.
    c.position = 2;
    c.order = Some(ProposedOrder {
        side: Side::Sell,
        quantity: 2,
        price: dec!(5000),
    });
    assert!(evaluate_gates(&c).allowed);
}

#[test]
fn drawdown_boundary() {
    let f = fixture();
    let mut c = ctx(&f);
    c.equity = dec!(97500.01);
    c.peak_equity = dec!(100000);
    assert!(evaluate_gates(&c).allowed);
    c.equity = dec!(97500);
    let r = evaluate_gates(&c);
    assert_eq!(gates(&r), vec![Gate::Drawdown]);
    assert_eq!(r.kill_triggers[0].gate, Gate::Drawdown);
}

#[test]
fn order_rate_and_price_collar() {
    let f = fixture();
    let mut c = ctx(&f);
    c.orders_last_minute = 4;
    assert!(evaluate_gates(&c).allowed);
    c.orders_last_minute = 5;
    assert_eq!(gates(&evaluate_gates(&c)), vec![Gate::OrderRate]);
    c.orders_last_minute = 0;
    // 8 ticks of 0.25 = 2.00 points.
    c.order = Some(ProposedOrder {
        side: Side::Sell,
        quantity: 1,
        price: dec!(4998),
    });
    assert!(evaluate_gates(&c).allowed);
    c.order = Some(ProposedOrder {
        side: Side::Sell,
        quantity: 1,
        price: dec!(4997.75),
    });
    assert_eq!(gates(&evaluate_gates(&c)), vec![Gate::PriceCollar]);
    c.last_price = None;
    assert_eq!(
        evaluate_gates(&c).blockers[0].code,
        ErrorCode::DataUnavailable
    );
}

#[test]
fn no_order_skips_order_gates_but_reports_the_rest() {
    let f = fixture();
    let mut c = ctx(&f);
    c.order = None;
    c.orders_last_minute = 99;
    c.last_price = None;
    assert!(evaluate_gates(&c).allowed);
    c.kill_switch_active = true;
    assert_eq!(gates(&evaluate_gates(&c)), vec![Gate::KillSwitch]);
}

#[test]
fn stage_and_tier_serialize_as_spec_names() {
    assert_eq!(serde_json::to_string(&Stage::Shadow).unwrap(), "\"SHADOW\"");
    assert_eq!(
        serde_json::to_string(&AutonomyTier::LimitedAutonomy).unwrap(),
        "\"LIMITED_AUTONOMY\""
    );
    assert_eq!(
        serde_json::from_str::<AutonomyTier>("\"FULL_AUTONOMY\"").unwrap(),
        AutonomyTier::FullAutonomy
    );
    assert!(AutonomyTier::Locked < AutonomyTier::Supervised);
}

#[test]
fn the_global_trading_switch_blocks_live_only_and_with_every_other_gate() {
    let f = fixture();
    let report = |stage, switch_on, enabled| {
        let mut c = ctx(&f);
        c.stage = stage;
        c.trading_switch_on = switch_on;
        c.is_trading_enabled = enabled;
        c.kill_switch_active = true;
        evaluate_gates(&c)
    };
    // LIVE with the switch off: its own gate, beside the others (every gate runs).
    let r = report(Stage::Live, false, true);
    assert_eq!(gates(&r), vec![Gate::KillSwitch, Gate::TradingSwitch]);
    let b = &r.blockers[1];
    assert_eq!(b.code, ErrorCode::LiveTradingDisabled);
    assert!(b.suggested_fix.contains("trading-switch"), "{b:?}");
    // The bot's own switch off too: both reasons are named.
    let r = report(Stage::Live, false, false);
    assert_eq!(
        gates(&r),
        vec![Gate::KillSwitch, Gate::TradingSwitch, Gate::Stage]
    );
    // PAPER and SHADOW never send to a broker: the switch does not gate them.
    for stage in [Stage::Paper, Stage::Shadow] {
        assert_eq!(gates(&report(stage, false, false)), vec![Gate::KillSwitch]);
    }
    assert_eq!(
        gates(&report(Stage::Live, true, true)),
        vec![Gate::KillSwitch]
    );
}

#[test]
fn an_open_reconciliation_mismatch_blocks_live_only_and_with_every_other_gate() {
    let f = fixture();
    let report = |stage, clean| {
        let mut c = ctx(&f);
        c.stage = stage;
        c.is_trading_enabled = true;
        c.reconciliation_clean = clean;
        c.kill_switch_active = true;
        evaluate_gates(&c)
    };
    let r = report(Stage::Live, false);
    assert_eq!(gates(&r), vec![Gate::KillSwitch, Gate::Reconciliation]);
    let b = &r.blockers[1];
    assert_eq!(b.code, ErrorCode::ReconciliationMismatch);
    assert_eq!(b.code.status().as_u16(), 409);
    assert!(b.suggested_fix.contains("/reconcile"), "{b:?}");
    // Exits are blocked too: the bot's position itself is in doubt.
    let mut c = ctx(&f);
    c.stage = Stage::Live;
    c.is_trading_enabled = true;
    c.reconciliation_clean = false;
    c.position = 2;
    c.order = Some(ProposedOrder {
        side: Side::Sell,
        quantity: 2,
        price: dec!(5000),
    });
    assert_eq!(gates(&evaluate_gates(&c)), vec![Gate::Reconciliation]);
    // PAPER and SHADOW never reach a broker.
    for stage in [Stage::Paper, Stage::Shadow] {
        assert_eq!(gates(&report(stage, false)), vec![Gate::KillSwitch]);
    }
    assert_eq!(gates(&report(Stage::Live, true)), vec![Gate::KillSwitch]);
}

#[test]
fn entry_filters_block_entries_only_and_name_the_event() {
    use crate::domain::economic_calendar::{CalendarSnapshot, EconomicEvent};
    use crate::domain::news::NewsSnapshot;
    use crate::domain::strategy_filters::{
        EconomicCalendarFilter, FilterData, FilterReadings, StrategyFilters,
    };
    let f = fixture();
    let now = open_now();
    let filters = StrategyFilters {
        economic_calendar: Some(EconomicCalendarFilter::default()),
        macro_filter: None,
        news_gate: None,
    };
    let data = FilterData {
        calendar: Some(CalendarSnapshot {
            events: vec![EconomicEvent {
                event: "Nonfarm Payrolls".into(),
                country: "US".into(),
                impact: "High".into(),
                event_at: now + Duration::minutes(10),
            }],
            fetched_at: Some(now - Duration::hours(1)),
            covers: vec![(now - Duration::days(1), now + Duration::days(14))],
        }),
        ..Default::default()
    };
    let no_news = NewsSnapshot::default();
    let mut c = ctx(&f);
    c.filters = FilterReadings {
        filters: &filters,
        data: &data,
        news: &no_news,
    };
    // An entry (flat → long 2) is blocked, naming the event.
    let r = evaluate_gates(&c);
    assert_eq!(gates(&r), vec![Gate::EconomicCalendar]);
    assert_eq!(r.blockers[0].code, ErrorCode::EconomicEventWindow);
    assert!(
        r.blockers[0]
            .reason_human
            .contains("Nonfarm Payrolls (US, High impact)")
    );
    assert!(!r.allowed);
    // No order proposed: the trace still says what would block an entry.
    c.order = None;
    assert_eq!(gates(&evaluate_gates(&c)), vec![Gate::EconomicCalendar]);
    // An exit and a reduction pass.
    c.position = 4;
    for quantity in [4, 2] {
        c.order = Some(ProposedOrder {
            side: Side::Sell,
            quantity,
            price: dec!(5000),
        });
        assert!(evaluate_gates(&c).allowed, "reduce by {quantity}");
    }
    // Adding to the long is an entry.
    c.order = Some(ProposedOrder {
        side: Side::Buy,
        quantity: 1,
        price: dec!(5000),
    });
    assert_eq!(gates(&evaluate_gates(&c)), vec![Gate::EconomicCalendar]);
    // Outside the window the filter passes.
    c.now = now + Duration::minutes(26);
    c.last_data_at = Some(c.now - Duration::seconds(30));
    assert!(evaluate_gates(&c).allowed);
    // A disabled filter never blocks, even with no calendar.
    let off = StrategyFilters {
        economic_calendar: Some(EconomicCalendarFilter {
            enabled: false,
            ..Default::default()
        }),
        macro_filter: None,
        news_gate: None,
    };
    let empty = FilterData::default();
    c.now = now;
    c.last_data_at = Some(now - Duration::seconds(30));
    c.filters = FilterReadings {
        filters: &off,
        data: &empty,
        news: &no_news,
    };
    assert!(evaluate_gates(&c).allowed);
}

#[test]
fn the_news_gate_blocks_entries_only_naming_the_headline_and_fails_closed() {
    use crate::domain::news::{NewsGateFilter, NewsSnapshot, RiskOffHeadline};
    use crate::domain::strategy_filters::{FilterData, FilterReadings, StrategyFilters};
    let f = fixture();
    let now = open_now();
    let filters = StrategyFilters {
        news_gate: Some(NewsGateFilter { window_minutes: 30 }),
        ..StrategyFilters::default()
    };
    let data = FilterData::default();
    let risk_off = NewsSnapshot {
        risk_off: vec![RiskOffHeadline {
            provider_id: "finnhub".into(),
            headline_id: 42,
            headline: "Stocks crash as war fears spread".into(),
            source: "Reuters".into(),
            published_at: now - Duration::minutes(10),
        }],
        unavailable: None,
        refreshed_at: Some(now),
    };
    let mut c = ctx(&f);
    c.filters = FilterReadings {
        filters: &filters,
        data: &data,
        news: &risk_off,
    };
    let r = evaluate_gates(&c);
    assert_eq!(gates(&r), vec![Gate::NewsGate]);
    assert_eq!(r.blockers[0].code, ErrorCode::NewsRiskOff);
    assert!(
        r.blockers[0]
            .reason_human
            .contains("\"Stocks crash as war fears spread\" (Reuters")
    );
    // Exits and reductions pass.
    c.position = 4;
    for quantity in [4, 2] {
        c.order = Some(ProposedOrder {
            side: Side::Sell,
            quantity,
            price: dec!(5000),
        });
        assert!(evaluate_gates(&c).allowed, "reduce by {quantity}");
    }
    // Unavailable (the LLM down mid-run): entries blocked with the gate's own code, exits not.
    let down = NewsSnapshot {
        unavailable: Some("headline classification is failing".into()),
        ..NewsSnapshot::default()
    };
    c.filters.news = &down;
    assert!(evaluate_gates(&c).allowed, "an exit passes a closed gate");
    c.position = 0;
    c.order = Some(ProposedOrder {
        side: Side::Buy,
        quantity: 1,
        price: dec!(5000),
    });
    let r = evaluate_gates(&c);
    assert_eq!(gates(&r), vec![Gate::NewsGate]);
    assert_eq!(r.blockers[0].code, ErrorCode::NewsGateUnavailable);
    // A bot without the gate ignores both.
    c.filters = FilterReadings {
        news: &down,
        ..FilterReadings::none()
    };
    assert!(evaluate_gates(&c).allowed);
}

#[test]
fn the_account_gate_runs_for_live_orders_only() {
    use crate::domain::account_risk::{AccountLatch, AccountRiskView};
    let f = fixture();
    let view = AccountRiskView {
        broker: "ironbeam".into(),
        account: "ACC-1".into(),
        limits: None,
        reading: None,
        latch: Some(AccountLatch {
            latched_at: open_now(),
            reason: "test".into(),
            daily_pnl: dec!(-5000),
            daily_loss_limit: dec!(1000),
        }),
    };
    let mut c = ctx(&f);
    c.account_risk = Some(&view);
    assert!(!gates(&evaluate_gates(&c)).contains(&Gate::AccountRisk));
    c.stage = Stage::Live;
    c.is_trading_enabled = true;
    let r = evaluate_gates(&c);
    let b = r
        .blockers
        .iter()
        .find(|b| b.gate == Gate::AccountRisk)
        .expect("the account gate blocks a LIVE entry");
    assert_eq!(b.code, ErrorCode::AccountDailyLossLatched);
}
