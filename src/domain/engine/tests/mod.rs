//! The engine per semantic area: fill at the next open, an invalid strategy, expiry of a
//! working order, the 17:00 CT day roll, the equity peak, the order-rate window, no-trade
//! folding, the SHADOW book and what a code-counting driver sees; the contract roll in
//! [`roll`].

use super::book::{Book, Folding};
use super::*;
use crate::domain::bars::test_support::bars_from_closes;
use crate::domain::evaluation::{Decision, DecisionType};
use crate::domain::execution::SimParams;
use crate::domain::instruments::Symbol;
use crate::domain::risk::{AutonomyTier, RiskLimits};
use crate::domain::side::Side;
use crate::domain::strategy_config::{CrossoverParams, MovingAverage, StrategyConfig};
use crate::domain::timeframe::Timeframe;
use chrono::{Duration, TimeZone};
use rust_decimal_macros::dec;
use uuid::Uuid;

mod roll;

fn settings() -> Settings {
    Settings {
        bot_id: Uuid::from_u128(7),
        spec: Symbol::Es.spec(),
        timeframe: Timeframe::M1,
        stage: Stage::Paper,
        config: StrategyConfig::SmaCrossover(CrossoverParams {
            fast: 2,
            slow: 4,
            average: MovingAverage::Sma,
        }),
        filters: Default::default(),
        limits: RiskLimits {
            max_order_size: 1,
            max_position: 1,
            daily_loss_limit: dec!(1000),
            max_drawdown: dec!(3000),
            max_orders_per_minute: 10,
            price_collar_ticks: 20,
            max_data_age_seconds: 125,
        },
        is_trading_enabled: false,
        sim: SimParams {
            slippage_ticks: 1,
            commission_per_contract: dec!(2.25),
        },
    }
}

fn engine() -> Engine {
    Engine::new(settings(), Arc::new(HolidayCalendar::cme_equity_fixture()))
}

fn tick(now: DateTime<Utc>) -> Event {
    Event::Clock(Tick {
        now,
        tier: AutonomyTier::FullAutonomy,
        trading_switch_on: true,
        kill_switch_active: false,
        breaker_open: false,
        reconciliation_clean: true,
        broker_ready: false,
    })
}

fn closes(c: &[i64]) -> Vec<Bar> {
    bars_from_closes(&c.iter().map(|&c| Decimal::from(c)).collect::<Vec<_>>())
}

/// Feeds `bar` and evaluates its boundary; returns the clock's effects.
fn step(e: &mut Engine, bar: &Bar) -> (Vec<Effect>, Vec<Effect>) {
    let on_bar = e.handle(Event::front_bar(Symbol::Es, bar.clone()));
    let on_clock = e.handle(tick(bar.ts_open + Duration::minutes(1)));
    (on_bar, on_clock)
}

fn place(e: &mut Engine, d: &Decision, id: u128) -> Vec<Effect> {
    let working = WorkingOrder {
        id: Uuid::from_u128(id),
        side: d.order.side,
        quantity: d.order.quantity,
        decision_bar_at: Some(d.order.bar_ts),
        reference_price: Some(d.order.reference_price),
        idempotency_key: d.order.idempotency_key.clone(),
    };
    e.handle(Event::OrderUpdate(OrderUpdate::Placed {
        working: Some(working),
    }))
}

