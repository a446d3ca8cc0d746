//! The state series of `/metrics`, read from this server's runtime at scrape time. Each is
//! this process's own figure (the recorder is process-wide; these are not), so a scrape of a
//! node shows that node.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::api::AppState;
use crate::domain::{bot::BotStatus, breaker::BreakerState};

/// Renders every state series in the Prometheus text format.
pub fn render(state: &AppState) -> String {
    let rt = &state.runtime;
    let mut out = Exposition::default();

    let runners = rt.runners();
    let mut by_status: BTreeMap<&str, u64> =
        BotStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let mut bot_breakers: BTreeMap<&str, u64> =
        BreakerState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for r in &runners {
        *by_status.entry(r.status.as_str()).or_default() += 1;
        *bot_breakers.entry(r.breaker_state.as_str()).or_default() += 1;
    }
    out.family(
        "tradeplane_runners",
        "gauge",
        "Bot runners on this node by state.",
    );
    for (status, n) in &by_status {
        out.sample("tradeplane_runners", &[("state", status)], *n as f64);
    }
    out.family(
        "tradeplane_bot_breakers",
        "gauge",
        "Bot runner circuit breakers on this node by state.",
    );
    for (s, n) in &bot_breakers {
        out.sample("tradeplane_bot_breakers", &[("state", s)], *n as f64);
    }

    out.family(
        "tradeplane_provider_breaker_state",
        "gauge",
        "Provider circuit breakers: 1 for the state each provider's breaker is in.",
    );
    let providers = rt.providers_health();
    for p in &providers {
        for s in BreakerState::ALL {
            let on = f64::from(u8::from(p.breaker_state == s));
            let labels = [("provider", p.provider_id.as_str()), ("state", s.as_str())];
            out.sample("tradeplane_provider_breaker_state", &labels, on);
        }
    }
    out.family(
        "tradeplane_provider_success_ratio",
        "gauge",
        "Share of a provider's calls that succeeded in the last 15 minutes (absent without calls).",
    );
    for p in &providers {
        if let Some(rate) = p.success_rate {
            let labels = [("provider", p.provider_id.as_str())];
            out.sample("tradeplane_provider_success_ratio", &labels, rate);
        }
    }
    out.family(
        "tradeplane_provider_calls_refused_total",
        "counter",
        "Provider calls refused by an open breaker since start.",
    );
    for p in &providers {
        let labels = [("provider", p.provider_id.as_str())];
        out.sample(
            "tradeplane_provider_calls_refused_total",
            &labels,
            p.refused as f64,
        );
    }

    let trading = rt.trading_stats();
    let scheduler = rt.scheduler_health();
    out.single(
        "tradeplane_skipped_ticks_total",
        "counter",
        "Bar ticks a runner skipped (busy, or its lease could not be trusted).",
        trading.skipped_ticks as f64,
    );
    out.single(
        "tradeplane_scheduler_missed_ticks_total",
        "counter",
        "Bar boundaries the scheduler skipped because the clock fired more than a bar late.",
        scheduler.missed_ticks as f64,
    );
    out.single(
        "tradeplane_trace_batches_failed_total",
        "counter",
        "No-trade trace batches the database did not take.",
        trading.trace_batches_failed as f64,
    );

    let telemetry = rt.telemetry_stats();
    out.single(
        "tradeplane_telemetry_queue_depth",
        "gauge",
        "System and usage events waiting for the telemetry writer.",
        rt.telemetry().queue_depth() as f64,
    );
    out.single(
        "tradeplane_telemetry_dropped_total",
        "counter",
        "Events refused because the telemetry buffer was full or its writer had stopped.",
        telemetry.dropped as f64,
    );
    out.single(
        "tradeplane_telemetry_degraded",
        "gauge",
        "1 while the telemetry writer's last write failed and it is retrying.",
        f64::from(u8::from(telemetry.degraded)),
    );

    let pool = &state.pool;
    let (size, idle) = (pool.size(), pool.num_idle());
    out.family(
        "tradeplane_db_pool_connections",
        "gauge",
        "Database pool connections by state.",
    );
    let in_use = u64::from(size).saturating_sub(idle as u64);
    out.sample(
        "tradeplane_db_pool_connections",
        &[("state", "idle")],
        idle as f64,
    );
    out.sample(
        "tradeplane_db_pool_connections",
        &[("state", "in_use")],
        in_use as f64,
    );
    out.single(
        "tradeplane_db_pool_max_connections",
        "gauge",
        "The database pool's connection limit.",
        f64::from(pool.options().get_max_connections()),
    );

    out.single(
        "tradeplane_sse_clients",
        "gauge",
        "Open /api/events/stream connections.",
        state.event_streams.open() as f64,
    );

    let alerts = rt.alert_stats();
    out.family(
        "tradeplane_alerts_total",
        "counter",
        "Discord alerts by result: posted, deduplicated (folded into an earlier one), coalesced (into a summary by the rate limit), failed.",
    );
    for (result, n) in [
        ("posted", alerts.posted),
        ("deduplicated", alerts.deduplicated),
        ("coalesced", alerts.coalesced),
        ("failed", alerts.failed),
    ] {
        out.sample("tradeplane_alerts_total", &[("result", result)], n as f64);
    }
    out.single(
        "tradeplane_alerts_pending",
        "gauge",
        "Alerts waiting for Discord's rate-limit budget.",
        alerts.pending as f64,
    );
    out.single(
        "tradeplane_alerts_enabled",
        "gauge",
        "1 while Discord alerts are configured and the webhook has not been rejected.",
        f64::from(u8::from(alerts.enabled)),
    );
    out.single(
        "tradeplane_kill_switch_active",
        "gauge",
        "1 while the global kill switch is on.",
        f64::from(u8::from(rt.kill_switch_active())),
    );
    out.text
}

/// The text format, one family at a time.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// A label value as the text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_written_in_the_text_format_with_escaped_labels() {
        let mut out = Exposition::default();
        out.family("x_total", "counter", "Things.");
        out.sample("x_total", &[("a", "q\"uo\\te"), ("b", "n\nl")], 2.0);
        out.single("y", "gauge", "One.", 0.5);
        assert_eq!(
            out.text,
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"q\\\"uo\\\\te\",b=\"n\\nl\"} 2\n\
             # HELP y One.\n# TYPE y gauge\ny 0.5\n"
        );
    }
}
