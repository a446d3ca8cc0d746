//! One bot evaluation in `domain` (strategy + every gate + PAPER sim fill), no IO.
//! `cargo bench --bench domain`; p50/p99 over 100k runs: `cargo run --release --example domain_eval_timing`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tradeplane::domain::evaluation::evaluate_bar;

#[path = "support/domain_scenario.rs"]
mod scenario;

fn domain(c: &mut Criterion) {
    let s = scenario::Scenario::new();
    let mut group = c.benchmark_group("domain/evaluate");
    for (name, config) in scenario::configs() {
        let input = s.input(&config);
        group.bench_function(name, |b| b.iter(|| evaluate_bar(black_box(&input))));
    }
    group.finish();
}

criterion_group!(benches, domain);
criterion_main!(benches);