#[test]
fn a_decision_fills_at_the_next_open_with_slippage_once_reported_back() {
    let mut e = engine();
    let bars = closes(&[5000, 5000, 5000, 5000, 5001, 5003, 5004]);
    let (last, history) = bars.split_last().unwrap();
    let mut decision = None;
    for b in history {
        let (_, fx) = step(&mut e, b);
        if let [Effect::Decision(d)] = fx.as_slice() {
            decision = Some(d.clone());
            break;
        }
    }
    let d = decision.expect("rising closes decide");
    assert_eq!(d.order.side, Side::Buy);
    assert!(place(&mut e, &d, 1).is_empty());
    assert_eq!(e.working().map(|w| w.id), Some(Uuid::from_u128(1)));
    // The next bar: a fill at its open + 1 tick, applied only when reported back.
    let next = bars
        .iter()
        .find(|b| b.ts_open == d.order.bar_ts + Duration::minutes(1))
        .unwrap_or(last);
    let fx = e.handle(Event::front_bar(Symbol::Es, next.clone()));
    let [Effect::Fill { order_id, fill }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(*order_id, Uuid::from_u128(1));
    assert_eq!(fill.price, next.open + dec!(0.25));
    assert_eq!(fill.commission, dec!(2.25));
    assert!(e.working().is_none());
    assert_eq!(e.position().quantity, 0);
    e.handle(Event::Fill(fill.clone()));
    assert_eq!(e.position().quantity, 1);
    assert_eq!(e.position().avg_price, fill.price);
}

#[test]
fn an_invalid_strategy_is_a_strategy_error_on_every_bar_until_settings_fix_it() {
    let mut invalid = settings();
    invalid.config = StrategyConfig::SmaCrossover(CrossoverParams {
        fast: 4,
        slow: 4,
        average: MovingAverage::Sma,
    });
    let mut e = Engine::new(invalid, Arc::new(HolidayCalendar::cme_equity_fixture()));
    let bars = closes(&[5000, 5000, 5000, 5000, 5001, 5003, 5004, 5006]);
    let (first, rest) = bars.split_at(6);
    for b in first {
        let (_, fx) = step(&mut e, b);
        let [Effect::NoTrade { no_trade, .. }] = fx.as_slice() else {
            panic!("{fx:?}")
        };
        assert_eq!(no_trade.suppression_type, "STRATEGY_ERROR");
        assert!(
            no_trade
                .reason_human
                .contains("fast: must be smaller than `slow`"),
            "{}",
            no_trade.reason_human
        );
    }
    // Valid settings are checked when they are set: the rising closes now decide.
    e.set_settings(settings());
    let decided = rest
        .iter()
        .any(|b| matches!(step(&mut e, b).1.as_slice(), [Effect::Decision(_)]));
    assert!(decided);
}

#[test]
fn a_working_order_whose_fill_bar_never_comes_is_cancelled() {
    let mut e = engine();
    let bars = closes(&[5000, 5000, 5000, 5000, 5001, 5003]);
    let mut d = None;
    for b in &bars {
        if let (_, fx) = step(&mut e, b)
            && let [Effect::Decision(x)] = fx.as_slice()
        {
            d = Some(x.clone());
        }
    }
    let d = d.expect("decided on the last bar");
    place(&mut e, &d, 9);
    // No bar arrives; two bar lengths after the fill bar the order is dropped.
    let fill_bar = d.order.bar_ts + Duration::minutes(1);
    let fx = e.handle(tick(fill_bar + Duration::minutes(2)));
    assert!(
        fx.iter().all(|f| !matches!(f, Effect::Cancel { .. })),
        "{fx:?}"
    );
    let fx = e.handle(tick(fill_bar + Duration::minutes(3)));
    assert!(
        matches!(fx.first(), Some(Effect::Cancel { order_id, .. }) if *order_id == Uuid::from_u128(9)),
        "{fx:?}"
    );
    assert!(e.working().is_none());
}

#[test]
fn the_trading_day_rolls_at_17_00_chicago() {
    let mut position = Position::flat(Symbol::Es);
    position.apply_fill(Side::Buy, 1, dec!(5000), dec!(0));
    position.apply_fill(Side::Sell, 1, dec!(5010), dec!(0)); // +500 realized
    // Tue 2026-11-24 16:59 CT (CST = UTC−6) is still Tuesday's trade date …
    let before = Utc.with_ymd_and_hms(2026, 11, 24, 22, 59, 0).unwrap();
    let mut book = Book::replay(&mut Position::flat(Symbol::Es), [], before);
    book.booked(&position);
    assert_eq!(book.mark(&position, dec!(0), before).daily_pnl, dec!(500));
    // … 17:00 CT starts Wednesday's: the baseline rolls to the realized PnL so far.
    let after = Utc.with_ymd_and_hms(2026, 11, 24, 23, 0, 0).unwrap();
    let m = book.mark(&position, dec!(-50), after);
    assert_eq!(m.daily_pnl, dec!(-50));
    assert_eq!(m.equity, dec!(450));
    // Replayed from the ledger: fills before today's trade date form the baseline.
    let fill = |side, price, at| LedgerFill {
        side,
        quantity: 1,
        price,
        commission: dec!(1),
        filled_at: at,
        decided_at: at,
    };
    let mut replayed = Position::flat(Symbol::Es);
    let mut book = Book::replay(
        &mut replayed,
        [
            fill(Side::Buy, dec!(5000), before - Duration::hours(1)),
            fill(Side::Sell, dec!(5010), before),
            fill(Side::Buy, dec!(5010), after),
            fill(Side::Sell, dec!(5000), after + Duration::minutes(1)),
        ],
        after + Duration::minutes(2),
    );
    // Tuesday: +500 − 2; Wednesday so far: −500 − 2.
    assert_eq!(replayed.net_realized(), dec!(-4));
    let m = book.mark(&replayed, dec!(0), after + Duration::minutes(2));
    assert_eq!(m.daily_pnl, dec!(-502));
}

#[test]
fn the_equity_peak_holds_through_a_drawdown() {
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 16, 0, 0).unwrap();
    let mut position = Position::flat(Symbol::Es);
    position.apply_fill(Side::Buy, 1, dec!(5000), dec!(0));
    let mut book = Book::replay(&mut Position::flat(Symbol::Es), [], now);
    book.booked(&position);
    let up = book.mark(&position, position.unrealized(dec!(5020)), now);
    assert_eq!((up.equity, up.peak_equity), (dec!(1000), dec!(1000)));
    let down = book.mark(&position, position.unrealized(dec!(4990)), now);
    assert_eq!((down.equity, down.peak_equity), (dec!(-500), dec!(1000)));
    // From the ledger: equity marked at each fill.
    let mut replayed = Position::flat(Symbol::Es);
    let fill = |side, price| LedgerFill {
        side,
        quantity: 1,
        price,
        commission: dec!(0),
        filled_at: now,
        decided_at: now,
    };
    let mut book = Book::replay(
        &mut replayed,
        [
            fill(Side::Buy, dec!(5000)),
            fill(Side::Sell, dec!(5030)),
            fill(Side::Buy, dec!(5030)),
            fill(Side::Sell, dec!(5000)),
        ],
        now,
    );
    assert_eq!(book.mark(&replayed, dec!(0), now).peak_equity, dec!(1500));
}

