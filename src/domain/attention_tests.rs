use super::*;
use chrono::TimeZone;

fn t(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap() + Duration::minutes(min)
}

fn bot(name: &str) -> BotRef {
    BotRef {
        id: Uuid::now_v7(),
        name: name.to_owned(),
    }
}

fn killed_fact(name: &str, contracts: i64, orders: i64, ack: Option<&str>) -> Fact {
    Fact::Killed(KilledFact {
        bot: bot(name),
        since: t(0),
        contracts_held: contracts,
        working_orders: orders,
        acknowledged_by: ack.map(str::to_owned),
        reason: None,
    })
}

fn suspended_fact(name: &str, codes: &[&str], since: DateTime<Utc>) -> Fact {
    Fact::Suspended(SuspendedFact {
        bot: bot(name),
        since,
        blocked_codes: codes.iter().map(|c| (*c).to_owned()).collect(),
    })
}

#[test]
fn nothing_is_an_empty_queue() {
    assert!(queue(vec![], t(0)).is_empty());
}

#[test]
fn a_killed_bot_with_exposure_is_sev1_until_acknowledged_and_sev2_once_flat() {
    let q = queue(vec![killed_fact("alpha", -2, 0, None)], t(5));
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].code, ErrorCode::KilledWithExposure);
    assert_eq!(q[0].severity, Severity::Sev1);
    assert!(
        q[0].message.starts_with("alpha is KILLED"),
        "{}",
        q[0].message
    );
    assert!(
        q[0].message
            .contains("-2 contract(s) and 0 working order(s)")
    );
    let Subject::Bot(b) = &q[0].subject else {
        panic!("subject {:?}", q[0].subject)
    };
    assert_eq!(q[0].link, format!("/bots/{}", b.id));
    assert_eq!(q[0].fix, ErrorCode::KilledWithExposure.suggested_fix());

    let q = queue(vec![killed_fact("alpha", 0, 1, Some("root@x"))], t(5));
    assert_eq!(
        (q[0].code, q[0].severity),
        (ErrorCode::KilledWithExposure, Severity::Sev2)
    );
    assert!(q[0].message.contains("root@x acknowledged it"));

    let q = queue(vec![killed_fact("alpha", 0, 0, None)], t(5));
    assert_eq!(
        (q[0].code, q[0].severity),
        (ErrorCode::BotKilled, Severity::Sev2)
    );
}

#[test]
fn a_killed_item_says_why() {
    let q = queue(
        vec![Fact::Killed(KilledFact {
            bot: bot("alpha"),
            since: t(0),
            contracts_held: 1,
            working_orders: 0,
            acknowledged_by: None,
            reason: Some("daily loss 1650.00 USD breached the 1500.00 USD limit".into()),
        })],
        t(1),
    );
    assert_eq!(
        q[0].message,
        "alpha is KILLED (daily loss 1650.00 USD breached the 1500.00 USD limit) and still holds 1 contract(s) and 0 working order(s): nobody manages that exposure."
    );
}

#[test]
fn suspension_by_the_calendar_alone_needs_nobody_stale_data_is_named() {
    let q = queue(
        vec![
            suspended_fact("closed", &["MARKET_CLOSED"], t(0)),
            suspended_fact("stale", &["DATA_STALE", "MARKET_CLOSED"], t(1)),
            suspended_fact("nodata", &["DATA_UNAVAILABLE"], t(2)),
            suspended_fact("tier", &["AUTONOMY_TIER_INSUFFICIENT"], t(3)),
            suspended_fact("unknown", &[], t(4)),
        ],
        t(10),
    );
    let got: Vec<_> = q.iter().map(|i| (i.code, i.message.clone())).collect();
    assert_eq!(q.len(), 4, "{got:?}");
    assert_eq!(q[0].code, ErrorCode::DataStale);
    assert!(q[0].message.starts_with("stale is SUSPENDED"));
    assert_eq!(q[1].code, ErrorCode::DataUnavailable);
    assert_eq!(q[2].code, ErrorCode::BotSuspended);
    assert!(q[2].message.contains("AUTONOMY_TIER_INSUFFICIENT"));
    assert!(q[3].message.contains("no blocked evaluation recorded yet"));
    assert!(q.iter().all(|i| i.severity == Severity::Sev2));
}

