use super::*;
use crate::domain::bars::test_support::bars_from_closes;
use crate::domain::instruments::Symbol;
use crate::domain::positions::Position;
use crate::domain::strategy_config::{CrossoverParams, MovingAverage};
use chrono::Duration;
use rust_decimal_macros::dec;

fn spec() -> BacktestSpec {
    BacktestSpec {
        bot_id: Uuid::from_u128(1),
        strategy: StrategyConfig::SmaCrossover(CrossoverParams {
            fast: 2,
            slow: 4,
            average: MovingAverage::Sma,
        }),
        filters: Default::default(),
        filter_data: Default::default(),
        news: Default::default(),
        instrument: Symbol::Es.spec(),
        timeframe: Timeframe::M1,
        limits: RiskLimits {
            max_order_size: 1,
            max_position: 1,
            daily_loss_limit: dec!(100000),
            max_drawdown: dec!(100000),
            max_orders_per_minute: 10,
            price_collar_ticks: 40,
            max_data_age_seconds: 125,
        },
        fill: FillModel {
            slippage_ticks: 1,
            commission_per_contract: dec!(2.25),
        },
        starting_capital: dec!(100000),
        calendar: Arc::new(HolidayCalendar::cme_equity_fixture()),
        tier: AutonomyTier::FullAutonomy,
        evaluate_from: None,
    }
}

/// Up, down, up: long, then short (one exit, one entry: the size limit forbids a flip in one
/// order), then long again.
fn wave() -> Vec<Bar> {
    let closes: Vec<i64> = [5000; 5]
        .into_iter()
        .chain([5001, 5002, 5003, 5004, 5005])
        .chain([5004, 5002, 5000, 4998, 4996, 4994])
        .chain([4996, 4999, 5002, 5005, 5008])
        .collect();
    bars_from_closes(&closes.into_iter().map(Decimal::from).collect::<Vec<_>>())
}

#[test]
fn the_same_spec_and_bars_give_the_same_run() {
    let bars = wave();
    let a = run(&spec(), &bars, &mut |_| {});
    let b = run(&spec(), &bars, &mut |_| {});
    assert_eq!(a, b);
    assert!(a.fills > 2, "{a:?}");
}

#[test]
fn every_order_fills_at_the_next_open_against_it_and_trades_add_up() {
    let bars = wave();
    let mut seen = Vec::new();
    let r = run(&spec(), &bars, &mut |n| seen.push(n));
    assert_eq!(seen.last(), Some(&bars.len()));
    assert_eq!(r.bars_processed, bars.len());
    // One evaluation per bar: a decision or a counted no-trade.
    let suppressed: u64 = r.no_trades_by_code.values().sum();
    assert_eq!(r.decisions + suppressed, bars.len() as u64);
    assert_eq!(r.no_trades_by_code.get("INSUFFICIENT_HISTORY"), Some(&4));
    for o in &r.order_log {
        let fill = o.fill.as_ref().expect("every order in session fills");
        let next = bars
            .iter()
            .find(|b| b.ts_open == o.decision_bar_at + Duration::minutes(1))
            .unwrap();
        let slip = dec!(0.25) * Decimal::from(o.side.sign());
        assert_eq!(fill.price, next.open + slip);
        assert_eq!(fill.filled_at, next.ts_open);
        assert_eq!(fill.commission, dec!(2.25));
    }
    // Trades: each round trip is two fills; the net PnL of the closed trades plus the open
    // position equals the run's.
    assert!(!r.trades.is_empty());
    let first = &r.trades[0];
    assert_eq!(first.side, crate::domain::side::TradeSide::Long);
    assert_eq!(
        first.gross_pnl,
        (first.exit_price - first.entry_price) * dec!(50)
    );
    assert_eq!(first.commission, dec!(4.50));
    assert_eq!(first.net_pnl, first.gross_pnl - dec!(4.50));
    let closed: Decimal = r.trades.iter().map(|t| t.net_pnl).sum();
    let last_close = bars.last().unwrap().close;
    let mut position = Position::flat(Symbol::Es);
    for f in r.order_log.iter().filter_map(|o| o.fill.as_ref()) {
        position.apply_fill(f.side, f.quantity, f.price, f.commission);
    }
    assert_eq!(r.net_pnl, position.total_pnl(last_close));
    let open_part = position.unrealized(last_close)
        - if position.quantity != 0 {
            dec!(2.25) // the open trade's entry commission
        } else {
            dec!(0)
        };
    assert_eq!(closed + open_part, r.net_pnl);
    assert_eq!(r.equity.last().unwrap().equity, dec!(100000) + r.net_pnl);
}

