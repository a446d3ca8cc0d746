use super::*;
use crate::domain::bars::test_support::bars_from_closes;
use crate::domain::contracts::Contract;
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
        roll_warmups: Default::default(),
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

/// A zig-zag of `n` closes (period 24 bars), so a fast/slow crossover keeps trading.
fn zigzag(n: usize) -> Vec<Bar> {
    let closes: Vec<Decimal> = (0..n)
        .map(|i| {
            let phase = (i % 24) as i64;
            Decimal::from(5000 + if phase < 12 { phase } else { 24 - phase })
        })
        .collect();
    bars_from_closes(&closes)
}

#[test]
fn an_out_of_sample_window_warms_up_on_the_bars_before_it() {
    let bars = zigzag(240);
    let tf = Timeframe::M1;
    let (from, to) = (bars[0].ts_open, bars[239].ts_open + Duration::minutes(1));
    let wf = walk_forward::WalkForward {
        folds: 3,
        out_of_sample_pct: 25,
    };
    let strategy = spec().strategy;
    let min_bars = i64::from(strategy.warmup_bars()) + 1;
    let folds = walk_forward::splits(&wf, tf, from, to, min_bars).unwrap();
    assert_eq!(folds.len(), 3);
    for f in &folds {
        let w = window_run(&bars, f.is_to, f.oos_to, tf, &strategy);
        // The window is exactly the out-of-sample bars; its warm-up lies before it, inside
        // this fold's own in-sample part.
        assert_eq!(bars[w.lo].ts_open, f.is_to, "fold {}", f.index);
        assert_eq!(w.end, bars.partition_point(|b| b.ts_open < f.oos_to));
        assert_eq!(w.lo - w.start, strategy.warmup_bars() as usize + 2);
        assert!(bars[w.start].ts_open >= f.is_from && bars[w.lo - 1].ts_open < f.is_to);
        let mut s = spec();
        s.evaluate_from = w.evaluate_from;
        let warmed = run(&s, &bars[w.start..w.end], &mut |_| {});
        // Every window bar is evaluated, none short of history, nothing before the window.
        assert_eq!(warmed.no_trades_by_code.get("INSUFFICIENT_HISTORY"), None);
        assert_eq!(warmed.equity.len(), w.end - w.lo);
        assert_eq!(warmed.equity[0].ts, f.is_to + Duration::minutes(1));
        assert!(
            warmed
                .order_log
                .iter()
                .all(|o| o.decision_bar_at >= f.is_to)
        );
        assert!(warmed.orders > 0);
        // Alone, the window spends its first bars warming up.
        let alone = run(&spec(), &bars[w.lo..w.end], &mut |_| {});
        assert_eq!(alone.equity.len(), warmed.equity.len());
        assert_eq!(
            alone.no_trades_by_code.get("INSUFFICIENT_HISTORY"),
            Some(&4)
        );
    }
    // The first in-sample window has no bar before it: it warms up on its own first bars.
    let first = window_run(&bars, folds[0].is_from, folds[0].is_to, tf, &strategy);
    assert_eq!((first.start, first.lo, first.evaluate_from), (0, 0, None));
}