#[test]
fn ordered_by_severity_then_oldest_first() {
    let job = Fact::JobFailed(JobFact {
        id: Uuid::now_v7(),
        kind: "backtest".into(),
        status: "FAILED".into(),
        finished_at: t(-30),
        error_code: Some("DATA_UNAVAILABLE".into()),
        error: Some("no bars".into()),
        bot: None,
    });
    let system = Fact::System(SystemFact {
        code: ErrorCode::SchedulerStalled,
        severity: Severity::Sev1,
        message: "The bar clock is Stalled".into(),
        fix: "restart".into(),
    });
    let q = queue(
        vec![
            job,
            suspended_fact("newer", &["RISK_LIMIT_BREACHED"], t(3)),
            system,
            killed_fact("killed", 1, 0, None),
            suspended_fact("older", &["RISK_LIMIT_BREACHED"], t(1)),
        ],
        t(10),
    );
    let order: Vec<_> = q.iter().map(|i| (i.severity, i.code)).collect();
    assert_eq!(
        order,
        vec![
            (Severity::Sev1, ErrorCode::KilledWithExposure),
            (Severity::Sev1, ErrorCode::SchedulerStalled),
            (Severity::Sev2, ErrorCode::BotSuspended),
            (Severity::Sev2, ErrorCode::BotSuspended),
            (Severity::Sev3, ErrorCode::JobFailed),
        ]
    );
    assert!(q[2].message.starts_with("older"));
    assert!(q[3].message.starts_with("newer"));
    assert_eq!(q[4].link, "/jobs?status=FAILED");
    assert!(q[4].message.contains("DATA_UNAVAILABLE: no bars"));
}

#[test]
fn failed_jobs_leave_the_queue_after_a_day() {
    let job = |finished_at| {
        Fact::JobFailed(JobFact {
            id: Uuid::now_v7(),
            kind: "backtest".into(),
            status: "TIMEOUT".into(),
            finished_at,
            error_code: None,
            error: None,
            bot: Some(bot("b")),
        })
    };
    assert_eq!(queue(vec![job(t(0))], t(0) + FAILED_JOB_WINDOW).len(), 1);
    assert!(queue(vec![job(t(0))], t(1) + FAILED_JOB_WINDOW).is_empty());
}

#[test]
fn breakers_are_sev1_only_on_live_bots_and_link_their_subject() {
    let b = bot("runner");
    let q = queue(
        vec![
            Fact::BreakerOpen(BreakerFact {
                subject: Subject::Provider("databento".into()),
                scope: "provider:databento".into(),
                opened_at: Some(t(1)),
                live: false,
                node: None,
            }),
            Fact::BreakerOpen(BreakerFact {
                subject: Subject::Bot(b.clone()),
                scope: format!("bot:{}", b.id),
                opened_at: Some(t(2)),
                live: true,
                node: None,
            }),
            Fact::BreakerOpen(BreakerFact {
                subject: Subject::Provider("polygon".into()),
                scope: "provider:polygon".into(),
                opened_at: Some(t(2)),
                live: false,
                node: Some("node-b".into()),
            }),
        ],
        t(3),
    );
    assert_eq!(q[0].severity, Severity::Sev1);
    assert_eq!(q[0].link, format!("/bots/{}", b.id));
    assert!(q[0].message.contains("bot runner's runner"));
    assert!(!q[0].message.contains("node"), "{}", q[0].message);
    assert_eq!(q[1].severity, Severity::Sev2);
    assert_eq!(q[1].link, "/connections");
    assert!(q[1].message.contains("provider databento"));
    // Another node's: named, and reset through that node.
    assert_eq!(q[2].severity, Severity::Sev2);
    assert!(
        q[2].message
            .contains("provider polygon is OPEN on node node-b"),
        "{}",
        q[2].message
    );
    assert!(q[2].fix.contains("through node node-b"), "{}", q[2].fix);
}

#[test]
fn an_unowned_bot_counts_only_past_the_lease_ttl_from_this_nodes_start() {
    let fact = |since, node_started_at| {
        Fact::Unowned(UnownedFact {
            bot: bot("orphan"),
            status: "RUNNING".into(),
            since,
            node_started_at,
            lease_ttl: Duration::seconds(15),
        })
    };
    // Lease expired long ago, but this node started 10 s ago: not yet.
    assert!(queue(vec![fact(t(0), t(10) - Duration::seconds(10))], t(10)).is_empty());
    let q = queue(vec![fact(t(0), t(0))], t(1));
    assert_eq!(
        (q[0].code, q[0].severity),
        (ErrorCode::BotUnowned, Severity::Sev1)
    );
    assert_eq!(q[0].link, "/nodes");
    assert!(q[0].message.contains("for 60.0 s"), "{}", q[0].message);
}

