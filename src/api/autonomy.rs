//! `GET|POST /api/bots/{id}/autonomy-score` (SPEC §5, §6): the bot's score, sub-scores, tier
//! and breakdown (every gate with pass/fail, its evidence and the fix). POST re-scores now.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiOk, ApiPath, ApiResult, AppState,
    bots::load,
    envelope::{Envelope, ErrorEnvelope},
};
use crate::{
    runtime::autonomy,
    store::autonomy_scores::{self, AutonomyScoreRow},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_score, rescore))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AutonomyScoreBody {
    /// `null` until the scorer has scored the bot (it counts as LOCKED meanwhile).
    pub autonomy_score: Option<AutonomyScoreRow>,
    /// Why there is no score, when there is none.
    pub no_score_reason: Option<String>,
}

/// The bot's latest autonomy score.
#[utoipa::path(
    get,
    path = "/api/bots/{id}/autonomy-score",
    tag = "autonomy",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<AutonomyScoreBody>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
    )
)]
async fn get_score(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<AutonomyScoreBody> {
    load(&state, id).await?;
    let row = autonomy_scores::get(&state.pool, id).await?;
    let no_score_reason = row.is_none().then(|| {
        "not scored yet: the scorer scores every bot periodically; POST re-scores now".to_owned()
    });
    Ok(ApiOk::new(AutonomyScoreBody {
        autonomy_score: row,
        no_score_reason,
    }))
}

/// Re-scores the bot now from its evidence and stores the result.
#[utoipa::path(
    post,
    path = "/api/bots/{id}/autonomy-score",
    tag = "autonomy",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<AutonomyScoreBody>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
    )
)]
async fn rescore(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<AutonomyScoreBody> {
    load(&state, id).await?;
    let scored = autonomy::rescore(
        &state.pool,
        &state.runtime,
        Some(vec![id]),
        autonomy::Asker::Operator,
    )
    .await?;
    if let Some((row, _)) = scored.into_iter().next() {
        return Ok(ApiOk::new(AutonomyScoreBody {
            autonomy_score: Some(row),
            no_score_reason: None,
        }));
    }
    // Another node runs the bot and scores it from its runner; its latest score stands.
    let row = autonomy_scores::get(&state.pool, id).await?;
    Ok(ApiOk::new(AutonomyScoreBody {
        no_score_reason: Some(
            "the bot runs on another node, which scores it; this is its latest score".to_owned(),
        ),
        autonomy_score: row,
    }))
}
