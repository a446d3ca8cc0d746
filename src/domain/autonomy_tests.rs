use super::*;

/// Scoring is pure: any fixed instant will do.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_678_547, 0).unwrap()
}

/// A healthy PAPER bot with a week of history.
fn healthy() -> Evidence {
    let now = now();
    Evidence {
        now,
        bar_seconds: 60,
        bar_reads_24h: 1000,
        last_bar_read_ok_at: Some(now),
        usage_ok_24h: 1000,
        runner_ticks: 100,
        runner_evaluations: 100,
        traces_24h: 1000,
        last_decision_at: Some(now - Duration::hours(1)),
        closed_trades_30d: 20,
        winning_trades_30d: 12,
        realized: Some(Realized {
            source: RealizedSource::Paper,
            trades: 20,
            net_pnl: rust_decimal::Decimal::new(1250, 0),
        }),
        orders_7d: 40,
        filled_7d: 40,
        fills_total: 40,
        runner_up: true,
        ever_ran: true,
        breaker_state: BreakerState::Closed,
        feed_breaker_state: BreakerState::Closed,
        heartbeat_age_secs: Some(1),
        heartbeat_timeout_secs: 10,
        supervisor_loop_ok: true,
        data_feed_ok: true,
        broker_ok: true,
        ..Evidence::default()
    }
}

#[test]
fn healthy_with_every_gate_is_full_autonomy() {
    let s = score(&healthy());
    assert_eq!(s.autonomy_score, 100);
    assert_eq!(s.tier, AutonomyTier::FullAutonomy);
    assert!(s.gates.iter().all(|g| g.passed));
}

#[test]
fn no_evidence_is_locked() {
    let s = score(&Evidence {
        now: now(),
        breaker_state: BreakerState::Closed,
        ..Evidence::default()
    });
    assert_eq!(s.autonomy_score, 0);
    assert_eq!(s.tier, AutonomyTier::Locked);
}

#[test]
fn a_missing_broker_caps_at_limited_and_names_the_gate() {
    let s = score(&Evidence {
        broker_ok: false,
        ..healthy()
    });
    assert_eq!(s.tier, AutonomyTier::LimitedAutonomy);
    let g = s.gates.iter().find(|g| g.gate == "broker_healthy").unwrap();
    assert!(!g.passed);
    assert!(!g.fix.is_empty());
    // It lowers execution health too, and says why.
    assert_eq!(s.execution_health.score, 75);
    assert_eq!(s.execution_health.note, "no broker is healthy");
    assert_eq!(s.execution_health.evidence["broker_ok"], false);
    assert_eq!(s.autonomy_score, 95);
}

#[test]
fn every_missing_system_signal_lowers_its_sub_score_never_raises_it() {
    let full = score(&healthy());
    let s = score(&Evidence {
        supervisor_loop_ok: false,
        data_feed_ok: false,
        broker_ok: false,
        ..healthy()
    });
    assert_eq!(s.data_reliability.score, 50);
    assert_eq!(
        s.data_reliability.note,
        "no market-data provider is healthy"
    );
    assert_eq!(s.supervisor_trust.score, 50);
    assert_eq!(
        s.supervisor_trust.note,
        "the scheduler is not ticking on time"
    );
    assert_eq!(s.execution_health.score, 75);
    // 50 + 100 + 100 + 75 + 50 = 375 / 5.
    assert_eq!(s.autonomy_score, 75);
    assert_eq!(s.tier, AutonomyTier::LimitedAutonomy);
    // Floors at 0 and adds to what the sub-score already says.
    let stale = score(&Evidence {
        data_feed_ok: false,
        last_bar_read_ok_at: Some(now() - Duration::minutes(30)),
        ..healthy()
    });
    assert_eq!(stale.data_reliability.score, 0);
    assert_eq!(
        stale.data_reliability.note,
        "the bot's feed is not fresh; no market-data provider is healthy"
    );
    assert!(full.autonomy_score > s.autonomy_score);
}

#[test]
fn an_open_breaker_locks_and_lowers_supervisor_trust() {
    let s = score(&Evidence {
        breaker_state: BreakerState::Open,
        breaker_failures: 3,
        ..healthy()
    });
    assert_eq!(s.tier, AutonomyTier::Locked);
    assert_eq!(s.supervisor_trust.score, 0);
    assert_eq!(s.autonomy_score, 80);
}