#[test]
fn codes_only_traces_change_no_order_fill_or_count() {
    // The backtester asks the engine for codes only; the runner's full traces must lead to the
    // very same run.
    let bars = zigzag(300);
    let summarised = run(&spec(), &bars, &mut |_| {});
    let settings = Settings {
        bot_id: spec().bot_id,
        spec: spec().instrument,
        timeframe: Timeframe::M1,
        stage: Stage::Paper,
        config: spec().strategy,
        filters: Default::default(),
        limits: spec().limits,
        is_trading_enabled: false,
        sim: SimParams::from(&spec().fill),
    };
    let mut full = Engine::new(settings, spec().calendar);
    let mut codes = Vec::new();
    let mut reasons = 0;
    let mut orders = Vec::new();
    for (i, bar) in bars.iter().enumerate() {
        for effect in full.handle(Event::front_bar(Symbol::Es, bar.clone())) {
            if let Effect::Fill { fill, .. } = effect {
                full.handle(Event::Fill(fill));
            }
        }
        for effect in full.handle(Event::Clock(Tick {
            now: bar.ts_open + Duration::minutes(1),
            tier: AutonomyTier::FullAutonomy,
            trading_switch_on: true,
            kill_switch_active: false,
            breaker_open: false,
            reconciliation_clean: true,
            broker_ready: false,
        })) {
            match effect {
                Effect::Decision(d) => {
                    assert!(!d.reason_human.is_empty());
                    orders.push((d.order.side, d.order.quantity, d.order.bar_ts));
                    let w = WorkingOrder {
                        id: order_id(i),
                        side: d.order.side,
                        quantity: d.order.quantity,
                        decision_bar_at: Some(d.order.bar_ts),
                        reference_price: Some(d.order.reference_price),
                        idempotency_key: d.order.idempotency_key.clone(),
                    };
                    full.handle(Event::OrderUpdate(OrderUpdate::Placed { working: Some(w) }));
                }
                Effect::NoTrade { no_trade, .. } => {
                    reasons += usize::from(!no_trade.reason_human.is_empty());
                    codes.push(no_trade.reason_code);
                }
                _ => {}
            }
        }
    }
    // Full traces explain every suppression.
    assert_eq!(reasons, codes.len());
    let mut by_code = BTreeMap::new();
    for c in codes {
        *by_code.entry(c.into_owned()).or_insert(0u64) += 1;
    }
    assert_eq!(by_code, summarised.no_trades_by_code);
    let placed: Vec<_> = summarised
        .order_log
        .iter()
        .map(|o| (o.side, o.quantity, o.decision_bar_at))
        .collect();
    assert_eq!(orders, placed);
    assert!(placed.len() > 10);
    assert_eq!(
        full.position().total_pnl(bars[299].close),
        summarised.net_pnl
    );
}

/// Minute bars from `start` with the given closes (open = previous close).
fn minute_bars(start: DateTime<Utc>, closes: &[i64]) -> Vec<Bar> {
    let mut prev = Decimal::from(closes[0]);
    closes
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let c = Decimal::from(c);
            let bar = Bar {
                ts_open: start + Duration::minutes(i as i64),
                open: prev,
                high: prev.max(c),
                low: prev.min(c),
                close: c,
                volume: 100,
            };
            prev = c;
            bar
        })
        .collect()
}

/// ES Dec 2026 → Mar 2027 (`domain::contracts`): the roll, the old contract's bars of the
/// afternoon before it (14:00 CT) and the new contract's first bars from the roll (17:00 CT).
fn es_roll() -> (Contract, Contract, DateTime<Utc>) {
    let old = Contract::new(Symbol::Es, 2026, crate::domain::contracts::ContractMonth::Z);
    let rolls_at = old.rolls_at();
    assert_eq!(Contract::front_at(Symbol::Es, rolls_at), old.next());
    assert_eq!(
        Contract::front_at(Symbol::Es, rolls_at - Duration::minutes(1)),
        old
    );
    (old, old.next(), rolls_at)
}

fn with_warmups(warmups: Vec<(Contract, Vec<Bar>)>) -> BacktestSpec {
    BacktestSpec {
        roll_warmups: Arc::new(warmups.into_iter().collect()),
        ..spec()
    }
}

