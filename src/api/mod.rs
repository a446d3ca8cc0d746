//! The HTTP surface: one router per area, assembled with the cross-cutting layers.

pub mod envelope;
pub mod errors;
pub mod health;
pub mod integrations;
pub mod jobs;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod runtime;
pub mod state;
pub mod system;
pub mod web;

use axum::{Router, extract::DefaultBodyLimit, middleware as mw};
use tower_http::{catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use envelope::{ApiError, ApiJson, ApiOk, ApiQuery, ApiResult};
pub use state::AppState;

/// Largest request body accepted anywhere (bytes).
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// Every documented route, with its OpenAPI description.
pub fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(health::router())
        .merge(metrics::router())
        .merge(errors::router())
        .merge(system::router())
        .merge(jobs::router())
        .merge(runtime::router())
        .merge(integrations::router())
}

/// The whole application: API, operational endpoints, API docs and the web app.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The application with `extra` routes mounted under the same layers (tests use it to drive
/// the layers through routes the product does not have, e.g. one that panics).
pub fn app_with(state: AppState, extra: Router<AppState>) -> Router {
    let (routes, spec) = documented_routes().split_for_parts();
    let spec = openapi::finish(spec);
    let web = web::service(&state.config.web_dir);
    Router::new()
        .merge(routes)
        .merge(extra)
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", spec))
        .fallback_service(web)
        .with_state(state)
        // Layers run bottom-up on the way in: limits and panics innermost, trace id outermost.
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(mw::from_fn(middleware::ensure_envelope))
        .layer(mw::from_fn(middleware::record_metrics))
        .layer(mw::from_fn(middleware::trace_context))
}
