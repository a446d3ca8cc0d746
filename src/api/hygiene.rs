//! Input hygiene at the edge, before any handler or extractor runs (a route layer):
//! - a query parameter the operation does not document → `VALIDATION_FAILED` naming it;
//! - a date or date-time query parameter outside [`SUPPORTED_YEARS`] → `VALIDATION_FAILED`
//!   naming it (chrono parses years up to ±262,142: near its ends date arithmetic panics, and
//!   Postgres stores none before 4713 BC);
//! - a control character (C0, DEL, C1) in a query value or a path parameter, or a NUL/control
//!   character other than tab, CR and LF in any string or key of a JSON body →
//!   `VALIDATION_FAILED` naming the field (`details.field`, a dotted path into the body).
//!
//! Postgres refuses 0x00 in text, so without this a NUL reached the database as a 500; other
//! controls would land in logs, audit rows and the dashboard. Names get stricter rules
//! ([`display_name`]): no CR/LF/tab, no bidi controls (which can make a name render as another).

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use axum::{
    body::{Body, Bytes},
    extract::{MatchedPath, RawPathParams, Request, State},
    http::{Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::Value;
use utoipa::openapi::{OpenApi, RefOr, path::ParameterIn};

use super::envelope::ApiError;
use crate::domain::instants::SUPPORTED_YEARS;

/// The query parameters each documented operation accepts, from the OpenAPI document, and
/// which of them are dates or date-times.
#[derive(Debug, Default)]
pub struct QueryParams {
    routes: HashMap<(Method, String), BTreeSet<String>>,
    dates: HashMap<(Method, String), BTreeSet<String>>,
}

/// Whether a parameter's schema is a `date` or `date-time` string (possibly nullable).
fn is_date(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => {
            matches!(
                map.get("format").and_then(Value::as_str),
                Some("date" | "date-time")
            ) || map.values().any(is_date)
        }
        Value::Array(items) => items.iter().any(is_date),
        _ => false,
    }
}

/// The year a date or date-time query value names, when it parses as one.
fn year_of(value: &str) -> Option<i32> {
    use chrono::{DateTime, Datelike, NaiveDate, Utc};
    value
        .parse::<DateTime<Utc>>()
        .map(|t| t.year())
        .or_else(|_| value.parse::<NaiveDate>().map(|d| d.year()))
        .ok()
}

impl QueryParams {
    pub fn from_openapi(spec: &OpenApi) -> Self {
        let (mut routes, mut dates) = (HashMap::new(), HashMap::new());
        for (path, item) in spec.paths.paths.iter() {
            let ops = [
                (Method::GET, item.get.as_ref()),
                (Method::POST, item.post.as_ref()),
                (Method::PUT, item.put.as_ref()),
                (Method::PATCH, item.patch.as_ref()),
                (Method::DELETE, item.delete.as_ref()),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let query: Vec<_> = item
                    .parameters
                    .iter()
                    .flatten()
                    .chain(op.parameters.iter().flatten())
                    .filter_map(|p| match p {
                        RefOr::T(p) => Some(p),
                        RefOr::Ref(_) => None,
                    })
                    .filter(|p| matches!(p.parameter_in, ParameterIn::Query))
                    .collect();
                let date_names = query
                    .iter()
                    .filter(|p| serde_json::to_value(&p.schema).is_ok_and(|s| is_date(&s)))
                    .map(|p| p.name.clone())
                    .collect();
                dates.insert((method.clone(), path.clone()), date_names);
                let names = query.iter().map(|p| p.name.clone()).collect();
                routes.insert((method, path.clone()), names);
            }
        }
        QueryParams { routes, dates }
    }

    /// None: the route is not documented (test-only routes), so any name passes.
    fn allowed(&self, method: &Method, path: &str) -> Option<&BTreeSet<String>> {
        self.routes.get(&Self::key(method, path))
    }

    fn dates(&self, method: &Method, path: &str) -> Option<&BTreeSet<String>> {
        self.dates.get(&Self::key(method, path))
    }

    fn key(method: &Method, path: &str) -> (Method, String) {
        let method = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        (method, path.to_owned())
    }
}

/// Control characters never accepted in a query value or path parameter.
fn is_control(c: char) -> bool {
    c.is_control()
}

/// In JSON bodies tab, CR and LF stay allowed (multi-line text); names refuse them separately.
fn is_body_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Unicode bidirectional formatting characters: they can make a name display as another.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A name shown to people (bot, service token): trimmed, 1–`max` characters, no control
/// characters (CR/LF and tab included) and no bidi controls.
pub fn display_name(field: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > max {
        return Err(ApiError::validation(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            field,
            "must not contain control characters (line breaks, tabs, NUL…)",
        ));
    }
    if name.chars().any(is_bidi_control) {
        return Err(ApiError::validation(
            field,
            "must not contain bidirectional formatting characters",
        ));
    }
    Ok(name.to_owned())
}

fn control_in(field: &str) -> ApiError {
    ApiError::validation(field, "contains a control character (NUL or similar)")
}

pub async fn check(
    State(params): State<Arc<QueryParams>>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Err(err) = check_parts(&params, &mut parts).await {
        return err.into_response();
    }
    let body = if carries_json(&parts) {
        // The body limit layer outside bounds what is buffered here.
        let bytes = match axum::body::to_bytes(body, super::BODY_LIMIT_BYTES).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return ApiError::new(crate::error_code::ErrorCode::PayloadTooLarge)
                    .details(serde_json::json!({ "limit_bytes": super::BODY_LIMIT_BYTES }))
                    .into_response();
            }
        };
        if let Some(field) = body_control_field(&bytes) {
            return control_in(&field).into_response();
        }
        Body::from(bytes)
    } else {
        body
    };
    next.run(Request::from_parts(parts, body)).await
}