#[test]
fn at_a_roll_the_window_is_the_new_contracts_and_the_price_gap_is_no_signal() {
    let (_, new, rolls_at) = es_roll();
    let afternoon = rolls_at - Duration::hours(3);
    // The old contract flat at 5000, the new one (in contango) flat at 5050, then a real rise.
    let mut bars = minute_bars(afternoon, &[5000; 10]);
    let after: Vec<i64> = [5050; 8]
        .into_iter()
        .chain([5051, 5053, 5055, 5057])
        .collect();
    bars.extend(minute_bars(rolls_at, &after));
    let warmup = minute_bars(afternoon, &[5050; 10]);
    let r = run(&with_warmups(vec![(new, warmup)]), &bars, &mut |_| {});
    // Only the rise on the new contract's own prices decides; the 50-point gap between the
    // contracts (a spliced window's fast average jumping over the slow one) never does.
    assert_eq!(r.order_log.len(), 1, "{:?}", r.order_log);
    let o = &r.order_log[0];
    assert_eq!(o.side, Side::Buy);
    assert!(
        o.decision_bar_at >= rolls_at + Duration::minutes(8),
        "{o:?}"
    );
    // The new window was warmed up on the new contract's bars before the roll: only the run's
    // first bars lack history.
    assert_eq!(r.no_trades_by_code.get("INSUFFICIENT_HISTORY"), Some(&4));
    assert_eq!(r.bars_processed, bars.len());

    // Without warm-up bars the new window warms up on its own first bars: still no signal
    // from the gap, a few more evaluations without history.
    let cold = run(&spec(), &bars, &mut |_| {});
    assert_eq!(cold.order_log.len(), 1, "{:?}", cold.order_log);
    assert!(cold.order_log[0].decision_bar_at >= rolls_at + Duration::minutes(8));
    assert_eq!(cold.no_trades_by_code.get("INSUFFICIENT_HISTORY"), Some(&8));
}

#[test]
fn a_position_held_at_the_roll_is_closed_at_the_old_contracts_last_close() {
    let (old, new, rolls_at) = es_roll();
    let afternoon = rolls_at - Duration::hours(3);
    let before: Vec<i64> = [5000; 5].into_iter().chain(5001..=5010).collect();
    let mut bars = minute_bars(afternoon, &before);
    let last = bars.last().unwrap().clone();
    bars.extend(minute_bars(rolls_at, &[5060; 10]));
    let warmup = minute_bars(afternoon, &[5060; 10]);
    let r = run(&with_warmups(vec![(new, warmup)]), &bars, &mut |_| {});
    assert_eq!(r.order_log.len(), 2, "{:?}", r.order_log);
    let (entry, roll) = (&r.order_log[0], &r.order_log[1]);
    assert_eq!(entry.side, Side::Buy);
    assert!(entry.decision_bar_at < rolls_at);
    assert_eq!(roll.side, Side::Sell);
    // The engine's roll exit (the live runners' step too) at the first evaluation on the new
    // contract, decided on the old contract's last bar.
    let first_evaluation = rolls_at + Duration::minutes(1);
    assert_eq!(
        roll.idempotency_key,
        crate::domain::execution::roll_exit_key(spec().bot_id, old, first_evaluation, Side::Sell)
    );
    assert_eq!(roll.decision_bar_at, last.ts_open);
    assert_eq!(roll.reference_price, last.close);
    let fill = roll.fill.as_ref().expect("the roll's close fills");
    // The old contract's last close, one tick of slippage against the sell.
    assert_eq!(fill.price, last.close - dec!(0.25));
    assert_eq!(fill.filled_at, first_evaluation);
    assert_eq!(fill.commission, dec!(2.25));
    assert_eq!(r.decisions, 2);
    // One round trip, closed on the old contract; flat on the new one (no re-entry: its
    // prices are flat), so the equity holds no mark of the old position at new prices.
    assert_eq!(r.trades.len(), 1);
    assert_eq!(r.trades[0].exit_price, fill.price);
    assert_eq!(r.fills, 2);
    let realized = r.trades[0].net_pnl;
    assert_eq!(r.net_pnl, realized);
    assert_eq!(
        r.equity.last().map(|p| p.equity),
        Some(spec().starting_capital + realized)
    );
}
