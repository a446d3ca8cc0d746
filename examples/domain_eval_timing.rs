//! p50/p99/max of one domain evaluation (strategy + every gate + PAPER sim fill) over 100k
//! runs per strategy, then each again with the economic-calendar filter on over a calendar of
//! 10,000 stored events: `cargo run --release --example domain_eval_timing [runs]`.

use std::hint::black_box;
use std::time::Instant;
use tradeplane::domain::economic_calendar::{CalendarSnapshot, EconomicEvent};
use tradeplane::domain::evaluation::{Evaluation, evaluate_bar};
use tradeplane::domain::strategy_filters::{
    EconomicCalendarFilter, FilterData, FilterReadings, StrategyFilters,
};

#[path = "../benches/support/domain_scenario.rs"]
mod scenario;

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let s = scenario::Scenario::new();
    let filters = StrategyFilters {
        economic_calendar: Some(EconomicCalendarFilter::default()),
        ..Default::default()
    };
    let data = calendar_around(s.input(&scenario::configs()[0].1).gates.now);
    for ((name, config), filtered) in scenario::configs()
        .into_iter()
        .flat_map(|c| [(c.clone(), false), (c, true)])
    {
        let mut input = s.input(&config);
        if filtered {
            input.gates.filters = FilterReadings {
                filters: &filters,
                data: &data,
                ..input.gates.filters
            };
        }
        let name = if filtered {
            format!("{name}+calendar")
        } else {
            name.to_string()
        };
        let kind = match evaluate_bar(&input) {
            Evaluation::Decision(d) => format!("decision {:?}", d.decision_type),
            Evaluation::NoTrade(n) => format!("no-trade {}", n.reason_code),
        };
        for _ in 0..1_000 {
            black_box(evaluate_bar(black_box(&input)));
        }
        let mut ns: Vec<u128> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                black_box(evaluate_bar(black_box(&input)));
                t.elapsed().as_nanos()
            })
            .collect();
        ns.sort_unstable();
        let pct = |p: f64| ns[((runs as f64 * p) as usize).min(runs - 1)] as f64 / 1000.0;
        println!(
            "{name:<22} {kind:<28} runs {runs}  p50 {:.2} µs  p99 {:.2} µs  max {:.2} µs",
            pct(0.50),
            pct(0.99),
            ns[runs - 1] as f64 / 1000.0
        );
    }
}

/// 10,000 events every 9 minutes around `now` (none within 15 minutes of it), fetched an hour
/// ago, covering them all: the filter passes after looking.
fn calendar_around(now: chrono::DateTime<chrono::Utc>) -> FilterData {
    let start = now - chrono::Duration::minutes(9 * 5_000 + 4);
    let events: Vec<EconomicEvent> = (0..10_000)
        .map(|i| EconomicEvent {
            event: format!("Event {i}"),
            country: if i % 2 == 0 { "US" } else { "EU" }.into(),
            impact: "High".into(),
            event_at: start + chrono::Duration::minutes(9 * i),
        })
        .filter(|e| (e.event_at - now).num_minutes().abs() > 15)
        .collect();
    let covers = vec![(
        start - chrono::Duration::days(1),
        now + chrono::Duration::days(60),
    )];
    FilterData {
        calendar: Some(CalendarSnapshot {
            events,
            fetched_at: Some(now - chrono::Duration::hours(1)),
            covers,
        }),
        ..Default::default()
    }
}