#[test]
fn the_order_rate_window_keeps_one_trailing_minute() {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 16, 0, 0).unwrap();
    let flat = Position::flat(Symbol::Es);
    let mut book = Book::replay(&mut Position::flat(Symbol::Es), [], t0);
    book.order_times
        .extend([t0, t0 + Duration::seconds(30), t0 + Duration::seconds(59)]);
    let count = |b: &mut Book, s| {
        b.mark(&flat, dec!(0), t0 + Duration::seconds(s))
            .orders_last_minute
    };
    assert_eq!(count(&mut book, 59), 3);
    assert_eq!(count(&mut book, 60), 2, "exactly 60 s old is out");
    assert_eq!(count(&mut book, 119), 0);
    // Through the engine: a placed order counts at the boundary it was decided on.
    let mut e = engine();
    let bars = closes(&[5000, 5000, 5000, 5000, 5001]);
    for b in &bars {
        step(&mut e, b);
    }
    e.handle(Event::OrderUpdate(OrderUpdate::Placed { working: None }));
    assert_eq!(e.book.order_times.len(), 1);
}

#[test]
fn identical_suppressions_fold_until_a_decision() {
    let mut f = Folding::default();
    let key = |k: &'static str| move |out: &mut String| out.push_str(k);
    assert!(!f.fold_key(key("NO_SIGNAL|NONE|NO_SIGNAL")));
    assert!(f.fold_key(key("NO_SIGNAL|NONE|NO_SIGNAL")));
    assert!(!f.fold_key(key("GATE_BLOCKED|ENTRY|MARKET_CLOSED")));
    assert!(f.fold_key(key("GATE_BLOCKED|ENTRY|MARKET_CLOSED")));
    assert!(!f.fold_key(key("NO_SIGNAL|NONE|NO_SIGNAL")));
    // Through the engine: flat closes never signal past warm-up → one row, then folds.
    let mut e = engine();
    let flat = closes(&[5000; 12]);
    let folded: Vec<bool> = flat
        .iter()
        .map(|b| match step(&mut e, b).1.as_slice() {
            [Effect::NoTrade { folded, .. }] => *folded,
            other => panic!("{other:?}"),
        })
        .collect();
    // Insufficient history (5 bars), then NO_SIGNAL: two rows, the rest folds.
    assert_eq!(folded.iter().filter(|f| !**f).count(), 2, "{folded:?}");
    // A placed decision ends the fold: the next identical suppression is a new row.
    e.handle(Event::OrderUpdate(OrderUpdate::Placed { working: None }));
    let next = Bar {
        ts_open: flat.last().unwrap().ts_open + Duration::minutes(1),
        ..flat[0].clone()
    };
    assert!(matches!(
        step(&mut e, &next).1.as_slice(),
        [Effect::NoTrade { folded: false, .. }]
    ));
}

