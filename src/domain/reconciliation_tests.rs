use super::*;
use chrono::TimeZone;

const ES: &str = "ESZ6";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 20, 0, 0).unwrap()
}

fn rules() -> Rules {
    Rules {
        send_grace: Duration::seconds(30),
    }
}

fn bot(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn ours(b: u128, q: i64) -> OurPosition {
    OurPosition {
        bot_id: bot(b),
        contract: ES.into(),
        quantity: q,
    }
}

fn theirs(q: i64) -> TheirPosition {
    TheirPosition {
        contract: ES.into(),
        net: q,
    }
}

fn our_order(state: OurOrderState, broker_id: Option<&str>, sent_ago: i64) -> OurOrder {
    OurOrder {
        order_id: Uuid::from_u128(100),
        bot_id: bot(1),
        contract: ES.into(),
        side: Side::Buy,
        quantity: 1,
        state,
        broker_order_id: broker_id.map(str::to_owned),
        client_id: "tp1-key".into(),
        sent_at: t0() - Duration::seconds(sent_ago),
        booked: 0,
        settle: Duration::seconds(90),
    }
}

fn their_order(id: &str, working: bool, filled: u32) -> TheirOrder {
    TheirOrder {
        broker_order_id: id.into(),
        client_id: None,
        contract: Some(ES.into()),
        side: Side::Buy,
        quantity: 1,
        working,
        status: if working { "WORKING" } else { "FILLED" }.into(),
        filled,
        created_at: Some(t0() - Duration::seconds(1)),
    }
}

fn kinds(m: &[Mismatch]) -> Vec<MismatchKind> {
    m.iter().map(|m| m.kind).collect()
}

#[test]
fn equal_sides_are_clean() {
    let s = AccountState {
        ours: vec![ours(1, 2), ours(2, -1)],
        theirs: vec![theirs(1)],
        ..Default::default()
    };
    assert!(compare(&s, t0(), rules()).is_empty());
    // A flat bot and no broker row: clean too.
    let s = AccountState {
        ours: vec![ours(1, 0)],
        ..Default::default()
    };
    assert!(compare(&s, t0(), rules()).is_empty());
}

#[test]
fn a_position_changed_behind_our_back_names_the_bots_and_both_nets() {
    let s = AccountState {
        ours: vec![ours(1, 0), ours(2, 1)],
        theirs: vec![theirs(3)],
        ..Default::default()
    };
    let m = compare(&s, t0(), rules());
    assert_eq!(kinds(&m), [MismatchKind::Position]);
    assert_eq!(m[0].bots, [bot(1), bot(2)]);
    assert_eq!((m[0].ours_net, m[0].theirs_net), (Some(1), Some(3)));
    assert_eq!(
        m[0].message(),
        "POSITION on ESZ6: ours long 1, broker long 3"
    );
    // Side differs with the same size: a mismatch too.
    let s = AccountState {
        ours: vec![ours(1, 1)],
        theirs: vec![theirs(-1)],
        ..Default::default()
    };
    assert_eq!(kinds(&compare(&s, t0(), rules())), [MismatchKind::Position]);
    // The broker holds a contract no bot of ours trades.
    let s = AccountState {
        theirs: vec![TheirPosition {
            contract: "NQZ6".into(),
            net: -2,
        }],
        ..Default::default()
    };
    let m = compare(&s, t0(), rules());
    assert_eq!(m[0].contract, "NQZ6");
    assert!(m[0].bots.is_empty());
    assert_eq!(m[0].theirs, "short 2");
}

#[test]
fn broker_fills_of_our_open_orders_not_booked_yet_are_no_mismatch_until_their_settle() {
    // Our WORKING buy filled at the broker; its runner books it at its next bar.
    let s = AccountState {
        ours: vec![ours(1, 0)],
        our_orders: vec![our_order(OurOrderState::Working, Some("7"), 10)],
        theirs: vec![theirs(1)],
        their_orders: vec![their_order("7", true, 1)],
    };
    let mut settling = Settling::default();
    assert!(
        settling
            .observe(t0(), compare(&s, t0(), rules()))
            .is_empty()
    );
    let later = t0() + Duration::seconds(89);
    assert!(
        settling
            .observe(later, compare(&s, later, rules()))
            .is_empty()
    );
    // Still unbooked after the order's settle time: nobody books it, the ledger is off.
    let late = t0() + Duration::seconds(90);
    let m = settling.observe(late, compare(&s, late, rules()));
    assert_eq!(kinds(&m), [MismatchKind::Position]);
    assert_eq!((m[0].ours_net, m[0].theirs_net), (Some(0), Some(1)));
    assert_eq!(
        m[0].ours,
        "flat in the ledger (+1 in broker fills of our orders not booked)"
    );
    // Booked already: the ledger carries it.
    let mut booked = our_order(OurOrderState::Working, Some("7"), 10);
    booked.booked = 1;
    let s = AccountState {
        ours: vec![ours(1, 1)],
        our_orders: vec![booked],
        theirs: vec![theirs(1)],
        their_orders: vec![their_order("7", true, 1)],
    };
    assert!(compare(&s, t0(), rules()).is_empty());
    // But an extra contract beyond our order's fill is a mismatch.
    let s = AccountState {
        ours: vec![ours(1, 0)],
        our_orders: vec![our_order(OurOrderState::Working, Some("7"), 10)],
        theirs: vec![theirs(2)],
        their_orders: vec![their_order("7", true, 1)],
    };
    let m = compare(&s, t0(), rules());
    assert_eq!(kinds(&m), [MismatchKind::Position]);
    assert_eq!((m[0].ours_net, m[0].theirs_net), (Some(1), Some(2)));
    assert_eq!(
        m[0].ours,
        "long 1 (ledger flat, +1 in broker fills of our orders not booked yet)"
    );
}

#[test]
fn a_young_send_is_tolerated_an_old_one_is_missing() {
    let young = AccountState {
        ours: vec![ours(1, 0)],
        our_orders: vec![our_order(OurOrderState::Sending, None, 5)],
        // It may have filled already: the position waits for the send to resolve.
        theirs: vec![theirs(1)],
        their_orders: vec![],
    };
    assert!(compare(&young, t0(), rules()).is_empty());
    let old = AccountState {
        our_orders: vec![our_order(OurOrderState::Sending, None, 31)],
        ..young
    };
    let m = compare(&old, t0(), rules());
    assert_eq!(
        kinds(&m),
        [MismatchKind::OrderMissingAtBroker, MismatchKind::Position]
    );
    assert_eq!(m[0].ours, "SENDING BUY 1");
    assert_eq!(m[0].settle, Duration::seconds(90));
}

#[test]
fn an_unacknowledged_send_matches_the_brokers_order_by_key_or_by_shape() {
    // Tradovate echoes our key.
    let mut t = their_order("9", true, 0);
    t.client_id = Some("tp1-key".into());
    let s = AccountState {
        ours: vec![ours(1, 0)],
        our_orders: vec![our_order(OurOrderState::Sending, None, 60)],
        their_orders: vec![t],
        ..Default::default()
    };
    assert!(compare(&s, t0(), rules()).is_empty());
    // Ironbeam does not: same contract, side and quantity, created after the send.
    let s = AccountState {
        ours: vec![ours(1, 0)],
        our_orders: vec![our_order(OurOrderState::Sending, None, 3)],
        their_orders: vec![their_order("9", true, 0)],
        ..Default::default()
    };
    assert!(compare(&s, t0(), rules()).is_empty());
    // A different quantity is not ours.
    let mut other = their_order("9", true, 0);
    other.quantity = 2;
    let s = AccountState {
        ours: vec![ours(1, 0)],
        our_orders: vec![our_order(OurOrderState::Sending, None, 3)],
        their_orders: vec![other],
        ..Default::default()
    };
    assert_eq!(
        kinds(&compare(&s, t0(), rules())),
        [MismatchKind::UnknownBrokerOrder]
    );
}

#[test]
fn a_working_order_gone_or_finished_at_the_broker() {
    let gone = AccountState {
        ours: vec![ours(1, 0)],
        our_orders: vec![our_order(OurOrderState::Working, Some("7"), 10)],
        ..Default::default()
    };
    let m = compare(&gone, t0(), rules());
    assert_eq!(kinds(&m), [MismatchKind::OrderMissingAtBroker]);
    assert_eq!(m[0].broker_order_id.as_deref(), Some("7"));
    assert_eq!(m[0].settle, Duration::seconds(90));

    let mut cancelled = their_order("7", false, 0);
    cancelled.status = "CANCELLED".into();
    let finished = AccountState {
        ours: vec![ours(1, 0)],
        our_orders: vec![our_order(OurOrderState::Working, Some("7"), 10)],
        their_orders: vec![cancelled],
        ..Default::default()
    };
    let m = compare(&finished, t0(), rules());
    assert_eq!(kinds(&m), [MismatchKind::OrderFinishedAtBroker]);
    assert_eq!(m[0].theirs, "CANCELLED (0 of 1 filled)");
    assert_eq!(m[0].bots, [bot(1)]);
}

#[test]
fn an_unknown_working_broker_order_names_the_bots_on_its_contract() {
    let mut t = their_order("42", true, 0);
    t.side = Side::Sell;
    let s = AccountState {
        ours: vec![ours(1, 0)],
        their_orders: vec![t, their_order("43", false, 1)],
        theirs: vec![theirs(1)],
        ..Default::default()
    };
    let m = compare(&s, t0(), rules());
    // The finished unknown order is no working order; its fill shows in the position.
    assert_eq!(
        kinds(&m),
        [MismatchKind::Position, MismatchKind::UnknownBrokerOrder]
    );
    assert_eq!(m[1].subject, "42");
    assert_eq!(m[1].theirs, "WORKING SELL 1");
    assert_eq!(m[1].bots, [bot(1)]);
}

#[test]
fn a_position_mismatch_needs_a_second_read() {
    let drift = AccountState {
        ours: vec![ours(1, 0)],
        theirs: vec![theirs(1)],
        ..Default::default()
    };
    let clean = AccountState {
        ours: vec![ours(1, 1)],
        theirs: vec![theirs(1)],
        ..Default::default()
    };
    let first = compare(&drift, t0(), rules());
    assert!(needs_second_read(&first));
    // Gone at the second read (a fill booked between the reads): nothing raised.
    let later = t0() + Duration::milliseconds(300);
    assert!(confirm(&first, compare(&clean, later, rules())).is_empty());
    // Still there: raised with the second read's figures.
    let mut bigger = drift.clone();
    bigger.theirs = vec![theirs(2)];
    let m = confirm(&first, compare(&bigger, later, rules()));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].theirs_net, Some(2));
    // Appearing only at the second read: not confirmed yet.
    assert!(confirm(&[], compare(&drift, later, rules())).is_empty());
    assert!(!needs_second_read(&[]));
}

