//! Everything outside the API: the Observatory single-page app, with a placeholder page until
//! it is built, and `ROUTE_NOT_FOUND` envelopes for unknown `/api/…` paths.
//!
//! Delivery: the build writes a `.br` and a `.gz` beside each text asset, sent to clients that
//! accept them. Files under `/assets/` carry a content hash in their name, so they are cached
//! for a year (`immutable`) and a missing one is a 404, never the app's HTML; everything else
//! (the app's HTML for any client-side route) is revalidated on every load (`no-cache`), so a
//! new build reaches browsers at once.

use std::{convert::Infallible, path::Path};

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderValue, Method, StatusCode, header},
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
    let built = index.is_file().then(|| {
        let assets = ServeDir::new(web_dir)
            .precompressed_br()
            .precompressed_gzip();
        let spa = ServeDir::new(web_dir)
            .precompressed_br()
            .precompressed_gzip()
            .append_index_html_on_directories(true)
            .fallback(
                ServeFile::new(index)
                    .precompressed_br()
                    .precompressed_gzip(),
            );
        (assets, spa)
    });
    BoxCloneSyncService::new(service_fn(move |req: Request| {
        let built = built.clone();
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
            let Some((assets, spa)) = built else {
                return Ok(Html(PLACEHOLDER).into_response());
            };
            let hashed = path.starts_with("/assets/");
            let served = if hashed {
                assets.oneshot(req).await
            } else {
                spa.oneshot(req).await
            };
            Ok(match served {
                Ok(res) => with_cache_headers(res.map(Body::new), hashed),
                Err(err) => ApiError::internal(err).into_response(),
            })
        }
    }))
}

fn with_cache_headers(mut res: Response, hashed: bool) -> Response {
    let cache = if !hashed {
        "no-cache"
    } else if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
        "public, max-age=31536000, immutable"
    } else {
        "no-store"
    };
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    res
}