#[test]
fn a_kill_trigger_stops_the_run() {
    let mut s = spec();
    s.limits.daily_loss_limit = dec!(1);
    s.limits.max_drawdown = dec!(1);
    let bars = wave();
    let r = run(&s, &bars, &mut |_| {});
    let killed = r.killed.as_ref().expect("a $1 limit is breached");
    assert!(r.bars_processed < bars.len());
    assert_eq!(r.equity.last().unwrap().ts, killed.at);
}

#[test]
fn warm_up_bars_are_fed_but_not_evaluated() {
    let bars = wave();
    let mut s = spec();
    // The first 5 bars only warm up: the first evaluation already has its full history.
    s.evaluate_from = Some(bars[5].ts_open);
    let r = run(&s, &bars, &mut |_| {});
    assert_eq!(r.bars_processed, bars.len());
    assert_eq!(r.equity.len(), bars.len() - 4);
    assert_eq!(r.no_trades_by_code.get("INSUFFICIENT_HISTORY"), None);
    let suppressed: u64 = r.no_trades_by_code.values().sum();
    assert_eq!(r.decisions + suppressed, r.equity.len() as u64);
}

#[test]
fn a_stopped_run_has_no_result_and_an_unstopped_one_is_the_plain_run() {
    let bars = wave();
    let mut calls = 0;
    let stopped = run_until(&spec(), &bars, &mut |_| {
        calls += 1;
        ControlFlow::Break(())
    });
    assert_eq!(stopped, None);
    assert_eq!(calls, 1, "the first report stops it");
    let whole = run_until(&spec(), &bars, &mut |_| ControlFlow::Continue(()));
    assert_eq!(whole, Some(run(&spec(), &bars, &mut |_| {})));
}

#[test]
fn the_news_gate_replays_risk_off_headlines_in_time_order() {
    use crate::domain::news::{NewsGateFilter, NewsSnapshot, RiskOffHeadline};
    let bars = wave();
    let base = run(&spec(), &bars, &mut |_| {});
    let first_entry = base.trades[0].entry_ts;
    let headline = |at: DateTime<Utc>| RiskOffHeadline {
        provider_id: "finnhub".into(),
        headline_id: 1,
        headline: "Markets tumble".into(),
        source: "test".into(),
        published_at: at,
    };
    let gated = |published: DateTime<Utc>| {
        let mut s = spec();
        s.filters.news_gate = Some(NewsGateFilter { window_minutes: 4 });
        s.news = Arc::new(NewsSnapshot::new(vec![headline(published)], None, None));
        run(&s, &bars, &mut |_| {})
    };
    // Published two minutes before the first entry's fill: no entry for 4 min after it (an
    // entry fills at the boundary it was decided at, so none fills inside the window).
    let published = first_entry - Duration::minutes(2);
    let r = gated(published);
    assert!(
        r.no_trades_by_code
            .get("NEWS_RISK_OFF")
            .copied()
            .unwrap_or(0)
            >= 1,
        "{r:?}"
    );
    assert!(
        r.trades
            .iter()
            .all(|t| t.entry_ts < published || t.entry_ts >= published + Duration::minutes(4)),
        "{:?}",
        r.trades
    );
    // The run still trades outside the window.
    assert!(
        r.trades
            .iter()
            .any(|t| t.entry_ts >= published + Duration::minutes(4))
    );
    assert_ne!(r.trades, base.trades);
    // A headline from after the range is never seen: the run is the ungated one.
    let late = gated(bars.last().unwrap().ts_open + Duration::minutes(5));
    assert_eq!(late.trades, base.trades);
    assert_eq!(late.no_trades_by_code.get("NEWS_RISK_OFF"), None);
}