#[test]
fn status_blockers_covered_per_subject_are_not_listed_twice() {
    let sys = |code: ErrorCode| {
        Fact::System(SystemFact {
            code,
            severity: Severity::Sev2,
            message: code.message().into(),
            fix: code.suggested_fix().into(),
        })
    };
    let q = queue(
        vec![
            sys(ErrorCode::CircuitBreakerOpen),
            sys(ErrorCode::BotKilled),
            sys(ErrorCode::ExecutionBrokerUnavailable),
        ],
        t(0),
    );
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].code, ErrorCode::ExecutionBrokerUnavailable);
    assert_eq!(q[0].subject, Subject::System);
    assert_eq!(q[0].link, "/connections");
    assert_eq!(q[0].since, None);
}

#[test]
fn a_reconciliation_mismatch_links_the_reconciliation_view() {
    let q = queue(
        vec![Fact::System(SystemFact {
            code: ErrorCode::ReconciliationMismatch,
            severity: Severity::Sev1,
            message: "bot es-live: ESZ6 ours 0, broker 1".into(),
            fix: ErrorCode::ReconciliationMismatch.suggested_fix().into(),
        })],
        t(0),
    );
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].link, "/reconciliation");
}

#[test]
fn a_latched_account_is_sev1_and_links_the_reconciliation_view() {
    let q = queue(
        vec![Fact::System(SystemFact {
            code: ErrorCode::AccountDailyLossLatched,
            severity: Severity::Sev1,
            message: "ironbeam account ACC-1 latched".into(),
            fix: ErrorCode::AccountDailyLossLatched.suggested_fix().into(),
        })],
        t(0),
    );
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].severity, Severity::Sev1);
    assert_eq!(q[0].link, "/reconciliation");
}

#[test]
fn a_failing_provider_and_a_failed_live_bot() {
    let q = queue(
        vec![
            Fact::ProviderFailing(ProviderFact {
                provider_id: "polygon".into(),
                breaker_state: "HALF_OPEN",
                recent_calls: 4,
                recent_ok: 1,
                last_error_code: Some("PROVIDER_HTTP_5XX".into()),
                last_error_at: Some(t(1)),
            }),
            Fact::Failed(FailedBotFact {
                bot: bot("live-es"),
                since: t(2),
                live: true,
                last_error: Some("BOT_RESTART_REFUSED".into()),
            }),
        ],
        t(3),
    );
    assert_eq!(
        (q[0].code, q[0].severity),
        (ErrorCode::BotFailed, Severity::Sev1)
    );
    assert_eq!(
        q[0].message,
        "LIVE bot live-es is in ERROR and not running: BOT_RESTART_REFUSED."
    );
    assert_eq!(q[1].code, ErrorCode::ProviderFailing);
    assert_eq!(
        q[1].message,
        "polygon is failing: breaker HALF_OPEN, 1/4 calls ok in 15 min, last error PROVIDER_HTTP_5XX."
    );
}

fn held(name: &str, live: bool, quantity: i64, decided: DateTime<Utc>) -> Fact {
    Fact::HeldPosition(HeldPositionFact {
        bot: bot(name),
        live,
        symbol: Symbol::Es,
        quantity,
        last_decided_at: Some(decided),
    })
}

#[test]
fn a_position_on_a_contract_past_its_roll_needs_a_human_and_sev1_when_live() {
    // ESU26 rolls to ESZ26 eight days before its September expiry; now is December 2nd.
    let september = Utc.with_ymd_and_hms(2026, 8, 20, 15, 0, 0).unwrap();
    let items = queue(
        vec![
            held("paper-u6", false, 2, september),
            held("live-u6", true, -1, september),
            held("on-front", true, 1, t(-60)),
        ],
        t(0),
    );
    assert_eq!(items.len(), 2, "{items:#?}");
    let live = &items[0];
    assert_eq!(
        (live.code, live.severity),
        (ErrorCode::PositionPastRoll, Severity::Sev1)
    );
    assert_eq!(
        live.message,
        "live-u6 holds -1 ESU26 past its roll to ESZ26 (last trade day 2026-09-18): its roll exit has not gone through."
    );
    assert_eq!(
        live.since,
        Some(Contract::front_at(Symbol::Es, september).rolls_at())
    );
    assert!(live.link.starts_with("/bots/"));
    assert_eq!(items[1].severity, Severity::Sev2);
    assert!(items[1].message.starts_with("paper-u6 holds 2 ESU26"));
    // Without a fill to name the contract nothing is judged.
    let unknown = Fact::HeldPosition(HeldPositionFact {
        bot: bot("no-fills"),
        live: true,
        symbol: Symbol::Es,
        quantity: 1,
        last_decided_at: None,
    });
    assert!(queue(vec![unknown], t(0)).is_empty());
}
