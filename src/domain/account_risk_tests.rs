use super::*;
use crate::domain::instruments::Symbol;
use crate::domain::side::Side;
use chrono::TimeZone;
use rust_decimal_macros::dec;

fn limits() -> AccountRiskLimits {
    AccountRiskLimits {
        max_gross_contracts: 4,
        max_net_contracts: 3,
        daily_loss_limit: dec!(1000),
        max_orders_per_minute: 5,
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap()
}

/// Two bots on ES: `a` and `b` signed positions, no working orders.
fn view(a: i64, b: i64) -> AccountRiskView {
    let mut es = ContractExposure::default();
    es.add_bot(a, 0);
    es.add_bot(b, 0);
    AccountRiskView {
        broker: "ironbeam".into(),
        account: "ACC-1".into(),
        limits: Some(limits()),
        reading: Some(AccountReading {
            contracts: BTreeMap::from([("ES".to_string(), es)]),
            daily_pnl: dec!(-100),
            orders_last_minute: 0,
            bots: vec![Uuid::nil(), Uuid::max()],
        }),
        latch: None,
    }
}

fn order(side: Side, quantity: u32) -> ProposedOrder {
    ProposedOrder {
        side,
        quantity,
        price: dec!(5000),
    }
}

fn codes(b: &[Blocker]) -> Vec<ErrorCode> {
    b.iter().map(|b| b.code).collect()
}

#[test]
fn an_entry_within_the_limits_passes() {
    let v = view(2, 0);
    assert!(check(&v, "ES", 0, Some(&order(Side::Buy, 1))).is_empty());
}

#[test]
fn an_entry_past_the_account_net_is_refused_while_the_exit_passes() {
    // Bot A long 2, bot B (flat) wants long 2: net 4 > 3.
    let v = view(2, 0);
    let b = check(&v, "ES", 0, Some(&order(Side::Buy, 2)));
    assert_eq!(codes(&b), vec![ErrorCode::AccountPositionLimit]);
    assert_eq!(b[0].gate, Gate::AccountRisk);
    assert!(
        b[0].reason_human.contains("ironbeam/ACC-1"),
        "{}",
        b[0].reason_human
    );
    assert!(
        b[0].reason_human.contains("would become 4"),
        "{}",
        b[0].reason_human
    );
    // Bot A selling its 2 lowers its exposure: never blocked by the position limits.
    let v = view(2, 2);
    assert!(check(&v, "ES", 2, Some(&order(Side::Sell, 2))).is_empty());
}

#[test]
fn gross_holds_hedges_that_net_lets_through() {
    // A long 2, B flat going short 3: net 2 → -1 (within 3), gross 2 → 5 (> 4).
    let v = view(2, 0);
    let b = check(&v, "ES", 0, Some(&order(Side::Sell, 3)));
    assert_eq!(codes(&b), vec![ErrorCode::AccountPositionLimit]);
    assert!(b[0].reason_human.contains("gross"), "{}", b[0].reason_human);
}

#[test]
fn working_orders_that_add_exposure_count() {
    let mut v = view(1, 0);
    let r = v.reading.as_mut().unwrap();
    // Bot A long 1 with a working buy of 2: projected net 3.
    let mut es = ContractExposure::default();
    es.add_bot(1, 2);
    r.contracts.insert("ES".into(), es);
    let b = check(&v, "ES", 0, Some(&order(Side::Buy, 1)));
    assert_eq!(codes(&b), vec![ErrorCode::AccountPositionLimit]);
    // A working exit adds no gross.
    let mut es = ContractExposure::default();
    es.add_bot(3, -3);
    assert_eq!(es.projected_gross(), 3);
    assert_eq!(es.projected_net(), 0);
}

#[test]
fn other_contracts_do_not_count() {
    let v = view(3, 0);
    assert!(check(&v, "NQ", 0, Some(&order(Side::Buy, 3))).is_empty());
}

#[test]
fn the_latch_blocks_raises_and_reports_when_idle_but_lets_exits_pass() {
    let mut v = view(1, 0);
    v.latch = Some(AccountLatch {
        latched_at: now(),
        reason: "r".into(),
        daily_pnl: dec!(-1200),
        daily_loss_limit: dec!(1000),
    });
    assert_eq!(
        codes(&check(&v, "ES", 0, Some(&order(Side::Buy, 1)))),
        vec![ErrorCode::AccountDailyLossLatched]
    );
    assert_eq!(
        codes(&check(&v, "ES", 0, None)),
        vec![ErrorCode::AccountDailyLossLatched]
    );
    assert!(check(&v, "ES", 1, Some(&order(Side::Sell, 1))).is_empty());
    // Even with no limits configured any more, a stored latch holds.
    v.limits = None;
    assert_eq!(
        codes(&check(&v, "ES", 0, Some(&order(Side::Buy, 1)))),
        vec![ErrorCode::AccountDailyLossLatched]
    );
}

#[test]
fn breach_latches_once_at_the_limit() {
    let l = limits();
    let mut r = view(0, 0).reading.unwrap();
    r.daily_pnl = dec!(-999.99);
    assert_eq!(breach(&l, &r, None, now()), None);
    r.daily_pnl = dec!(-1000);
    let latch = breach(&l, &r, None, now()).expect("latches at the limit");
    assert_eq!(latch.latched_at, now());
    assert_eq!(latch.daily_pnl, dec!(-1000));
    assert!(latch.reason.contains("1000"), "{}", latch.reason);
    // Already latched: nothing new (the stored one keeps its time and figures).
    assert_eq!(breach(&l, &r, Some(&latch), now()), None);
    // A recovered PnL (the next trade date) does not un-latch: only `breach` decides new
    // latches; clearing is the re-arm's.
    r.daily_pnl = dec!(0);
    assert_eq!(breach(&l, &r, Some(&latch), now()), None);
}

#[test]
fn a_breach_not_yet_stored_blocks_raises_already() {
    let mut v = view(0, 0);
    v.reading.as_mut().unwrap().daily_pnl = dec!(-1500);
    assert_eq!(
        codes(&check(&v, "ES", 0, Some(&order(Side::Buy, 1)))),
        vec![ErrorCode::AccountDailyLossLatched]
    );
}

#[test]
fn the_order_rate_counts_every_order_of_the_account() {
    let mut v = view(1, 0);
    v.reading.as_mut().unwrap().orders_last_minute = 5;
    assert_eq!(
        codes(&check(&v, "ES", 0, Some(&order(Side::Buy, 1)))),
        vec![ErrorCode::AccountOrderRate]
    );
    assert_eq!(
        codes(&check(&v, "ES", 1, Some(&order(Side::Sell, 1)))),
        vec![ErrorCode::AccountOrderRate]
    );
    v.reading.as_mut().unwrap().orders_last_minute = 4;
    assert!(check(&v, "ES", 0, Some(&order(Side::Buy, 1))).is_empty());
}

#[test]
fn without_limits_nothing_but_a_latch_applies() {
    let mut v = view(9, 9);
    v.limits = None;
    v.reading = None;
    assert!(check(&v, "ES", 0, Some(&order(Side::Buy, 5))).is_empty());
    assert!(check(&v, "ES", 0, None).is_empty());
}

#[test]
fn an_unreadable_account_blocks_raises_only() {
    let mut v = view(0, 0);
    v.reading = None;
    assert_eq!(
        codes(&check(&v, "ES", 0, Some(&order(Side::Buy, 1)))),
        vec![ErrorCode::AccountRiskUnavailable]
    );
    assert!(check(&v, "ES", 1, Some(&order(Side::Sell, 1))).is_empty());
}

#[test]
fn validation_names_each_bad_field() {
    assert!(limits().validate().is_empty());
    let bad = AccountRiskLimits {
        max_gross_contracts: 2,
        max_net_contracts: 3,
        daily_loss_limit: dec!(0),
        max_orders_per_minute: 0,
    };
    let fields: Vec<&str> = bad.validate().iter().map(|p| p.field).collect();
    assert_eq!(
        fields,
        vec![
            "max_net_contracts",
            "daily_loss_limit",
            "max_orders_per_minute"
        ]
    );
}

/// A 1-minute bar's close that ended `ago` seconds before `now()`.
fn mark(close: Decimal, ago: i64) -> Option<Mark> {
    Some(Mark {
        close,
        ended_at: now() - chrono::Duration::seconds(ago),
        bar_seconds: 60,
    })
}

/// An ES bot holding `quantity` with today's `day` fills, marked at `mark`, the day begun at
/// `start` (close of the bar before the trade date).
fn es_bot(quantity: i64, day: DayFills, mark: Option<Mark>, start: Option<Decimal>) -> BotFigures {
    BotFigures {
        bot_id: Uuid::now_v7(),
        symbol: Symbol::Es,
        quantity,
        day,
        mark,
        day_start_close: start,
        working_signed: 0,
        position_at: None,
        working_at: None,
    }
}

fn fills(net_quantity: i64, signed_notional: Decimal, commission: Decimal) -> DayFills {
    DayFills {
        net_quantity,
        signed_notional,
        commission,
    }
}

#[test]
fn the_day_pnl_is_marked_to_market_from_the_days_start() {
    let none = DayFills::default();
    // Long 2 carried into the day (yesterday's entry price does not matter): the day began at
    // 5000, the mark is 4990: 2 × -10 × 50 = -1000.
    let carried = es_bot(2, none, mark(dec!(4990), 30), Some(dec!(5000)));
    assert_eq!(day_pnl(&carried, now(), true), Some(dec!(-1000)));
    // Bought 1 at 5000 today, sold at 4900, 2.50 of commission a side: -5000 - 5.
    let round_trip = es_bot(0, fills(0, dec!(100), dec!(5)), None, None);
    assert_eq!(day_pnl(&round_trip, now(), true), Some(dec!(-5005)));
    // Long 1 carried from 5000 (day start), sold today at 5010, re-bought at 5004 and held at
    // the mark 5008 (commissions 4): closed +10, held +4 = 14 points × 50 - 4 = 696.
    let turned = es_bot(
        1,
        fills(0, dec!(-5010) + dec!(5004), dec!(4)),
        mark(dec!(5008), 10),
        Some(dec!(5000)),
    );
    assert_eq!(day_pnl(&turned, now(), true), Some(dec!(696)));
    // A short opened yesterday and covered today counts only today's move: began the day at
    // 5000, bought back at 4980: +20 × 50 = +1000 (its entry, say 5100, is yesterday's PnL).
    let covered = es_bot(0, fills(1, dec!(4980), dec!(0)), None, Some(dec!(5000)));
    assert_eq!(day_pnl(&covered, now(), true), Some(dec!(1000)));
    // A position carried in without a close before the day: unknown, never a zero.
    assert_eq!(
        day_pnl(
            &es_bot(0, fills(1, dec!(4980), dec!(0)), None, None),
            now(),
            true
        ),
        None
    );
    // A held position without a mark, or with one stale by more than its bar + the grace
    // while the session is open: unknown. With the session closed the last close stands.
    assert_eq!(
        day_pnl(&es_bot(1, none, None, Some(dec!(5000))), now(), true),
        None
    );
    let stale = es_bot(
        1,
        none,
        mark(dec!(5001), 60 + MARK_GRACE_SECONDS + 1),
        Some(dec!(5000)),
    );
    assert_eq!(day_pnl(&stale, now(), true), None);
    assert_eq!(day_pnl(&stale, now(), false), Some(dec!(50)));
    let late = es_bot(
        1,
        none,
        mark(dec!(5001), 60 + MARK_GRACE_SECONDS),
        Some(dec!(5000)),
    );
    assert_eq!(day_pnl(&late, now(), true), Some(dec!(50)));
}

#[test]
fn the_reading_sums_positions_working_and_pnl_over_the_bots() {
    let bot = |quantity, working_signed, day, mark| BotFigures {
        working_signed,
        ..es_bot(quantity, day, mark, Some(dec!(5000)))
    };
    // Long 2 marked 4990 from a 5000 day start = -1000; short 1 = +500; a round trip of the
    // day lost 300 (6 points) and paid 4.
    let bots = [
        bot(2, 0, DayFills::default(), mark(dec!(4990), 5)),
        bot(-1, -1, DayFills::default(), mark(dec!(4990), 5)),
        bot(0, 0, fills(0, dec!(6), dec!(4)), None),
    ];
    let r = reading(&bots, 3, now(), true).unwrap();
    let es = &r.contracts[&contract_key(Symbol::Es, now())];
    assert_eq!(
        (es.net, es.gross, es.working_net, es.working_adds),
        (1, 3, -1, 1)
    );
    assert_eq!(r.daily_pnl, dec!(-1000) + dec!(500) - dec!(304));
    assert_eq!(r.orders_last_minute, 3);
    assert_eq!(r.bots.len(), 3);
    // An open position without any mark: unknown PnL, no reading.
    assert_eq!(
        reading(&[bot(1, 0, DayFills::default(), None)], 0, now(), true),
        None
    );
    // Flat without a mark is fine.
    assert!(reading(&[bot(0, 0, DayFills::default(), None)], 0, now(), true).is_some());
}

#[test]
fn limits_read_money_as_a_string_or_a_number_and_refuse_unknown_fields() {
    let s: AccountRiskLimits = serde_json::from_str(
        r#"{"max_gross_contracts":4,"max_net_contracts":3,"daily_loss_limit":"1000","max_orders_per_minute":5}"#,
    )
    .unwrap();
    assert_eq!(s, limits());
    let n: AccountRiskLimits = serde_json::from_str(
        r#"{"max_gross_contracts":4,"max_net_contracts":3,"daily_loss_limit":1000,"max_orders_per_minute":5}"#,
    )
    .unwrap();
    assert_eq!(n, limits());
    assert!(
        serde_json::from_str::<AccountRiskLimits>(
            r#"{"max_gross_contracts":4,"max_net_contracts":3,"daily_loss_limit":"1000","max_orders_per_minute":5,"extra":1}"#,
        )
        .is_err()
    );
}

#[test]
fn a_roll_week_keeps_the_expiring_and_the_next_month_apart() {
    // ESZ26 rolls on 2026-12-10 (8 days before the 18th, its last trade day).
    let before_roll = Utc.with_ymd_and_hms(2026, 12, 9, 15, 0, 0).unwrap();
    let after_roll = Utc.with_ymd_and_hms(2026, 12, 11, 15, 0, 0).unwrap();
    assert_eq!(contract_key(Symbol::Es, before_roll), "ESZ26");
    assert_eq!(contract_key(Symbol::Es, after_roll), "ESH27");
    let fig = |quantity, working_signed, position_at, working_at| BotFigures {
        working_signed,
        position_at,
        working_at,
        ..es_bot(
            quantity,
            DayFills::default(),
            mark(dec!(5000), 0),
            Some(dec!(5000)),
        )
    };
    // A holds 1 December; B has a working buy of 1 March; C holds 1 December and works an
    // order for March (its exit of December would not net against a March order).
    let bots = [
        fig(1, 0, Some(before_roll), None),
        fig(0, 1, None, Some(after_roll)),
        fig(1, 1, Some(before_roll), Some(after_roll)),
    ];
    let r = reading(&bots, 0, after_roll, false).unwrap();
    let z6 = &r.contracts["ESZ26"];
    let h7 = &r.contracts["ESH27"];
    assert_eq!((z6.net, z6.gross, z6.working_adds), (2, 2, 0));
    assert_eq!((h7.net, h7.working_net, h7.working_adds), (0, 2, 2));
    let view = AccountRiskView {
        broker: "ironbeam".into(),
        account: "A1".into(),
        limits: Some(AccountRiskLimits {
            max_gross_contracts: 3,
            max_net_contracts: 3,
            daily_loss_limit: dec!(1000),
            max_orders_per_minute: 5,
        }),
        reading: Some(r),
        latch: None,
    };
    // Each month holds 2 of 3: one more of either passes (keyed by root, 4 held would have
    // refused it), two more of March do not.
    assert!(check(&view, "ESH27", 0, Some(&order(Side::Buy, 1))).is_empty());
    assert!(check(&view, "ESZ26", 0, Some(&order(Side::Buy, 1))).is_empty());
    assert_eq!(
        codes(&check(&view, "ESH27", 0, Some(&order(Side::Buy, 2)))),
        [
            ErrorCode::AccountPositionLimit,
            ErrorCode::AccountPositionLimit
        ]
    );
}
