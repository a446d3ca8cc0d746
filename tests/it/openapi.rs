//! `/api/openapi.json` documents every route, and every documented route exists.

use std::path::Path;

use serde_json::Value;
use sqlx::PgPool;

use crate::support::{error_code, spawn_app};

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

async fn spec(app: &crate::support::TestApp) -> Value {
    let res = app.http("GET", "/api/openapi.json").send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(*method) {
                ops.push((method.to_string(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

#[sqlx::test]
async fn every_documented_operation_is_routed_and_declares_errors(pool: PgPool) {
    let app = spawn_app(pool).await;
    let spec = spec(&app).await;
    let ops = operations(&spec);
    assert!(ops.len() >= 5, "{ops:?}");
    for (method, path, op) in ops {
        let concrete = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    uuid::Uuid::now_v7().to_string()
                } else {
                    seg.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let res = app
            .client
            .request(method.to_uppercase().parse().unwrap(), app.url(&concrete))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert!(
            !matches!(error_code(&body), "ROUTE_NOT_FOUND" | "METHOD_NOT_ALLOWED"),
            "{method} {path} is documented but not routed: {status} {body}"
        );
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.contains_key("default"),
            "{method} {path} lacks the error default"
        );
        assert!(responses.contains_key("500"), "{method} {path} lacks 500");
        // Every protected operation names the guard's answers.
        let public = op["security"] == serde_json::json!([{}]);
        if path.starts_with("/api/") && !public {
            for code in ["401", "403"] {
                assert!(
                    responses.contains_key(code),
                    "{method} {path} lacks {code}: {responses:?}"
                );
            }
        }
    }
    assert!(spec["components"]["schemas"]["ErrorEnvelope"].is_object());
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Routes can only be registered through `routes!` on annotated handlers: no raw
/// `.route(...)` in the product, and as many annotated handlers as documented operations.
#[sqlx::test]
async fn every_route_in_the_code_is_documented(pool: PgPool) {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut annotated = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        annotated += text.matches("#[utoipa::path(").count();
        for raw in [".route(", ".route_service(", ".nest("] {
            assert!(
                !text.contains(raw),
                "{} registers a route with `{raw}`, which bypasses the OpenAPI spec; use `routes!`",
                file.display()
            );
        }
    }
    let app = spawn_app(pool).await;
    let documented = operations(&spec(&app).await).len();
    assert_eq!(
        annotated, documented,
        "annotated handlers vs documented operations"
    );
}

/// Generated clients (the web app's types) key operations by id and schemas by name: a
/// duplicate silently gives one endpoint another's types.
#[sqlx::test]
async fn operation_ids_are_unique_and_error_codes_are_the_wire_names(pool: PgPool) {
    let app = spawn_app(pool).await;
    let spec = spec(&app).await;
    let mut seen = std::collections::HashMap::new();
    for (method, path, op) in operations(&spec) {
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        assert!(!id.is_empty(), "{method} {path} has no operationId");
        if let Some(other) = seen.insert(id.clone(), format!("{method} {path}")) {
            panic!("operationId `{id}` is used by {other} and {method} {path}");
        }
    }
    let codes: Vec<&str> = spec["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is a string enum")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let catalog: Vec<&str> = tradeplane::error_code::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(codes, catalog);
    // The two verify bodies (2FA and integrations) keep their own shapes.
    let schemas = &spec["components"]["schemas"];
    assert!(schemas["VerifyRequest"]["properties"]["temp_token"].is_object());
    assert!(schemas["VerifyProviderRequest"]["properties"]["provider_id"].is_object());
}