/// Drives `e` over `bars` as a runner does: a decision is placed (working while its execution
/// awaits the next bar), a fill is booked and reported back. Returns the decisions' types and
/// sides in order, and the position at the end.
fn drive(e: &mut Engine, bars: &[Bar]) -> (Vec<(DecisionType, Side)>, i64) {
    let mut decisions = Vec::new();
    let mut next_id = 100u128;
    let mut queue: std::collections::VecDeque<Effect> = Default::default();
    let events = bars.iter().flat_map(|b| {
        [
            Event::front_bar(Symbol::Es, b.clone()),
            tick(b.ts_open + Duration::minutes(1)),
        ]
    });
    for event in events {
        // A bar's fill is booked and reported back before the boundary is evaluated.
        queue.extend(e.handle(event));
        while let Some(fx) = queue.pop_front() {
            match fx {
                Effect::Decision(d) => {
                    decisions.push((d.decision_type, d.order.side));
                    next_id += 1;
                    let working =
                        (d.execution == ExecutionOutcome::AwaitingNextBar).then(|| WorkingOrder {
                            id: Uuid::from_u128(next_id),
                            side: d.order.side,
                            quantity: d.order.quantity,
                            decision_bar_at: Some(d.order.bar_ts),
                            reference_price: Some(d.order.reference_price),
                            idempotency_key: d.order.idempotency_key.clone(),
                        });
                    queue.extend(e.handle(Event::OrderUpdate(OrderUpdate::Placed { working })));
                }
                Effect::Fill { fill, .. } => {
                    queue.extend(e.handle(Event::Fill(fill)));
                }
                _ => {}
            }
        }
    }
    (decisions, e.position().quantity)
}

#[test]
fn a_shadow_bot_books_hypothetical_fills_so_a_held_signal_enters_once_and_exits_once() {
    // Up, a long hold (the signal stays long for many bars), then down.
    let mut c: Vec<i64> = vec![5000, 5000, 5000, 5000];
    c.extend((1..=12).map(|i| 5000 + i));
    c.extend((1..=8).map(|i| 5012 - 2 * i));
    let bars = closes(&c);
    let run = |stage| {
        let mut s = settings();
        s.stage = stage;
        let mut e = Engine::new(s, Arc::new(HolidayCalendar::cme_equity_fixture()));
        drive(&mut e, &bars)
    };
    let (shadow, shadow_position) = run(Stage::Shadow);
    let (paper, paper_position) = run(Stage::Paper);
    // One engine: SHADOW decides exactly as PAPER does, from its own hypothetical book.
    assert_eq!(shadow, paper);
    assert_eq!(shadow_position, paper_position);
    let entries_before_exit = shadow
        .iter()
        .take_while(|(k, _)| *k != DecisionType::Exit)
        .filter(|(k, _)| *k == DecisionType::Entry)
        .count();
    assert_eq!(entries_before_exit, 1, "{shadow:?}");
    assert_eq!(
        shadow[..2],
        [
            (DecisionType::Entry, Side::Buy),
            (DecisionType::Exit, Side::Sell)
        ],
        "{shadow:?}"
    );
}