async fn check_parts(
    params: &QueryParams,
    parts: &mut axum::http::request::Parts,
) -> Result<(), ApiError> {
    if let Ok(path_params) =
        <RawPathParams as axum::extract::FromRequestParts<()>>::from_request_parts(parts, &()).await
    {
        for (name, value) in path_params.iter() {
            if value.chars().any(is_control) {
                return Err(control_in(name));
            }
        }
    }
    let query = parts.uri.query().unwrap_or("");
    let matched = parts.extensions.get::<MatchedPath>();
    let allowed = matched.and_then(|p| params.allowed(&parts.method, p.as_str()));
    let dates = matched.and_then(|p| params.dates(&parts.method, p.as_str()));
    let mut unknown = BTreeSet::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name.chars().any(is_control) {
            return Err(control_in("query"));
        }
        if value.chars().any(is_control) {
            return Err(control_in(&name));
        }
        if dates.is_some_and(|d| d.contains(name.as_ref()))
            && year_of(&value).is_some_and(|y| !SUPPORTED_YEARS.contains(&y))
        {
            return Err(ApiError::validation(
                &name,
                format!(
                    "must fall in the years {} to {}",
                    SUPPORTED_YEARS.start(),
                    SUPPORTED_YEARS.end()
                ),
            ));
        }
        if allowed.is_some_and(|names| !names.contains(name.as_ref())) {
            unknown.insert(name.into_owned());
        }
    }
    if let Some(first) = unknown.first() {
        let mut accepted: Vec<&String> = allowed.into_iter().flatten().collect();
        accepted.sort();
        return Err(
            ApiError::validation(first, "is not a parameter of this operation").details(
                serde_json::json!({
                    "field": first,
                    "problem": "is not a parameter of this operation",
                    "unknown": unknown,
                    "accepted": accepted,
                }),
            ),
        );
    }
    Ok(())
}

fn carries_json(parts: &axum::http::request::Parts) -> bool {
    !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
        && parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"))
}

/// The path of the first string or key holding a refused control character, if any. A cheap
/// scan of the raw text first: raw C0 bytes cannot be in valid JSON strings (the JSON
/// extractor refuses them), so only `\u00XX` escapes, DEL and C1 (UTF-8 `C2 80`–`C2 9F`) matter.
fn body_control_field(bytes: &Bytes) -> Option<String> {
    let suspicious = bytes.windows(4).any(|w| w == b"\\u00")
        || bytes.contains(&0x7f)
        || bytes
            .windows(2)
            .any(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]));
    if !suspicious {
        return None;
    }
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let mut path = Vec::new();
    find_control(&value, &mut path)
}

fn find_control(value: &Value, path: &mut Vec<String>) -> Option<String> {
    let here = |path: &[String]| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.join(".")
        }
    };
    match value {
        Value::String(s) if s.chars().any(is_body_control) => Some(here(path)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            path.push(i.to_string());
            let found = find_control(item, path);
            path.pop();
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            path.push(key.clone());
            let found = if key.chars().any(is_body_control) {
                Some(here(&path[..path.len() - 1]))
            } else {
                find_control(item, path)
            };
            path.pop();
            found
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_controls_are_found_with_their_path() {
        let field = |json: &str| body_control_field(&Bytes::from(json.to_owned()));
        assert_eq!(field(r#"{"name":"ok","n":1}"#), None);
        assert_eq!(field(r#"{"note":"two\nlines\u0009tab"}"#), None);
        assert_eq!(field(r#"{"name":"a\u0000b"}"#).as_deref(), Some("name"));
        assert_eq!(
            field(r#"{"strategy":{"params":{"x":["ok","\u001b[31m"]}}}"#).as_deref(),
            Some("strategy.params.x.1")
        );
        assert_eq!(field("{\"name\":\"del\u{7f}\"}").as_deref(), Some("name"));
        assert_eq!(field("{\"name\":\"c1\u{85}\"}").as_deref(), Some("name"));
        assert_eq!(field(r#""\u0000""#).as_deref(), Some("body"));
        assert_eq!(
            field(r#"{"a":{"\u0000":1}}"#).as_deref(),
            Some("a"),
            "a key names its object"
        );
    }

    #[test]
    fn date_parameters_are_found_and_their_years_read() {
        use serde_json::json;
        assert!(is_date(&json!({"type": "string", "format": "date-time"})));
        assert!(is_date(
            &json!({"type": ["string", "null"], "format": "date"})
        ));
        assert!(is_date(
            &json!({"oneOf": [{"type": "null"}, {"type": "string", "format": "date-time"}]})
        ));
        assert!(!is_date(&json!({"type": "string"})));
        assert_eq!(year_of("2026-12-07T10:00:00Z"), Some(2026));
        assert_eq!(year_of("2026-12-07"), Some(2026));
        assert_eq!(year_of("+262142-12-31T00:00:00Z"), Some(262_142));
        assert_eq!(year_of("+262142-12-31"), Some(262_142));
        assert_eq!(year_of("-10000-01-01T00:00:00Z"), Some(-10_000));
        assert_eq!(year_of("yesterday"), None);
    }

    #[test]
    fn names_refuse_line_breaks_and_bidi_controls() {
        assert_eq!(display_name("name", "  Trend 1 ", 100).unwrap(), "Trend 1");
        for bad in [
            "a\r\nb",
            "a\tb",
            "evil\u{202E}txt.exe",
            "x\u{2066}y",
            "",
            "\u{0}",
        ] {
            let err = display_name("name", bad, 100).unwrap_err();
            assert_eq!(err.details.unwrap()["field"], "name", "{bad:?}");
        }
        assert!(display_name("name", &"x".repeat(101), 100).is_err());
    }
}
