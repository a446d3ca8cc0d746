use super::*;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn es(year: i32, month: ContractMonth) -> Contract {
    Contract::new(Symbol::Es, year, month)
}

#[test]
fn last_trade_day_is_the_third_friday_and_the_roll_eight_days_before() {
    // CME's published ES expiries and roll dates.
    for (c, last, roll) in [
        (es(2025, ContractMonth::Z), "2025-12-19", "2025-12-11"),
        (es(2026, ContractMonth::H), "2026-03-20", "2026-03-12"),
        (es(2026, ContractMonth::M), "2026-06-18", "2026-06-10"),
        (es(2026, ContractMonth::U), "2026-09-18", "2026-09-10"),
        (es(2026, ContractMonth::Z), "2026-12-18", "2026-12-10"),
        (es(2027, ContractMonth::H), "2027-03-19", "2027-03-11"),
    ] {
        assert_eq!(c.last_trade_date(), d(last), "{c}");
        assert_eq!(c.roll_date(), d(roll), "{c}");
    }
}

#[test]
fn a_holiday_on_the_third_friday_moves_the_expiry_to_the_business_day_before() {
    // (contract, scheduled third Friday, last trade day, roll date): Juneteenth on a
    // Friday (2026, 2037), observed on the Friday before a Saturday (2027, 2032), Good
    // Friday as the third Friday of March (2008).
    for (c, third_friday, last, roll) in [
        (
            es(2026, ContractMonth::M),
            "2026-06-19",
            "2026-06-18",
            "2026-06-10",
        ),
        (
            es(2027, ContractMonth::M),
            "2027-06-18",
            "2027-06-17",
            "2027-06-09",
        ),
        (
            es(2032, ContractMonth::M),
            "2032-06-18",
            "2032-06-17",
            "2032-06-09",
        ),
        (
            es(2037, ContractMonth::M),
            "2037-06-19",
            "2037-06-18",
            "2037-06-10",
        ),
        (
            es(2008, ContractMonth::H),
            "2008-03-21",
            "2008-03-20",
            "2008-03-12",
        ),
        // Before Juneteenth was a market holiday: the Friday.
        (
            es(2015, ContractMonth::M),
            "2015-06-19",
            "2015-06-19",
            "2015-06-11",
        ),
    ] {
        let scheduled: NaiveDate = d(third_friday);
        assert_eq!(scheduled.weekday(), Weekday::Fri, "{c}");
        assert_eq!(c.last_trade_date(), d(last), "{c}");
        assert_eq!(c.roll_date(), d(roll), "{c}");
    }
    // Every other expiry is its third Friday and rolls on a Thursday, for decades.
    for year in 2010..2060 {
        for m in ContractMonth::ALL {
            let c = es(year, m);
            let scheduled =
                NaiveDate::from_weekday_of_month_opt(year, m.number(), Weekday::Fri, 3).unwrap();
            let last = c.last_trade_date();
            if last == scheduled {
                assert_eq!(c.roll_date().weekday(), Weekday::Thu, "{c}");
            } else {
                assert!(index_holiday(scheduled), "{c}");
                assert_eq!(last, scheduled - Duration::days(1), "{c}");
                assert_eq!(c.roll_date().weekday(), Weekday::Wed, "{c}");
            }
        }
    }
}

#[test]
fn the_front_contract_follows_a_holiday_shifted_roll() {
    // ESM26 expires Thursday 2026-06-18 (Juneteenth): ESU26 is the front from the
    // 2026-06-10 trade date, which opens Tuesday 2026-06-09 17:00 CDT = 22:00 UTC.
    assert_eq!(Contract::front(Symbol::Es, d("2026-06-09")).code(), "ESM26");
    assert_eq!(Contract::front(Symbol::Es, d("2026-06-10")).code(), "ESU26");
    assert_eq!(
        Contract::front_at(Symbol::Es, at("2026-06-09T21:59:59Z")).code(),
        "ESM26"
    );
    assert_eq!(
        Contract::front_at(Symbol::Es, at("2026-06-09T22:00:00Z")).code(),
        "ESU26"
    );
    // The resolver's vendor spellings are unchanged by the shift.
    let u26 = Contract::front(Symbol::Mnq, d("2026-06-10"));
    assert_eq!(u26.spelled_for(Vendor::Databento), "MNQU6");
    assert_eq!(u26.spelled_for(Vendor::Ironbeam), "XCME:MNQ.U26");
    // Across a year end after a shifted June: December 2027 rolls into March 2028.
    assert_eq!(Contract::front(Symbol::Nq, d("2027-06-09")).code(), "NQU27");
    assert_eq!(Contract::front(Symbol::Nq, d("2027-12-08")).code(), "NQZ27");
    assert_eq!(Contract::front(Symbol::Nq, d("2027-12-09")).code(), "NQH28");
    let segs = front_segments(
        Symbol::Es,
        at("2026-06-01T00:00:00Z"),
        at("2026-06-20T00:00:00Z"),
    );
    assert_eq!(segs[0].to, at("2026-06-09T22:00:00Z"));
    assert_eq!(segs[1].contract.code(), "ESU26");
}