/// What a driver learns from one step's effects: decisions by key, no-trades by type and
/// code, kills by reason (the same for `Full` and `Codes`).
fn outcomes(e: &mut Engine, effects: Vec<Effect>, id: &mut u128) -> Vec<String> {
    let mut seen = Vec::new();
    let mut queue: std::collections::VecDeque<Effect> = effects.into();
    while let Some(effect) = queue.pop_front() {
        match effect {
            Effect::Decision(d) => {
                seen.push(format!("decision {}", d.order.idempotency_key));
                *id += 1;
                queue.extend(place(e, &d, *id));
            }
            Effect::NoTrade { no_trade, .. } => seen.push(format!(
                "no-trade {} {}",
                no_trade.suppression_type, no_trade.reason_code
            )),
            Effect::NoTradeCode {
                suppression_type,
                reason_code,
            } => seen.push(format!("no-trade {suppression_type} {reason_code}")),
            Effect::Fill { fill, .. } => {
                seen.push(format!("fill {} {}", fill.side.as_str(), fill.price));
                queue.extend(e.handle(Event::Fill(fill)));
            }
            Effect::Cancel { order_id, .. } => seen.push(format!("cancel {order_id}")),
            Effect::Kill(k) => seen.push(format!(
                "kill {}",
                k.iter()
                    .map(|k| k.reason_human.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
        }
    }
    seen
}

#[test]
fn a_driver_counting_codes_gets_the_codes_kills_and_orders_a_full_driver_gets() {
    // A saw-tooth that crosses often and loses: decisions, fills, no signals, the history
    // warming up, stale data (a late tick), the 16:00 CT maintenance break and a daily-loss
    // kill (limit 600 USD) all occur.
    let mut s = settings();
    s.limits.daily_loss_limit = dec!(600);
    let calendar = Arc::new(HolidayCalendar::cme_equity_fixture());
    let (mut full, mut codes) = (
        Engine::new(s.clone(), calendar.clone()),
        Engine::new(s, calendar),
    );
    codes.set_trace_detail(TraceDetail::Codes);
    let prices: Vec<i64> = (0..480)
        .map(|i| 5000 + [0, 3, 7, 2, -4, 1][i % 6] - (i as i64 / 40))
        .collect();
    let bars = closes(&prices);
    let (mut ids_full, mut ids_codes) = (0, 0);
    let mut all = std::collections::BTreeSet::new();
    for (i, bar) in bars.iter().enumerate() {
        // Every 50th boundary is evaluated ten minutes late: the data is stale.
        let late = if i % 50 == 49 { 10 } else { 1 };
        let now = bar.ts_open + Duration::minutes(late);
        let step = |e: &mut Engine, ids: &mut u128| {
            let on_bar = e.handle(Event::front_bar(Symbol::Es, bar.clone()));
            let mut seen = outcomes(e, on_bar, ids);
            let on_clock = e.handle(tick(now));
            seen.extend(outcomes(e, on_clock, ids));
            seen
        };
        let (a, b) = (
            step(&mut full, &mut ids_full),
            step(&mut codes, &mut ids_codes),
        );
        assert_eq!(a, b, "bar {i}");
        assert_eq!(full.equity(), codes.equity());
        all.extend(
            a.into_iter()
                .map(|o| o.split(' ').take(3).collect::<Vec<_>>().join(" ")),
        );
    }
    let kinds: Vec<_> = all.iter().map(String::as_str).collect();
    for expected in [
        "no-trade INSUFFICIENT_HISTORY INSUFFICIENT_HISTORY",
        "no-trade NO_SIGNAL NO_SIGNAL",
        "no-trade GATE_BLOCKED DATA_STALE",
        "no-trade GATE_BLOCKED MARKET_CLOSED",
        "kill Daily loss",
    ] {
        assert!(
            kinds.contains(&expected),
            "{expected} missing from {kinds:?}"
        );
    }
    assert!(kinds.iter().any(|k| k.starts_with("decision")), "{kinds:?}");
    assert!(kinds.iter().any(|k| k.starts_with("fill")), "{kinds:?}");
}
