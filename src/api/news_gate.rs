//! `GET /api/news-gate`: the news gate's state as the operator reads it (issue 19) — the last
//! fetch and classification and their errors, why the gate is unavailable on this node if it
//! is (the cache the runners read), the risk-off headlines still inside some gated bot's
//! window, and every gated bot with its gate right now (open, risk-off until when, or
//! unavailable).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiOk, ApiResult, AppState,
    envelope::{Envelope, ErrorEnvelope},
};
use crate::domain::news::{self, ActiveRiskOff, DEFAULT_WINDOW_MINUTES, GateState};
use crate::store::news::{self as store, GateStatusRow};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(news_gate))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewsGateView {
    /// Fetch and classification, as the leader's poller last recorded them.
    pub status: GateStatusRow,
    /// Why the gate cannot be trusted on this node right now (`NEWS_GATE_UNAVAILABLE` for
    /// every gated bot), or null.
    pub unavailable: Option<String>,
    /// When this node's cache last read the state.
    pub refreshed_at: Option<DateTime<Utc>>,
    /// The widest window of the gated bots (the default, 30, when none is gated): the span
    /// `risk_off` covers.
    pub window_minutes: u32,
    /// Risk-off headlines published within `window_minutes`, newest first.
    pub risk_off: Vec<ActiveRiskOff>,
    /// Every bot (not archived) with `strategy.filters.news_gate`, with its gate now.
    pub bots: Vec<GatedBot>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GatedBot {
    pub bot_id: Uuid,
    pub name: String,
    pub stage: String,
    pub status: String,
    pub window_minutes: u32,
    pub gate: GateState,
}

/// The news gate: last fetch and classification, unavailability, active risk-off headlines
/// and the gated bots.
#[utoipa::path(
    get,
    path = "/api/news-gate",
    tag = "integrations",
    security(("session" = ["viewer"])),
    responses(
        (status = 200, body = Envelope<NewsGateView>),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn news_gate(State(state): State<AppState>) -> ApiResult<NewsGateView> {
    let now = state.clock.now();
    let snap = state.runtime.news_snapshot();
    let status = store::gate_status(&state.pool).await?;
    let bots: Vec<GatedBot> = store::gated_bots(&state.pool)
        .await?
        .into_iter()
        .filter_map(|b| {
            let filter = news::news_gate_of(&b.strategy)?;
            Some(GatedBot {
                bot_id: b.id,
                name: b.name,
                stage: b.stage,
                status: b.status,
                window_minutes: filter.window_minutes,
                gate: news::gate_state(&filter, &snap, now),
            })
        })
        .collect();
    let window_minutes = bots
        .iter()
        .map(|b| b.window_minutes)
        .max()
        .unwrap_or(DEFAULT_WINDOW_MINUTES);
    Ok(ApiOk::new(NewsGateView {
        status,
        unavailable: snap.unavailable.clone(),
        refreshed_at: snap.refreshed_at,
        window_minutes,
        risk_off: news::active_risk_off(&snap, now, window_minutes),
        bots,
    }))
}
