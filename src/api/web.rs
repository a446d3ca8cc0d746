//! Everything outside the API: the Observatory single-page app, with a placeholder page until
//! it is built, and `ROUTE_NOT_FOUND` envelopes for unknown `/api/…` paths.

use std::{convert::Infallible, path::Path};

use axum::{
    body::Body,
    extract::Request,
    http::{Method, header},
    response::{Html, IntoResponse, Response},
};
use tower::{ServiceExt, service_fn, util::BoxCloneSyncService};
use tower_http::services::{ServeDir, ServeFile};

use super::ApiError;
use crate::error_code::ErrorCode;

const PLACEHOLDER: &str = include_str!("../../web/placeholder.html");

pub type WebService = BoxCloneSyncService<Request, Response, Infallible>;

/// Serves `web_dir` (SPA: unknown paths get index.html) or the placeholder when it is not built.
pub fn service(web_dir: &Path) -> WebService {
    let index = web_dir.join("index.html");
    let spa = index.is_file().then(|| {
        ServeDir::new(web_dir)
            .append_index_html_on_directories(true)
            .fallback(ServeFile::new(index))
    });
    BoxCloneSyncService::new(service_fn(move |req: Request| {
        let spa = spa.clone();
        async move {
            let path = req.uri().path();
            if path == "/api" || path.starts_with("/api/") {
                return Ok(ApiError::new(ErrorCode::RouteNotFound)
                    .details(serde_json::json!({ "path": path }))
                    .into_response());
            }
            if !matches!(*req.method(), Method::GET | Method::HEAD) {
                return Ok(ApiError::new(ErrorCode::MethodNotAllowed)
                    .header(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"))
                    .into_response());
            }
            Ok(match spa {
                Some(spa) => match spa.oneshot(req).await {
                    Ok(res) => res.map(Body::new),
                    Err(err) => ApiError::internal(err).into_response(),
                },
                None => Html(PLACEHOLDER).into_response(),
            })
        }
    }))
}