#[test]
fn the_front_contract_changes_on_the_roll_date() {
    for (date, front) in [
        ("2026-01-02", "ESH26"),
        ("2026-03-11", "ESH26"),
        ("2026-03-12", "ESM26"),
        ("2026-03-20", "ESM26"),
        ("2026-06-09", "ESM26"),
        // Juneteenth moved ESM26's expiry to Thursday the 18th: the roll is a Wednesday.
        ("2026-06-10", "ESU26"),
        ("2026-09-10", "ESZ26"),
        ("2026-12-03", "ESZ26"),
        ("2026-12-09", "ESZ26"),
        // Across the year end: December rolls into next year's March.
        ("2026-12-10", "ESH27"),
        ("2026-12-31", "ESH27"),
        ("2027-01-01", "ESH27"),
        ("2025-12-11", "ESH26"),
        ("2025-12-10", "ESZ25"),
    ] {
        assert_eq!(Contract::front(Symbol::Es, d(date)).code(), front, "{date}");
    }
}

#[test]
fn the_roll_instant_is_the_roll_dates_session_open() {
    // The 2026-12-10 trade date opens Wednesday 2026-12-09 17:00 CST = 23:00 UTC.
    let z26 = es(2026, ContractMonth::Z);
    assert_eq!(z26.rolls_at(), at("2026-12-09T23:00:00Z"));
    assert_eq!(
        Contract::front_at(Symbol::Es, at("2026-12-09T22:59:59Z")),
        z26
    );
    assert_eq!(
        Contract::front_at(Symbol::Es, at("2026-12-09T23:00:00Z")),
        es(2027, ContractMonth::H)
    );
    // Summer (CDT): ESM26's roll (moved a day by Juneteenth), the 2026-06-10 trade date,
    // opens 2026-06-09 22:00 UTC.
    assert_eq!(
        es(2026, ContractMonth::M).rolls_at(),
        at("2026-06-09T22:00:00Z")
    );
}

#[test]
fn each_vendor_spells_the_contract_its_way() {
    let z25 = es(2025, ContractMonth::Z);
    assert_eq!(z25.spelled_for(Vendor::Databento), "ESZ5");
    assert_eq!(z25.spelled_for(Vendor::Massive), "ESZ5");
    assert_eq!(z25.spelled_for(Vendor::Tradovate), "ESZ5");
    assert_eq!(z25.spelled_for(Vendor::Ironbeam), "XCME:ES.Z25");
    let ym = Contract::new(Symbol::Ym, 2027, ContractMonth::H);
    assert_eq!(ym.spelled_for(Vendor::Ironbeam), "XCBT:YM.H27");
    let mnq = Contract::new(Symbol::Mnq, 2030, ContractMonth::U);
    assert_eq!(mnq.spelled_for(Vendor::Databento), "MNQU0");
    assert_eq!(mnq.code(), "MNQU30");
    // Never a bare root.
    for root in Symbol::ALL {
        let c = Contract::front(*root, d("2026-12-03"));
        for v in [
            Vendor::Databento,
            Vendor::Massive,
            Vendor::Ironbeam,
            Vendor::Tradovate,
        ] {
            assert_ne!(c.spelled_for(v), root.as_str());
        }
    }
}

#[test]
fn codes_round_trip_and_bad_codes_are_refused() {
    for root in Symbol::ALL {
        for m in ContractMonth::ALL {
            let c = Contract::new(*root, 2027, m);
            assert_eq!(Contract::parse(&c.code()), Some(c));
        }
    }
    assert_eq!(Contract::parse(" esz26 "), Some(es(2026, ContractMonth::Z)));
    for bad in [
        "ES", "ESZ", "ESZ6", "ESF26", "CLZ26", "ESZ2X", "", "ÉSZ26", "MES",
    ] {
        assert_eq!(Contract::parse(bad), None, "{bad}");
    }
}

