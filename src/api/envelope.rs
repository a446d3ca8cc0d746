//! The SPEC §1 envelope: every JSON answer is `{success, trace_id, …}`; errors add
//! `error: {code, message, suggested_fix, details?}`. Handlers return `ApiResult<T>`.

use axum::{
    Json,
    extract::{
        FromRequest, FromRequestParts, MatchedPath, Path, Query, Request,
        path::ErrorKind,
        rejection::{JsonRejection, PathRejection},
    },
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{error_code::ErrorCode, trace::TraceId};

/// A successful envelope: the payload's fields sit beside `success` and `trace_id`.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always true here.
    pub success: bool,
    /// The request's trace id (also in the `x-trace-id` header).
    pub trace_id: String,
    #[serde(flatten)]
    pub data: T,
}

/// A success answer: `ApiOk(payload)` (200) or `ApiOk::created(payload)` (201).
pub struct ApiOk<T> {
    status: StatusCode,
    data: T,
    /// Extra headers, e.g. `Set-Cookie` or `Cache-Control` (appended, so repeats are kept).
    headers: Vec<(header::HeaderName, header::HeaderValue)>,
}

impl<T> ApiOk<T> {
    pub fn new(data: T) -> Self {
        Self {
            status: StatusCode::OK,
            data,
            headers: Vec::new(),
        }
    }

    pub fn created(data: T) -> Self {
        Self {
            status: StatusCode::CREATED,
            data,
            headers: Vec::new(),
        }
    }

    pub fn with_status(status: StatusCode, data: T) -> Self {
        Self {
            status,
            data,
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: header::HeaderName, value: header::HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// `Cache-Control: no-store`, for answers carrying secrets shown once.
    pub fn no_store(self) -> Self {
        self.header(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        )
    }
}

impl<T: Serialize> IntoResponse for ApiOk<T> {
    fn into_response(self) -> Response {
        let body = Envelope {
            success: true,
            trace_id: TraceId::current().to_string(),
            data: self.data,
        };
        match serde_json::to_vec(&body) {
            Ok(bytes) => {
                let mut response = (
                    self.status,
                    [(header::CONTENT_TYPE, "application/json")],
                    bytes,
                )
                    .into_response();
                for (name, value) in self.headers {
                    response.headers_mut().append(name, value);
                }
                response
            }
            Err(err) => {
                ApiError::internal(format!("response serialization failed: {err}")).into_response()
            }
        }
    }
}

/// The `error` object of an error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    pub suggested_fix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// An error envelope as sent on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always false here.
    pub success: bool,
    pub trace_id: String,
    pub error: ErrorBody,
}

/// An error answer. Its HTTP status comes from the code; message and fix default to the catalog's.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub suggested_fix: String,
    pub details: Option<Value>,
    /// Extra headers, e.g. `Retry-After` or `Allow`.
    pub headers: Vec<(header::HeaderName, header::HeaderValue)>,
}

pub type ApiResult<T> = Result<ApiOk<T>, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            message: code.message().to_owned(),
            suggested_fix: code.suggested_fix().to_owned(),
            details: None,
            headers: Vec::new(),
        }
    }

    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn fix(mut self, suggested_fix: impl Into<String>) -> Self {
        self.suggested_fix = suggested_fix.into();
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn header(mut self, name: header::HeaderName, value: header::HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// A `VALIDATION_FAILED` naming the offending field.
    pub fn validation(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        Self::new(ErrorCode::ValidationFailed)
            .message(format!("`{field}` {problem}"))
            .details(serde_json::json!({ "field": field, "problem": problem }))
    }

    /// An `INTERNAL` error. The cause is logged with the trace id, never sent to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(ErrorCode::Internal)
    }

    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            success: false,
            trace_id: TraceId::current().to_string(),
            error: ErrorBody {
                code: self.code,
                message: self.message.clone(),
                suggested_fix: self.suggested_fix.clone(),
                details: self.details.clone(),
            },
        }
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match crate::store::error_code(&err) {
            ErrorCode::DatabaseUnavailable => {
                tracing::warn!(error = %err, "database unavailable");
                Self::new(ErrorCode::DatabaseUnavailable)
            }
            _ => Self::internal(format!("database error: {err}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        if status.is_server_error() {
            tracing::warn!(code = %self.code, message = %self.message, "request failed");
        } else {
            tracing::info!(code = %self.code, message = %self.message, "request refused");
        }
        let mut response = (status, Json(self.envelope())).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// `Json<T>` whose rejections are enveloped: malformed JSON, wrong content type, oversized
/// body and shape errors each get their own code.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// [`ApiJson`] for a body whose every field is optional: an empty body (no `Content-Type`
/// needed, as `POST /api/bots/{id}/kill` is sent bare) is `T::default()`; any other body is
/// read exactly as `ApiJson` reads it.
pub struct ApiJsonOrDefault<T>(pub T);

impl<S, T> FromRequest<S> for ApiJsonOrDefault<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, super::BODY_LIMIT_BYTES)
            .await
            .map_err(|_| {
                ApiError::new(ErrorCode::PayloadTooLarge)
                    .details(serde_json::json!({ "limit_bytes": super::BODY_LIMIT_BYTES }))
            })?;
        if bytes.is_empty() {
            return Ok(ApiJsonOrDefault(T::default()));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        ApiJson::from_request(req, state)
            .await
            .map(|ApiJson(value)| ApiJsonOrDefault(value))
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let detail = rejection.body_text();
    let code = match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::ValidationFailed,
        StatusCode::BAD_REQUEST => ErrorCode::MalformedJson,
        _ => ErrorCode::MalformedJson,
    };
    let mut error = ApiError::new(code).details(serde_json::json!({ "reason": detail }));
    if code == ErrorCode::PayloadTooLarge {
        error = error.details(serde_json::json!({ "limit_bytes": super::BODY_LIMIT_BYTES }));
    }
    error
}

/// `Path<T>` whose rejections are `VALIDATION_FAILED` envelopes naming the parameter.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => {
                let at_key = match &rejection {
                    PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
                        ErrorKind::ParseErrorAtKey { key, .. }
                        | ErrorKind::InvalidUtf8InPathParam { key } => Some(key.clone()),
                        _ => None,
                    },
                    _ => None,
                };
                // A route with one parameter names it even when the error has no key.
                let only = parts.extensions.get::<MatchedPath>().and_then(|p| {
                    let names: Vec<&str> = p
                        .as_str()
                        .split('/')
                        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                        .collect();
                    (names.len() == 1).then(|| names[0].to_owned())
                });
                let field = at_key.or(only).unwrap_or_else(|| "path".to_owned());
                let problem = "is not valid here";
                Err(
                    ApiError::validation(&field, problem).details(serde_json::json!({
                        "field": field,
                        "problem": problem,
                        "reason": rejection.body_text(),
                    })),
                )
            }
        }
    }
}

/// `Query<T>` whose rejections are `VALIDATION_FAILED` envelopes.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError::new(ErrorCode::ValidationFailed)
                .message("The query string is not valid.")
                .details(serde_json::json!({ "reason": rejection.body_text() }))),
        }
    }
}
