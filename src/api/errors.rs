//! `GET /api/errors`: the error-code catalog.

use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiOk, AppState};
use crate::error_code::ErrorCode;

#[derive(Serialize, ToSchema)]
pub struct CatalogEntry {
    pub code: ErrorCode,
    pub http_status: u16,
    pub message: &'static str,
    pub suggested_fix: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Catalog {
    pub errors: Vec<CatalogEntry>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_errors))
}

/// Every error code the API can answer with, its HTTP status, message and suggested fix.
#[utoipa::path(
    get,
    path = "/api/errors",
    tag = "system",
    responses((status = 200, body = super::envelope::Envelope<Catalog>))
)]
async fn list_errors() -> ApiOk<Catalog> {
    ApiOk::new(Catalog {
        errors: ErrorCode::ALL
            .iter()
            .map(|&code| CatalogEntry {
                code,
                http_status: code.status().as_u16(),
                message: code.message(),
                suggested_fix: code.suggested_fix(),
            })
            .collect(),
    })
}