#[test]
fn segments_cut_a_range_at_each_roll() {
    let segs = front_segments(
        Symbol::Nq,
        at("2026-12-01T00:00:00Z"),
        at("2027-03-20T00:00:00Z"),
    );
    let codes: Vec<String> = segs.iter().map(|s| s.contract.code()).collect();
    assert_eq!(codes, ["NQZ26", "NQH27", "NQM27"]);
    assert_eq!(segs[0].to, at("2026-12-09T23:00:00Z"));
    assert_eq!(segs[1].from, segs[0].to);
    // 2027-03-11 trade date opens 2027-03-10 17:00 CST = 23:00 UTC.
    assert_eq!(segs[1].to, at("2027-03-10T23:00:00Z"));
    assert_eq!(segs[2].to, at("2027-03-20T00:00:00Z"));
    // Inside one contract: one piece; an empty range: none.
    let one = front_segments(
        Symbol::Es,
        at("2026-12-02T00:00:00Z"),
        at("2026-12-03T00:00:00Z"),
    );
    assert_eq!(one.len(), 1);
    assert!(
        front_segments(
            Symbol::Es,
            at("2026-12-03T00:00:00Z"),
            at("2026-12-03T00:00:00Z")
        )
        .is_empty()
    );
}

#[test]
fn every_root_follows_the_quarterly_cycle_for_years() {
    // Walking day by day over ten years: the front contract only ever moves to `next`,
    // on its roll date, and is never expired.
    for root in Symbol::ALL {
        let mut day = d("2025-01-01");
        let mut front = Contract::front(*root, day);
        while day < d("2035-01-01") {
            let now = Contract::front(*root, day);
            if now != front {
                assert_eq!(now, front.next(), "{day}");
                assert_eq!(day, front.roll_date(), "{day}");
                front = now;
            }
            assert!(day < now.last_trade_date());
            day = day.succ_opt().unwrap();
        }
    }
}
#[test]
fn nkd_ends_the_business_day_before_the_second_friday() {
    let nkd = |year, month| Contract::new(Symbol::Nkd, year, month);
    // (contract, second Friday, last trade day, roll date): the Thursday before the
    // second Friday, and the roll the Wednesday a week before that.
    for (c, second_friday, last, roll) in [
        (
            nkd(2025, ContractMonth::Z),
            "2025-12-12",
            "2025-12-11",
            "2025-12-03",
        ),
        (
            nkd(2026, ContractMonth::H),
            "2026-03-13",
            "2026-03-12",
            "2026-03-04",
        ),
        (
            nkd(2026, ContractMonth::M),
            "2026-06-12",
            "2026-06-11",
            "2026-06-03",
        ),
        (
            nkd(2026, ContractMonth::U),
            "2026-09-11",
            "2026-09-10",
            "2026-09-02",
        ),
        (
            nkd(2026, ContractMonth::Z),
            "2026-12-11",
            "2026-12-10",
            "2026-12-02",
        ),
        (
            nkd(2027, ContractMonth::H),
            "2027-03-12",
            "2027-03-11",
            "2027-03-03",
        ),
    ] {
        let friday = d(second_friday);
        assert_eq!(
            NaiveDate::from_weekday_of_month_opt(c.year, c.month.number(), Weekday::Fri, 2),
            Some(friday),
            "{c}"
        );
        assert_eq!(c.last_trade_date(), d(last), "{c}");
        assert_eq!(c.roll_date(), d(roll), "{c}");
    }
    // Not the third Friday's rule: a week and a day earlier than ES's expiry.
    let (es_z26, nkd_z26) = (es(2026, ContractMonth::Z), nkd(2026, ContractMonth::Z));
    assert_eq!(
        es_z26.last_trade_date() - nkd_z26.last_trade_date(),
        Duration::days(8)
    );
    // For decades: a Thursday from the 7th to the 13th (no US closure or Japanese holiday
    // lands there in a quarterly month), rolling on a Wednesday.
    for year in 2010..2060 {
        for m in ContractMonth::ALL {
            let c = nkd(year, m);
            let last = c.last_trade_date();
            assert_eq!(last.weekday(), Weekday::Thu, "{c}");
            assert!((7..=13).contains(&last.day()), "{c}");
            assert_eq!(c.roll_date().weekday(), Weekday::Wed, "{c}");
        }
    }
}

#[test]
fn a_closed_day_moves_the_expiry_to_the_business_day_before() {
    // The rule's business-day step, with closures the calendar does not have (a closure on
    // NKD's Thursday moves it to the Wednesday; two to the Tuesday; a weekend is skipped).
    let thursday = d("2026-12-10");
    let shut = |days: &'static [&'static str]| {
        move |day: NaiveDate| {
            closed(day) || days.iter().any(|s| s.parse::<NaiveDate>().unwrap() == day)
        }
    };
    assert_eq!(business_day_on_or_before(thursday, shut(&[])), thursday);
    assert_eq!(
        business_day_on_or_before(thursday, shut(&["2026-12-10"])),
        d("2026-12-09")
    );
    assert_eq!(
        business_day_on_or_before(thursday, shut(&["2026-12-10", "2026-12-09"])),
        d("2026-12-08")
    );
    assert_eq!(
        business_day_on_or_before(d("2026-12-08"), shut(&["2026-12-08", "2026-12-07"])),
        d("2026-12-04")
    );
}

