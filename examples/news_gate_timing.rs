//! Issue 19's figure: evaluation p99 with the news gate on stays within 10 % of without. One
//! run, side by side and interleaved (gate off, gate on, alternating which goes first), on the
//! domain scenario (`benches/support/domain_scenario.rs`: 100 ES 1m bars, every gate passing,
//! ENTRY + PAPER fill). "On" does what a runner does per evaluation: takes the cached
//! classification snapshot (`NewsCache::snapshot`, an `Arc` clone under a read lock, holding
//! 500 classified risk-off headlines, none inside the window so the outcome is the same
//! decision) and evaluates with `strategy.filters.news_gate` set. Classification itself runs
//! off the hot path (the news poller), so it is not in the loop.
//!
//! `cargo run --release --example news_gate_timing [runs] [rounds]` (default 100000 × 3).

use std::hint::black_box;
use std::time::Instant;

use chrono::Duration;
use tradeplane::domain::evaluation::{Evaluation, EvaluationInput, evaluate_bar};
use tradeplane::domain::news::{NewsGateFilter, NewsSnapshot, RiskOffHeadline};
use tradeplane::domain::strategy_filters::{FilterData, FilterReadings, StrategyFilters};
use tradeplane::runtime::news::NewsCache;

#[path = "../benches/support/domain_scenario.rs"]
mod scenario;

fn outcome(e: &Evaluation) -> String {
    match e {
        Evaluation::Decision(d) => format!("decision {:?}", d.decision_type),
        Evaluation::NoTrade(n) => format!("no-trade {}", n.reason_code),
    }
}

fn pct(ns: &mut [u128], p: f64) -> f64 {
    ns.sort_unstable();
    ns[((ns.len() as f64 * p) as usize).min(ns.len() - 1)] as f64 / 1000.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let s = scenario::Scenario::new();
    let (_, config) = scenario::configs().remove(0);
    let off = s.input(&config);
    let now = off.gates.now;

    // 500 risk-off headlines, the newest 31 minutes old: read, compared, none blocks.
    let cache = NewsCache::default();
    cache.set(NewsSnapshot::new(
        (0..500)
            .map(|i| RiskOffHeadline {
                provider_id: "finnhub".into(),
                headline_id: 10_000 - i,
                headline: format!("Stocks plunge as recession fears grow ({i})"),
                source: "Reuters".into(),
                published_at: now - Duration::minutes(31 + i),
            })
            .collect(),
        None,
        Some(now),
    ));
    let filters = StrategyFilters {
        news_gate: Some(NewsGateFilter { window_minutes: 30 }),
        ..StrategyFilters::default()
    };
    let data = FilterData::default();
    let on = |snap: &NewsSnapshot| -> Evaluation {
        let mut input: EvaluationInput<'_> = off.clone();
        input.gates.filters = FilterReadings {
            filters: &filters,
            data: &data,
            news: snap,
        };
        evaluate_bar(&input)
    };
    let off_eval = |input: &EvaluationInput<'_>| -> Evaluation {
        let input = input.clone();
        evaluate_bar(&input)
    };
    let (a, b) = (off_eval(&off), on(&cache.snapshot()));
    assert_eq!(outcome(&a), outcome(&b), "the same decision either way");
    println!(
        "scenario: sma_crossover_10_30, outcome {} (gate off and on), {runs} runs × {rounds} rounds",
        outcome(&a)
    );
    // A blocked evaluation, for the record (not the figure).
    let mut blocked = (*cache.snapshot()).clone();
    blocked.risk_off[0].published_at = now - Duration::minutes(5);
    println!(
        "blocked variant (headline 5 min old): {}",
        outcome(&on(&blocked))
    );
    for _ in 0..2_000 {
        black_box(off_eval(black_box(&off)));
        black_box(on(&cache.snapshot()));
    }
    for round in 1..=rounds {
        let mut t_off = Vec::with_capacity(runs);
        let mut t_on = Vec::with_capacity(runs);
        for i in 0..runs {
            let time_off = |t: &mut Vec<u128>| {
                let t0 = Instant::now();
                black_box(off_eval(black_box(&off)));
                t.push(t0.elapsed().as_nanos());
            };
            let time_on = |t: &mut Vec<u128>| {
                let t0 = Instant::now();
                let snap = cache.snapshot();
                black_box(on(black_box(&snap)));
                t.push(t0.elapsed().as_nanos());
            };
            if i % 2 == 0 {
                time_off(&mut t_off);
                time_on(&mut t_on);
            } else {
                time_on(&mut t_on);
                time_off(&mut t_off);
            }
        }
        let (p50_off, p99_off) = (pct(&mut t_off, 0.50), pct(&mut t_off, 0.99));
        let (p50_on, p99_on) = (pct(&mut t_on, 0.50), pct(&mut t_on, 0.99));
        println!(
            "round {round}: gate off p50 {p50_off:.2} µs p99 {p99_off:.2} µs | gate on p50 {p50_on:.2} µs p99 {p99_on:.2} µs | p99 on/off {:.3} ({:+.1} %)",
            p99_on / p99_off,
            (p99_on / p99_off - 1.0) * 100.0
        );
    }
}
