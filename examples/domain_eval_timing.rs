//! p50/p99/max of one domain evaluation (strategy + every gate + PAPER sim fill) over 100k
//! runs per strategy: `cargo run --release --example domain_eval_timing [runs]`.

use std::hint::black_box;
use std::time::Instant;
use tradeplane::domain::evaluation::{Evaluation, evaluate_bar};

#[path = "../benches/support/domain_scenario.rs"]
mod scenario;

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let s = scenario::Scenario::new();
    for (name, config) in scenario::configs() {
        let input = s.input(&config);
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
