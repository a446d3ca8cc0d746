//! The OpenAPI description served at `/api/openapi.json` (Swagger UI at `/api/docs`).

use utoipa::{
    OpenApi,
    openapi::{self, RefOr, Response, ResponseBuilder, content::ContentBuilder},
};

use super::envelope::{ErrorBody, ErrorEnvelope};
use crate::error_code::ErrorCode;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tradeplane",
        description = "Control plane for a fleet of autonomous trading bots. Every JSON answer is \
            enveloped: `{success, trace_id, …}`; errors carry `error: {code, message, suggested_fix, details?}` \
            with a code from GET /api/errors."
    ),
    components(schemas(ErrorEnvelope, ErrorBody, ErrorCode)),
    tags(
        (name = "system", description = "System events, error catalog"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "integrations", description = "Providers: configured, connected, proof of use; profit variables"),
        (name = "auth", description = "Accounts, 2FA, sessions, service tokens, audit log"),
    )
)]
struct ApiDoc;

pub fn base() -> openapi::OpenApi {
    ApiDoc::openapi()
}

/// Declares the error envelope as every operation's `default` response, and the generic
/// failures any route can give (malformed request, body too large, panic) where not declared.
pub fn finish(mut spec: openapi::OpenApi) -> openapi::OpenApi {
    let error = |description: &str| -> RefOr<Response> {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(openapi::Ref::from_schema_name("ErrorEnvelope")))
                    .build(),
            )
            .build()
            .into()
    };
    for item in spec.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let responses = &mut op.responses.responses;
            responses.entry("500".into()).or_insert_with(|| {
                error("`INTERNAL`: unexpected failure (a handler panic included)")
            });
            responses.entry("default".into()).or_insert_with(|| {
                error("Any other error, enveloped with a code from GET /api/errors")
            });
        }
    }
    spec
}