#[test]
fn order_mismatches_are_raised_after_they_persist_for_their_settle_time() {
    let gone = AccountState {
        ours: vec![ours(1, 0)],
        our_orders: vec![our_order(OurOrderState::Working, Some("7"), 10)],
        ..Default::default()
    };
    let mut settling = Settling::default();
    let at = |s: i64| t0() + Duration::seconds(s);
    assert!(
        settling
            .observe(at(0), compare(&gone, at(0), rules()))
            .is_empty()
    );
    assert!(
        settling
            .observe(at(89), compare(&gone, at(89), rules()))
            .is_empty()
    );
    assert_eq!(
        settling
            .observe(at(90), compare(&gone, at(90), rules()))
            .len(),
        1
    );
    // Resolved (the runner closed it): forgotten, so a new one starts its own clock.
    assert!(settling.observe(at(91), Vec::new()).is_empty());
    assert!(
        settling
            .observe(at(100), compare(&gone, at(100), rules()))
            .is_empty()
    );
    // A position mismatch (confirmed by its second read) passes at once.
    let drift = AccountState {
        ours: vec![ours(1, 0)],
        theirs: vec![theirs(1)],
        ..Default::default()
    };
    assert_eq!(
        settling
            .observe(at(0), compare(&drift, at(0), rules()))
            .len(),
        1
    );
}