#[test]
fn the_added_roots_roll_across_quarters_and_year_ends() {
    // (root, trade date, front contract).
    for (root, date, front) in [
        // M2K and EMD: the third-Friday roots' roll, Thursday 2026-12-10, into 2027.
        (Symbol::M2k, "2026-12-09", "M2KZ26"),
        (Symbol::M2k, "2026-12-10", "M2KH27"),
        (Symbol::M2k, "2027-01-04", "M2KH27"),
        (Symbol::Emd, "2027-12-08", "EMDZ27"),
        (Symbol::Emd, "2027-12-09", "EMDH28"),
        (Symbol::Emd, "2026-03-11", "EMDH26"),
        (Symbol::Emd, "2026-03-12", "EMDM26"),
        // MYM: Juneteenth moved June 2026's expiry to the Thursday, the roll to Wednesday.
        (Symbol::Mym, "2026-06-09", "MYMM26"),
        (Symbol::Mym, "2026-06-10", "MYMU26"),
        (Symbol::Mym, "2025-12-10", "MYMZ25"),
        (Symbol::Mym, "2025-12-11", "MYMH26"),
        // NKD: a week earlier, the Wednesday before the week of its Thursday expiry.
        (Symbol::Nkd, "2026-12-01", "NKDZ26"),
        (Symbol::Nkd, "2026-12-02", "NKDH27"),
        (Symbol::Nkd, "2026-12-09", "NKDH27"),
        (Symbol::Nkd, "2026-06-02", "NKDM26"),
        (Symbol::Nkd, "2026-06-03", "NKDU26"),
        // December 2027's second Friday is the 10th: the last trade day the 9th, the roll
        // Wednesday 2027-12-01.
        (Symbol::Nkd, "2027-11-30", "NKDZ27"),
        (Symbol::Nkd, "2027-12-01", "NKDH28"),
    ] {
        assert_eq!(
            Contract::front(root, d(date)).code(),
            front,
            "{root} {date}"
        );
    }
    // The instant: the 2026-12-02 trade date opens 2026-12-01 17:00 CST = 23:00 UTC.
    assert_eq!(
        Contract::front_at(Symbol::Nkd, at("2026-12-01T22:59:59Z")).code(),
        "NKDZ26"
    );
    assert_eq!(
        Contract::front_at(Symbol::Nkd, at("2026-12-01T23:00:00Z")).code(),
        "NKDH27"
    );
    let segs = front_segments(
        Symbol::Nkd,
        at("2026-11-20T00:00:00Z"),
        at("2027-03-20T00:00:00Z"),
    );
    let codes: Vec<String> = segs.iter().map(|s| s.contract.code()).collect();
    assert_eq!(codes, ["NKDZ26", "NKDH27", "NKDM27"]);
    // 2027-03-03 trade date opens 2027-03-02 17:00 CST = 23:00 UTC.
    assert_eq!(segs[1].to, at("2027-03-02T23:00:00Z"));
}

#[test]
fn the_added_roots_are_spelled_as_each_vendor_lists_them() {
    let c = |root, year, month| Contract::new(root, year, month);
    let m2k = c(Symbol::M2k, 2026, ContractMonth::Z);
    assert_eq!(m2k.code(), "M2KZ26");
    assert_eq!(m2k.spelled_for(Vendor::Databento), "M2KZ6");
    assert_eq!(m2k.spelled_for(Vendor::Massive), "M2KZ6");
    assert_eq!(m2k.spelled_for(Vendor::Tradovate), "M2KZ6");
    assert_eq!(m2k.spelled_for(Vendor::Ironbeam), "XCME:M2K.Z26");
    // The micro Dow is CBOT's, like YM.
    let mym = c(Symbol::Mym, 2027, ContractMonth::H);
    assert_eq!(mym.spelled_for(Vendor::Databento), "MYMH7");
    assert_eq!(mym.spelled_for(Vendor::Ironbeam), "XCBT:MYM.H27");
    let emd = c(Symbol::Emd, 2026, ContractMonth::U);
    assert_eq!(emd.spelled_for(Vendor::Tradovate), "EMDU6");
    assert_eq!(emd.spelled_for(Vendor::Ironbeam), "XCME:EMD.U26");
    let nkd = c(Symbol::Nkd, 2027, ContractMonth::M);
    assert_eq!(nkd.spelled_for(Vendor::Massive), "NKDM7");
    assert_eq!(nkd.spelled_for(Vendor::Ironbeam), "XCME:NKD.M27");
    // The digit in M2K's root is no year: codes parse back, one-digit years do not.
    assert_eq!(Contract::parse("m2kz26"), Some(m2k));
    assert_eq!(Contract::parse("NKDM27"), Some(nkd));
    for bad in ["M2K", "M2KZ6", "M2Z26", "NKDF27", "MYM27"] {
        assert_eq!(Contract::parse(bad), None, "{bad}");
    }
}
