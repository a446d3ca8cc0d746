//! The engine at a quarterly contract roll: a bar of the next contract starts a new window,
//! a position held at the roll exits on the old contract at its last close (PAPER, and LIVE
//! sent out on it), and a restored position is never filled at a made-up price.

use super::*;
#[test]
fn a_bar_of_another_contract_starts_a_new_window_and_cancels_the_working_order() {
    use crate::domain::contracts::{Contract, ContractMonth};
    let mut e = engine();
    let bars = closes(&[5000, 5000, 5000, 5000, 5001, 5003]);
    let old = Contract::new(Symbol::Es, 2026, ContractMonth::Z);
    let new = old.next();
    let feed = |e: &mut Engine, b: &Bar, contract: Contract| {
        let on_bar = e.handle(Event::Bar {
            bar: b.clone(),
            contract,
        });
        (on_bar, e.handle(tick(b.ts_open + Duration::minutes(1))))
    };
    let mut d = None;
    for b in &bars {
        if let (_, fx) = feed(&mut e, b, old)
            && let [Effect::Decision(x)] = fx.as_slice()
        {
            d = Some(x.clone());
        }
    }
    let d = d.expect("rising closes decide");
    place(&mut e, &d, 9);
    assert_eq!(e.contract(), Some(old));
    assert_eq!(e.window().len(), 6);
    // The new contract's bar at the fill bar's start: not the old order's fill.
    let next = Bar {
        ts_open: d.order.bar_ts + Duration::minutes(1),
        ..bars[0].clone()
    };
    let fx = e.handle(Event::Bar {
        bar: next.clone(),
        contract: new,
    });
    let [Effect::Cancel { order_id, reason }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(*order_id, Uuid::from_u128(9));
    assert!(
        reason.contains("ESZ26") && reason.contains("ESH27"),
        "{reason}"
    );
    assert!(e.working().is_none());
    assert_eq!(e.contract(), Some(new));
    // The window holds the new contract's bar only: too little history to decide.
    assert_eq!(e.window(), std::slice::from_ref(&next));
    let fx = e.handle(tick(next.ts_open + Duration::minutes(1)));
    let [Effect::NoTrade { no_trade, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(no_trade.reason_code, "INSUFFICIENT_HISTORY");
}

/// Minute bars of `contract` from `start` with the given closes (open = previous close).
fn contract_bars(start: DateTime<Utc>, c: &[i64]) -> Vec<Bar> {
    let mut bars = closes(c);
    for (i, b) in bars.iter_mut().enumerate() {
        b.ts_open = start + Duration::minutes(i as i64);
    }
    bars
}

/// ESZ26 → ESH27: the roll instant (17:00 CT on 2026-12-09, the roll date's session open).
fn es_roll() -> (Contract, Contract, DateTime<Utc>) {
    let old = Contract::new(Symbol::Es, 2026, crate::domain::contracts::ContractMonth::Z);
    (old, old.next(), old.rolls_at())
}

fn feed(e: &mut Engine, contract: Contract, bar: &Bar) -> Vec<Effect> {
    let mut fx = e.handle(Event::Bar {
        bar: bar.clone(),
        contract,
    });
    fx.extend(e.handle(tick(bar.ts_open + Duration::minutes(1))));
    fx
}

/// Restores `e` at `now` from one fill of one contract at 5010, decided at `decided`.
fn restore_one(e: &mut Engine, side: Side, decided: DateTime<Utc>, now: DateTime<Utc>) {
    let fill = LedgerFill {
        side,
        quantity: 1,
        price: dec!(5010),
        commission: dec!(2.25),
        filled_at: decided + Duration::seconds(1),
        decided_at: decided,
    };
    e.restore([fill], now, None, [], None);
}

#[test]
fn a_paper_position_held_at_the_roll_exits_on_the_old_contract_at_its_last_close() {
    let (old, new, rolls_at) = es_roll();
    let mut e = engine();
    // The old contract rises in the afternoon before the roll: the strategy buys.
    let afternoon = contract_bars(
        rolls_at - Duration::hours(3),
        &[5000, 5000, 5000, 5000, 5001, 5003, 5004, 5005],
    );
    let mut entry = None;
    for b in &afternoon {
        for f in feed(&mut e, old, b) {
            match f {
                Effect::Decision(d) if entry.is_none() => {
                    entry = Some(d.order.clone());
                    place(&mut e, &d, 1);
                }
                Effect::Fill { fill, .. } => {
                    e.handle(Event::Fill(fill));
                }
                _ => {}
            }
        }
    }
    let entry = entry.expect("rising closes buy");
    assert_eq!(e.position().quantity, 1);
    let last_old = afternoon.last().unwrap();

    // The new contract trades 60 points higher (contango): its first bar is the roll.
    let first_new = contract_bars(rolls_at, &[5065, 5066]);
    let fx = feed(&mut e, new, &first_new[0]);
    let [Effect::Decision(d)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(d.reason_code, roll_exit::ROLL_EXIT);
    assert_eq!(d.decision_type, DecisionType::Exit);
    assert_eq!((d.order.side, d.order.quantity), (Side::Sell, 1));
    // Decided on the old contract's last bar: that is the contract the order trades.
    assert_eq!(d.order.bar_ts, last_old.ts_open);
    assert_eq!(Contract::front_at(Symbol::Es, d.order.bar_ts), old);
    assert_eq!(d.order.reference_price, last_old.close);
    assert_ne!(d.order.idempotency_key, entry.idempotency_key);
    assert_ne!(
        d.order.idempotency_key,
        crate::domain::execution::idempotency_key(Uuid::from_u128(7), last_old.ts_open, Side::Sell)
    );
    assert!(
        d.reason_human.contains("ESZ26") && d.reason_human.contains("ESH27"),
        "{}",
        d.reason_human
    );
    // Marked at the old contract's last close, never at the new contract's price.
    assert_eq!(e.equity(), e.position().total_pnl(last_old.close));
    let now = first_new[0].ts_open + Duration::minutes(1);
    let ExecutionOutcome::Filled(expected) = &d.execution else {
        panic!("{:?}", d.execution)
    };
    assert_eq!(expected.price, last_old.close - dec!(0.25));
    assert_eq!(expected.filled_at, now);

    // Placed, it fills at once (its fill bar would be the new contract's).
    let fx = place(&mut e, d, 2);
    let [Effect::Fill { order_id, fill }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(*order_id, Uuid::from_u128(2));
    assert_eq!(fill, expected);
    assert!(e.working().is_none());
    e.handle(Event::Fill(fill.clone()));
    assert_eq!(e.position().quantity, 0);
    assert_eq!(e.equity(), e.position().net_realized());
    // Flat: the strategy evaluates the new contract's own bars again.
    let fx = feed(&mut e, new, &first_new[1]);
    assert!(
        fx.iter()
            .all(|f| !matches!(f, Effect::Decision(d) if d.reason_code == roll_exit::ROLL_EXIT)),
        "{fx:?}"
    );
    assert!(matches!(fx.as_slice(), [Effect::NoTrade { .. }]), "{fx:?}");
}

fn live_settings() -> Settings {
    Settings {
        stage: Stage::Live,
        is_trading_enabled: true,
        ..settings()
    }
}

fn live_tick(now: DateTime<Utc>, trading_switch_on: bool) -> Event {
    Event::Clock(Tick {
        now,
        tier: AutonomyTier::FullAutonomy,
        trading_switch_on,
        kill_switch_active: false,
        breaker_open: false,
        reconciliation_clean: true,
        broker_ready: true,
    })
}

#[test]
fn a_restored_live_position_on_the_old_contract_is_sent_out_on_it_and_held_at_its_price() {
    let (old, new, rolls_at) = es_roll();
    let mut e = Engine::new(
        live_settings(),
        Arc::new(HolidayCalendar::cme_equity_fixture()),
    );
    // A runner restarted after the roll: the ledger holds a short opened on ESZ26 before it.
    let entered = rolls_at - Duration::hours(2);
    restore_one(&mut e, Side::Sell, entered, rolls_at);
    let bars = contract_bars(rolls_at, &[5070, 5071, 5072]);
    e.handle(Event::Bar {
        bar: bars[0].clone(),
        contract: new,
    });
    let now = bars[0].ts_open + Duration::minutes(1);

    // The trading switch is off: the exit is a gate-blocked EXIT naming the roll, and the
    // position is marked at its own contract's last price (the fill), not 60 points away.
    let fx = e.handle(live_tick(now, false));
    let [Effect::NoTrade { no_trade, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(no_trade.suppression_type, "GATE_BLOCKED");
    assert_eq!(no_trade.suppression_decision, "EXIT");
    let codes: Vec<&str> = no_trade.blocked_by.iter().map(|b| &*b.code).collect();
    assert_eq!(codes, ["LIVE_TRADING_DISABLED", roll_exit::ROLL_EXIT]);
    assert_eq!(e.equity(), e.position().total_pnl(dec!(5010)));
    assert_eq!(e.mark(), Some(dec!(5010)));

    // Switched on: one BUY to close the short, sent for ESZ26 (its decision bar is the
    // position's), not filled by the engine.
    e.handle(Event::Bar {
        bar: bars[1].clone(),
        contract: new,
    });
    let fx = e.handle(live_tick(now + Duration::minutes(1), true));
    let [Effect::Decision(d)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(d.reason_code, roll_exit::ROLL_EXIT);
    assert_eq!((d.order.side, d.order.quantity), (Side::Buy, 1));
    assert_eq!(Contract::front_at(Symbol::Es, d.order.bar_ts), old);
    assert!(
        matches!(d.execution, ExecutionOutcome::Send { .. }),
        "{:?}",
        d.execution
    );
    assert!(
        place(&mut e, d, 3).is_empty(),
        "a LIVE exit fills at its broker"
    );
    assert_eq!(e.working().map(|w| w.id), Some(Uuid::from_u128(3)));

    // While it works nothing else is decided, and nothing is sent twice.
    e.handle(Event::Bar {
        bar: bars[2].clone(),
        contract: new,
    });
    let fx = e.handle(live_tick(now + Duration::minutes(2), true));
    let [Effect::NoTrade { no_trade, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(no_trade.reason_code, roll_exit::ROLL_EXIT_WORKING);
    assert_eq!(no_trade.suppression_decision, "EXIT");

    // The broker's fill flattens it: the new contract is the strategy's again.
    e.handle(Event::Fill(SimFill {
        idempotency_key: d.order.idempotency_key.clone(),
        side: Side::Buy,
        quantity: 1,
        price: dec!(5012),
        commission: dec!(2.25),
        filled_at: now + Duration::minutes(2),
    }));
    e.handle(Event::OrderUpdate(OrderUpdate::Cancelled {
        order_id: Uuid::from_u128(3),
    }));
    assert_eq!(e.position().quantity, 0);
    assert_eq!(e.mark(), Some(bars[2].close));
    assert_eq!(e.equity(), dec!(-104.50));
}

#[test]
fn a_restored_paper_position_is_not_filled_at_a_made_up_price_at_the_roll() {
    let (old, new, rolls_at) = es_roll();
    let mut e = engine();
    let entered = rolls_at - Duration::hours(2);
    restore_one(&mut e, Side::Buy, entered, rolls_at);
    assert_eq!(e.position_contract(), Some(old));
    let bars = contract_bars(rolls_at, &[5070, 5071]);
    // Only the fill's price is known of ESZ26: no simulated exit at it.
    let fx = feed(&mut e, new, &bars[0]);
    let [Effect::NoTrade { no_trade, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(no_trade.suppression_type, "EXECUTION_REFUSED");
    assert_eq!(no_trade.reason_code, "DATA_UNAVAILABLE");
    assert!(
        no_trade.reason_human.contains("ESZ26"),
        "{}",
        no_trade.reason_human
    );

    // A bar of ESZ26 handed in (the runner's stored last bar of it) prices the exit.
    let mut restored = engine();
    restore_one(&mut restored, Side::Buy, entered, rolls_at);
    let last_old = &contract_bars(
        rolls_at - Duration::hours(1) - Duration::minutes(1),
        &[5020],
    )[0];
    restored.handle(Event::Bar {
        bar: last_old.clone(),
        contract: old,
    });
    let fx = feed(&mut restored, new, &bars[0]);
    let [Effect::Decision(d)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(d.reason_code, roll_exit::ROLL_EXIT);
    assert_eq!(d.order.bar_ts, last_old.ts_open);
    let ExecutionOutcome::Filled(fill) = &d.execution else {
        panic!("{:?}", d.execution)
    };
    assert_eq!(fill.price, dec!(5019.75));
}
