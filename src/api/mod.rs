//! The HTTP surface: one router per area, assembled with the cross-cutting layers.

pub mod account_risk;
pub mod ai_ops;
pub mod ai_ops_series;
pub mod alert_settings;
pub mod attention;
pub mod audit;
pub mod auth;
pub mod autonomy;
pub mod backtest_review;
pub mod backtests;
pub mod bot_lifecycle;
pub mod bot_summary;
pub mod bots;
pub mod client_addr;
pub mod desk;
pub mod envelope;
pub mod errors;
pub mod events;
pub mod explain;
pub mod fleet;
pub mod head_refusal;
pub mod health;
pub mod hygiene;
pub mod integrations;
pub mod jobs;
pub mod kill_switch;
pub mod ledger;
pub mod market_data;
pub mod metrics;
pub mod middleware;
pub mod news_gate;
pub mod nodes;
pub mod openapi;
pub mod pagination;
pub mod provider_latency;
pub mod reconciliation;
pub mod runtime;
pub mod security_headers;
pub mod server;
pub mod service_tokens;
pub mod state;
pub mod stream_slots;
pub mod system;
pub mod system_status;
pub mod traces;
pub mod trading_switch;
pub mod usage_events;
pub mod users;
pub mod vocabulary;
pub mod web;

use axum::{Router, extract::DefaultBodyLimit, middleware as mw};
use tower_http::{catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::policy as auth_policy;

pub use envelope::{ApiError, ApiJson, ApiJsonOrDefault, ApiOk, ApiPath, ApiQuery, ApiResult};
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
        .merge(backtests::router())
        .merge(backtest_review::router())
        .merge(runtime::router())
        .merge(nodes::router())
        .merge(integrations::router())
        .merge(provider_latency::router())
        .merge(auth::router())
        .merge(users::router())
        .merge(service_tokens::router())
        .merge(audit::router())
        .merge(trading_switch::router())
        .merge(bots::router())
        .merge(bot_lifecycle::router())
        .merge(desk::router())
        .merge(alert_settings::router())
        .merge(reconciliation::router())
        .merge(account_risk::router())
        .merge(explain::router())
        .merge(traces::router())
        .merge(ledger::router())
        .merge(autonomy::router())
        .merge(system_status::router())
        .merge(attention::router())
        .merge(fleet::router())
        .merge(kill_switch::router())
        .merge(events::router())
        .merge(ai_ops::router())
        .merge(ai_ops_series::router())
        .merge(news_gate::router())
        .merge(usage_events::router())
        .merge(market_data::router())
}

/// The routes, the served OpenAPI document and the access policy declared in it.
fn documented(
    auth: &crate::config::AuthConfig,
) -> (
    Router<AppState>,
    utoipa::openapi::OpenApi,
    auth_policy::AccessPolicy,
) {
    let (routes, spec) = documented_routes().split_for_parts();
    let mut spec = openapi::finish(spec);
    let policy = auth_policy::AccessPolicy::from_openapi(
        &mut spec,
        crate::auth::cookies::session_name(auth),
    );
    (routes, spec, policy)
}

/// The OpenAPI document exactly as `/api/openapi.json` serves it (the web app's types come
/// from it: `tradeplane openapi > web/openapi.json`).
pub fn openapi_document(auth: &crate::config::AuthConfig) -> utoipa::openapi::OpenApi {
    documented(auth).1
}

/// The whole application: API, operational endpoints, API docs and the web app.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The application with `extra` routes mounted under the same layers (tests use it to drive
/// the layers through routes the product does not have, e.g. one that panics).
pub fn app_with(state: AppState, extra: Router<AppState>) -> Router {
    app_with_access(state, extra, Vec::new())
}

/// `app_with`, plus access rules for `extra` routes (which have no OpenAPI annotation to
/// declare them): tests use it to mount writer routes guarded by service-token scopes.
pub fn app_with_access(
    state: AppState,
    extra: Router<AppState>,
    extra_access: Vec<(axum::http::Method, &str, auth_policy::Access)>,
) -> Router {
    let (routes, spec, mut policy) = documented(&state.config.auth);
    for (method, path, access) in extra_access {
        policy.declare(method, path, access);
    }
    let guard = auth::guard::Guard {
        state: state.clone(),
        policy: std::sync::Arc::new(policy),
    };
    let web = web::service(&state.config.web_dir);
    let trusted = std::sync::Arc::new(state.config.trusted_proxies.clone());
    let query_params = std::sync::Arc::new(hygiene::QueryParams::from_openapi(&spec));
    let clock = state.clock.clone();
    Router::new()
        .merge(routes)
        .merge(extra)
        // Default deny for every `/api` route above; the docs and the web app stay public.
        .route_layer(mw::from_fn_with_state(guard, auth::guard::require_access))
        // Outside the guard, so bad bytes and unknown parameters are refused before anything
        // (even authentication) reads them.
        .route_layer(mw::from_fn_with_state(query_params, hygiene::check))
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", spec))
        .fallback_service(web)
        .with_state(state)
        // Layers run bottom-up on the way in: limits and panics innermost, trace id outermost.
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(mw::from_fn(middleware::ensure_envelope))
        .layer(mw::from_fn_with_state(clock, middleware::record_metrics))
        .layer(mw::from_fn(security_headers::set))
        .layer(mw::from_fn_with_state(trusted, client_addr::resolve))
        .layer(mw::from_fn(middleware::trace_context))
}
