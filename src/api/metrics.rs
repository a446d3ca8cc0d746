//! `/metrics`: Prometheus text exposition. The event series (requests, evaluations, no-trades,
//! provider calls, tick lag: see `crate::observability`) come from the process's recorder; the
//! state series (runners, breakers, queues, pool, streams, alerts) are read from this server's
//! runtime at scrape time by [`fleet`], the same snapshots the status endpoint serves.

mod fleet;

use std::sync::OnceLock;

use axum::{http::header, response::IntoResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use crate::observability::LATENCY_BUCKETS;

/// The process-wide recorder. Installed once: the `metrics` facade has one global recorder.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then ours just stays empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    // Upkeep drains histogram buffers; doing it on scrape keeps memory bounded without a timer.
    state.metrics.run_upkeep();
    let mut text = state.metrics.render();
    text.push_str(&fleet::render(&state));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
