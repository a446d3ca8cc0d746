//! The Prometheus series recorded as things happen (`/metrics`): one place names them, so the
//! code that records, the exposition and the shipped dashboard and alert rules
//! (`ops/grafana`, `ops/prometheus`) agree.
//!
//! Two kinds of series reach `/metrics`:
//! - **Events** (this module): counters and histograms recorded where the event happens through
//!   the `metrics` facade, into the process's one recorder (`api::metrics::handle`).
//! - **State** (`api::metrics::fleet`): gauges and totals read from the runtime's own snapshots
//!   at scrape time (runners by state, breakers, queues, pool, streams), so they are exactly
//!   what the status endpoint says, never a second bookkeeping.
//!
//! Labels are bounded sets only: a status, a provider id, a catalog code. Never a bot id.

use std::time::Duration;

pub mod otlp;

/// Histogram buckets (seconds) for every `*_seconds` series: 1 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Scheduler tick lag: when a bar boundary fired minus the boundary.
pub const TICK_LAG: &str = "tradeplane_tick_lag_seconds";
/// Bot evaluations by outcome (`decided`, `no_trade`, `blocked`, `killed`).
pub const EVALUATIONS: &str = "tradeplane_evaluations_total";
/// No-trade evaluations by their reason code (folded repeats count, one per evaluation).
pub const NO_TRADES: &str = "tradeplane_no_trades_total";
/// Provider calls by provider and result (`ok`, `error`, `verify`).
pub const PROVIDER_CALLS: &str = "tradeplane_provider_calls_total";
/// Failed provider calls by provider and error code (breaker refusals included).
pub const PROVIDER_ERRORS: &str = "tradeplane_provider_errors_total";
/// Provider call latency by provider.
pub const PROVIDER_LATENCY: &str = "tradeplane_provider_call_duration_seconds";

/// One scheduler tick, `lag` after its boundary.
pub fn tick_lag(lag: Duration) {
    metrics::histogram!(TICK_LAG).record(lag.as_secs_f64());
}

/// How an evaluation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvaluationOutcome {
    /// A decision (an order intent, or a recorded decision without one).
    Decided,
    /// No trade, by the strategy's own signal.
    NoTrade,
    /// No trade because a gate blocked it.
    Blocked,
    /// The evaluation fired a kill trigger.
    Killed,
}

impl EvaluationOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            EvaluationOutcome::Decided => "decided",
            EvaluationOutcome::NoTrade => "no_trade",
            EvaluationOutcome::Blocked => "blocked",
            EvaluationOutcome::Killed => "killed",
        }
    }
}

pub fn evaluation(outcome: EvaluationOutcome) {
    metrics::counter!(EVALUATIONS, "outcome" => outcome.as_str()).increment(1);
}

/// One no-trade evaluation with its reason code (a catalog code: a bounded set).
pub fn no_trade(code: &str) {
    metrics::counter!(NO_TRADES, "code" => code.to_owned()).increment(1);
}

/// One provider call: its result, its error code when it failed, and how long it took.
pub fn provider_call(
    provider: &'static str,
    result: &'static str,
    error: Option<&str>,
    took: Duration,
) {
    metrics::counter!(PROVIDER_CALLS, "provider" => provider, "result" => result).increment(1);
    metrics::histogram!(PROVIDER_LATENCY, "provider" => provider).record(took.as_secs_f64());
    if let Some(code) = error {
        metrics::counter!(PROVIDER_ERRORS, "provider" => provider, "code" => code.to_owned())
            .increment(1);
    }
}
