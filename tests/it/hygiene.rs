//! Input hygiene (issue 21 part 2), table-driven from the OpenAPI document: every query
//! parameter, path parameter and request-body field of every operation gets NUL and other
//! control bytes; every answer is a `VALIDATION_FAILED` envelope naming the field, never a 5xx.
//! Unknown query parameters are refused on every operation.

use serde_json::{Map, Value, json};
use sqlx::PgPool;

use crate::support::{TestApp, error_code, requests::send, spawn_app};

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];
const BAD: &[(&str, &str)] = &[
    ("%00", "a\u{0}b"),
    ("%07", "bell\u{7}"),
    ("%1B%5B31m", "\u{1b}[31m"),
];

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            resolve(spec, &spec["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Dotted paths of every property of a body schema (nested objects included, 3 levels),
/// each with a JSON body that puts `bad` there.
fn body_fields(spec: &Value, schema: &Value, bad: &str, depth: usize) -> Vec<(String, Value)> {
    let schema = resolve(spec, schema);
    let mut out = Vec::new();
    let mut props: Vec<(&String, &Value)> = Vec::new();
    for part in std::iter::once(schema).chain(
        ["allOf", "oneOf", "anyOf"]
            .iter()
            .flat_map(|k| schema[*k].as_array().into_iter().flatten()),
    ) {
        let part = resolve(spec, part);
        if let Some(map) = part["properties"].as_object() {
            props.extend(map.iter());
        }
    }
    for (name, prop) in props {
        out.push((name.clone(), json!({ name: bad })));
        if depth > 0 {
            for (inner, body) in body_fields(spec, prop, bad, depth - 1) {
                let mut outer = Map::new();
                outer.insert(name.clone(), body);
                out.push((format!("{name}.{inner}"), Value::Object(outer)));
            }
        }
    }
    out
}

fn concrete(path: &str, param: Option<(&str, &str)>) -> String {
    path.split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if param.is_some_and(|(p, _)| p == name) => param.unwrap().1.to_owned(),
                Some(_) => uuid::Uuid::now_v7().to_string(),
                None => seg.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

async fn expect_refused(app: &TestApp, method: &str, url: &str, body: Option<&Value>, field: &str) {
    let mut req = app.http(&method.to_uppercase(), url);
    if let Some(body) = body {
        req = req.json(body);
    }
    let (status, answer) = send(req).await;
    assert_eq!(
        (status, error_code(&answer)),
        (422, "VALIDATION_FAILED"),
        "{method} {url} {body:?}: {answer}"
    );
    assert_eq!(
        answer["error"]["details"]["field"], field,
        "{method} {url} {body:?}: {answer}"
    );
}

#[sqlx::test]
async fn control_bytes_in_every_parameter_and_field_are_validation_failed(pool: PgPool) {
    let app = spawn_app(pool).await;
    let spec: Value = app
        .http("GET", "/api/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (mut queries, mut paths, mut fields) = (0, 0, 0);
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let params: Vec<&Value> = op["parameters"].as_array().into_iter().flatten().collect();
            for (encoded, raw) in BAD {
                for p in &params {
                    let name = p["name"].as_str().unwrap();
                    match p["in"].as_str().unwrap() {
                        "query" => {
                            let url = format!("{}?{name}=x{encoded}", concrete(path, None));
                            expect_refused(&app, method, &url, None, name).await;
                            queries += 1;
                        }
                        "path" => {
                            let url = concrete(path, Some((name, &format!("x{encoded}"))));
                            expect_refused(&app, method, &url, None, name).await;
                            paths += 1;
                        }
                        _ => {}
                    }
                }
                let schema = &op["requestBody"]["content"]["application/json"]["schema"];
                if !schema.is_null() {
                    for (field, body) in body_fields(&spec, schema, raw, 2) {
                        expect_refused(&app, method, &concrete(path, None), Some(&body), &field)
                            .await;
                        fields += 1;
                    }
                }
            }
            // Unknown query parameters are refused on every operation, named.
            let url = format!("{}?surely_not_a_parameter=1", concrete(path, None));
            expect_refused(&app, method, &url, None, "surely_not_a_parameter").await;
        }
    }
    // The table really covered the surface (the document has these many).
    assert!(
        queries >= 30 && paths >= 30 && fields >= 30,
        "{queries} {paths} {fields}"
    );
}

#[sqlx::test]
async fn names_with_line_breaks_or_bidi_controls_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    for bad in [
        "two\r\nlines",
        "tab\there",
        "report\u{202E}fdp.exe",
        "iso\u{2066}late",
    ] {
        let (status, body) = app
            .create_service_token(json!({ "name": bad, "scopes": ["traces:write"] }))
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (422, "VALIDATION_FAILED"),
            "{bad:?}: {body}"
        );
        assert_eq!(body["error"]["details"]["field"], "name");
    }
}

#[sqlx::test]
async fn a_bad_path_parameter_is_a_validation_envelope(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let (status, body) = app.get_bot("not-a-uuid").await;
    assert_eq!(
        (status, error_code(&body)),
        (422, "VALIDATION_FAILED"),
        "{body}"
    );
    assert_eq!(body["error"]["details"]["field"], "id");
}
