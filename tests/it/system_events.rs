//! `GET /api/system/events`: newest first, keyset pages, filters, validation.

use serde_json::json;
use sqlx::PgPool;
use tradeplane::{
    store::system_events::{self, NewSystemEvent, Severity},
    trace::TraceId,
};
use uuid::Uuid;

use crate::support::{error_code, spawn_app};

async fn seed(pool: &PgPool, n: usize) -> Uuid {
    let bot = Uuid::now_v7();
    for i in 0..n {
        let severity = if i % 2 == 0 {
            Severity::Info
        } else {
            Severity::Sev2
        };
        let mut event = NewSystemEvent::new(
            severity,
            format!("TEST_EVENT_{}", i % 3),
            format!("event {i}"),
        )
        .metadata(json!({ "i": i }));
        if i % 4 == 0 {
            event = event.bot(bot).provider("databento");
        }
        system_events::insert(pool, event, crate::support::now())
            .await
            .unwrap();
    }
    bot
}

#[sqlx::test]
async fn pages_walk_every_event_newest_first(pool: PgPool) {
    seed(&pool, 7).await;
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=3&cursor={c}"),
            None => "limit=3".to_owned(),
        };
        let (status, body) = app.system_events(&query).await;
        assert_eq!(status, 200);
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|e| e["metadata"]["i"].as_i64().unwrap()));
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, vec![6, 5, 4, 3, 2, 1, 0]);
}

#[sqlx::test]
async fn filters_narrow_the_list(pool: PgPool) {
    let bot = seed(&pool, 8).await;
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let count = |query: String| {
        let app = &app;
        async move {
            let (status, body) = app.system_events(&query).await;
            assert_eq!(status, 200, "{body}");
            body["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("severity=SEV-2".into()).await, 4);
    assert_eq!(count("code=TEST_EVENT_0".into()).await, 3);
    assert_eq!(count(format!("bot_id={bot}")).await, 2);
    assert_eq!(count("provider_id=databento".into()).await, 2);
    assert_eq!(count("from=2100-01-01T00:00:00Z".into()).await, 0);
    assert_eq!(count("to=2000-01-01T00:00:00Z".into()).await, 0);
    assert_eq!(count("severity=INFO&code=TEST_EVENT_1".into()).await, 1);
}

#[sqlx::test]
async fn bad_queries_are_validation_failed_and_name_the_field(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    for (query, field) in [
        ("limit=0", Some("limit")),
        ("limit=501", Some("limit")),
        ("cursor=bogus", Some("cursor")),
        (
            "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            Some("from"),
        ),
        ("severity=LOUD", None),
        ("bot_id=not-a-uuid", None),
        ("limit=abc", None),
    ] {
        let (status, body) = app.system_events(query).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(error_code(&body), "VALIDATION_FAILED");
        if let Some(field) = field {
            assert_eq!(body["error"]["details"]["field"], field, "{query}");
        }
    }
}

#[sqlx::test]
async fn events_carry_the_trace_id_they_were_written_under(pool: PgPool) {
    let trace = TraceId::generate();
    // The event is made inside the scope, as a handler would make it.
    let written = trace
        .clone()
        .scope(async {
            let event = NewSystemEvent::new(Severity::Sev1, "TEST_TRACED", "inside a request");
            system_events::insert(&pool, event, crate::support::now()).await
        })
        .await
        .unwrap();
    assert_eq!(written.trace_id, trace.as_str());
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let (_, body) = app.system_events("code=TEST_TRACED").await;
    assert_eq!(body["items"][0]["trace_id"], trace.as_str());
    assert_eq!(body["items"][0]["severity"], "SEV-1");
}