#[test]
fn an_open_feed_breaker_locks_and_zeroes_data_reliability() {
    let s = score(&Evidence {
        feed_breaker_state: BreakerState::Open,
        ..healthy()
    });
    assert_eq!(s.tier, AutonomyTier::Locked);
    assert_eq!(s.data_reliability.score, 0);
    assert_eq!(s.supervisor_trust.score, 100);
    for name in ["not_killed_or_breaker_open", "no_open_breaker"] {
        let g = s.gates.iter().find(|g| g.gate == name).unwrap();
        assert!(!g.passed, "{name}");
        assert_eq!(g.evidence["feed_breaker_state"], "OPEN");
    }
    // HALF_OPEN lets a probe through: not locked.
    let s = score(&Evidence {
        feed_breaker_state: BreakerState::HalfOpen,
        ..healthy()
    });
    assert_eq!(s.tier, AutonomyTier::FullAutonomy);
}

#[test]
fn a_fresh_paper_bot_without_trades_is_supervised_not_limited() {
    // Running and explaining every bar, but no orders yet.
    let s = score(&Evidence {
        closed_trades_30d: 0,
        winning_trades_30d: 0,
        orders_7d: 0,
        filled_7d: 0,
        fills_total: 0,
        last_decision_at: None,
        ..healthy()
    });
    // data 100, decision 60, risk 100, execution 0, supervisor 100 → 72.
    assert_eq!(s.autonomy_score, 72);
    assert_eq!(s.tier, AutonomyTier::Supervised);
}

#[test]
fn stale_feed_and_read_errors_lower_data_reliability() {
    let now = healthy().now;
    let s = score(&Evidence {
        bar_read_errors_24h: 250,
        last_bar_read_ok_at: Some(now - Duration::minutes(30)),
        ..healthy()
    });
    // 75 % ok × freshness 0.5.
    assert_eq!(s.data_reliability.score, 38);
}

#[test]
fn kills_and_near_misses_lower_risk_discipline() {
    let s = score(&Evidence {
        kills_7d: 1,
        risk_blocks_24h: 50,
        ..healthy()
    });
    // 100 − 50 (kill) − min(50, 50/1000 × 500 = 25).
    assert_eq!(s.risk_discipline.score, 25);
}

#[test]
fn the_stored_breakdown_reads_back_as_the_score_wrote_it() {
    let s = score(&Evidence {
        fills_total: 0,
        ..healthy()
    });
    let stored = serde_json::to_value(s.breakdown()).unwrap();
    let keys: Vec<&str> = stored
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["gates", "sub_scores", "thresholds", "tier"]);
    assert_eq!(stored["tier"], "SUPERVISED");
    assert_eq!(
        stored["thresholds"][0],
        json!({"tier": "FULL_AUTONOMY", "min_score": 85})
    );
    let read: Breakdown = serde_json::from_value(stored).unwrap();
    assert_eq!(read, s.breakdown());
    let failed: Vec<&str> = read.failed_gates().map(|g| g.gate.as_ref()).collect();
    assert_eq!(failed, ["execution_evidence"]);
}

#[test]
fn a_losing_or_unproven_bot_cannot_hold_full_autonomy() {
    let full = score(&healthy());
    assert_eq!(full.tier, AutonomyTier::FullAutonomy);
    let losing = Evidence {
        realized: Some(Realized {
            source: RealizedSource::Paper,
            trades: 20,
            net_pnl: rust_decimal::Decimal::new(-300, 0),
        }),
        ..healthy()
    };
    let s = score(&losing);
    assert!(s.tier < AutonomyTier::FullAutonomy, "{:?}", s.tier);
    assert!(s.decision_quality.score < full.decision_quality.score);
    assert_eq!(s.decision_quality.note, "realized results are losing money");
    let gate = s
        .gates
        .iter()
        .find(|g| g.gate == "realized_results_not_losing")
        .unwrap();
    assert!(!gate.passed);
    // No realized results at all counts against the bot too.
    let unproven = score(&Evidence {
        realized: None,
        ..healthy()
    });
    assert!(unproven.tier < AutonomyTier::FullAutonomy);
    // A backtest stands in when there is no paper record.
    let backtested = score(&Evidence {
        realized: Some(Realized {
            source: RealizedSource::Backtest,
            trades: 30,
            net_pnl: rust_decimal::Decimal::new(10, 0),
        }),
        ..healthy()
    });
    assert_eq!(backtested.tier, AutonomyTier::FullAutonomy);
}
