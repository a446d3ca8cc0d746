//! `GET /api/usage-events` (Proof of Use across providers: filters, keyset pages, bad input
//! named by field) and `GET /api/usage-events/series` (per provider buckets from the usage
//! rollups), checked against events written with known times.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sqlx::PgPool;
use tradeplane::store::usage_events::{self, UsageEvent, UsageStatus};
use uuid::Uuid;

use crate::support::{Reply, error_code, spawn_app};

fn event(
    provider: &str,
    status: UsageStatus,
    latency: u32,
    code: Option<&str>,
    bot: Option<Uuid>,
    at: DateTime<Utc>,
) -> UsageEvent {
    let mut e = UsageEvent::new(provider, "bars.fetch", status, latency, at);
    e.error_code = code.map(str::to_owned);
    e.bot_id = bot;
    e
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {body}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A 422 VALIDATION_FAILED naming `field` (`what` names the request in a failure).
fn expect_field((status, body): Reply, what: &str, field: &str) {
    assert_eq!(status, 422, "{what}: {body}");
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{what}");
    assert_eq!(body["error"]["details"]["field"], field, "{what}: {body}");
}

#[sqlx::test]
async fn usage_events_list_filters_paginates_and_names_bad_parameters(pool: PgPool) {
    let now = crate::support::now();
    let (bot_a, bot_b) = (Uuid::now_v7(), Uuid::now_v7());
    let min = |m: i64| now - Duration::minutes(m);
    use UsageStatus::{Error, Ok, Verify};
    // Written oldest last, so the order the API returns comes from the times, not insertion.
    let events = vec![
        event("databento", Ok, 11, None, Some(bot_a), min(1)),
        event(
            "databento",
            Error,
            12,
            Some("PROVIDER_HTTP_5XX"),
            Some(bot_a),
            min(2),
        ),
        event("polygon", Ok, 13, None, Some(bot_b), min(3)),
        event("openai", Verify, 14, None, None, min(4)),
        event("databento", Ok, 15, None, Some(bot_a), min(5)),
        event("polygon", Ok, 16, None, Some(bot_b), min(30)),
        event("databento", Ok, 17, None, None, now - Duration::hours(26)),
    ];
    usage_events::insert_many(&pool, &events).await.unwrap();
    let newest_first: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    let app = spawn_app(pool.clone()).await.signed_in_as_admin().await;

    // Everything, newest first, with the fields the viewer shows.
    let (status, body) = app.usage_events("").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), newest_first);
    assert_eq!(body["next_cursor"], Value::Null);
    let second = &body["items"][1];
    assert_eq!(second["provider_id"], "databento");
    assert_eq!(second["status"], "ERROR");
    assert_eq!(second["error_code"], "PROVIDER_HTTP_5XX");
    assert_eq!(second["latency_ms"], 12);
    assert_eq!(second["bot_id"], bot_a.to_string());
    assert_eq!(second["action"], "bars.fetch");
    assert!(second["metadata"].is_object());
    assert_eq!(second["trace_id"].as_str().unwrap().len(), 32);
    assert_eq!(
        second["created_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap()
            .timestamp_micros(),
        events[1].created_at.timestamp_micros()
    );

    // Filters, alone and together.
    let (_, body) = app.usage_events("provider=databento").await;
    assert_eq!(
        ids(&body),
        [0, 1, 4, 6].map(|i| newest_first[i].clone()).to_vec()
    );
    let (_, body) = app.usage_events("provider=databento&status=ERROR").await;
    assert_eq!(ids(&body), [newest_first[1].clone()]);
    let (_, body) = app.usage_events(&format!("bot_id={bot_b}")).await;
    assert_eq!(ids(&body), [2, 5].map(|i| newest_first[i].clone()).to_vec());
    let (_, body) = app.usage_events("status=VERIFY").await;
    assert_eq!(ids(&body), [newest_first[3].clone()]);
    let from = (now - Duration::minutes(10)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let to = (now - Duration::minutes(2)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (_, body) = app
        .usage_events(&format!(
            "from={}&to={}",
            urlencoding(&from),
            urlencoding(&to)
        ))
        .await;
    // [from, to): the event at exactly `to` (2 minutes ago) is left out.
    assert_eq!(
        ids(&body),
        [2, 3, 4].map(|i| newest_first[i].clone()).to_vec()
    );

    // Keyset pages of 3: every event once, in order, and the last page has no cursor.
    let mut seen = Vec::new();
    let mut query = "limit=3".to_owned();
    for page in 0.. {
        let (status, body) = app.usage_events(&query).await;
        assert_eq!(status, 200, "{body}");
        seen.extend(ids(&body));
        match body["next_cursor"].as_str() {
            Some(c) => query = format!("limit=3&cursor={c}"),
            None => {
                assert_eq!(page, 2);
                break;
            }
        }
    }
    assert_eq!(seen, newest_first);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());

    // Bad input: a structured VALIDATION_FAILED naming the parameter.
    expect_field(
        app.usage_events("provider=nope").await,
        "provider=nope",
        "provider",
    );
    expect_field(
        app.usage_events("status=FAILED").await,
        "status=FAILED",
        "status",
    );
    expect_field(app.usage_events("status=ok").await, "status=ok", "status");
    expect_field(
        app.usage_events("bot_id=not-a-uuid").await,
        "bot_id=not-a-uuid",
        "bot_id",
    );
    expect_field(app.usage_events("limit=0").await, "limit=0", "limit");
    expect_field(app.usage_events("limit=501").await, "limit=501", "limit");
    expect_field(
        app.usage_events("cursor=garbage").await,
        "cursor=garbage",
        "cursor",
    );

    // A viewer reads it; without a session nobody does.
    let admin = app.admin_client().await;
    let viewer = app
        .user_with_role(&admin, "viewer@example.com", "viewer")
        .await;
    let (status, body) = app.as_user(&viewer).usage_events("limit=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), [newest_first[0].clone()]);
    let (status, _) = app.anonymous().usage_events("").await;
    assert_eq!(status, 401);
}

fn urlencoding(raw: &str) -> String {
    raw.replace('+', "%2B").replace(':', "%3A")
}

fn provider<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider_id"] == id)
        .unwrap_or_else(|| panic!("{id} missing from {body}"))
}

/// The bucket of `series` that contains `at`.
fn bucket_at(series: &Value, width_secs: i64, at: DateTime<Utc>) -> &Value {
    series["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| {
            let start: DateTime<Utc> = b["start"].as_str().unwrap().parse().unwrap();
            start <= at && at < start + Duration::seconds(width_secs)
        })
        .unwrap_or_else(|| panic!("no bucket holds {at}: {series}"))
}

fn sum(series: &Value, key: &str) -> i64 {
    series["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[key].as_i64().unwrap())
        .sum()
}

#[sqlx::test]
async fn usage_series_covers_every_provider_from_the_rollups(pool: PgPool) {
    let now = crate::support::now();
    let recent = now - Duration::minutes(10);
    let earlier = now - Duration::hours(3);
    use UsageStatus::{Error, Ok, Verify};
    let events = vec![
        event("databento", Ok, 1, None, None, recent),
        event("databento", Ok, 2, None, None, recent),
        event("databento", Ok, 3, None, None, recent),
        event(
            "databento",
            Error,
            4,
            Some("PROVIDER_TIMEOUT"),
            None,
            recent,
        ),
        event("databento", Ok, 5, None, None, earlier),
        event("databento", Verify, 6, None, None, earlier),
        // Outside 24h.
        event("openai", Ok, 7, None, None, now - Duration::hours(25)),
    ];
    usage_events::insert_many(&pool, &events).await.unwrap();
    let app = spawn_app(pool.clone()).await.signed_in_as_admin().await;

    let (status, body) = app.usage_series("").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["window"], "24h");
    assert_eq!(body["bucket_seconds"], 3600);
    assert_eq!(body["source"], "integration_usage_hourly");
    let from: DateTime<Utc> = body["from"].as_str().unwrap().parse().unwrap();
    let to: DateTime<Utc> = body["to"].as_str().unwrap().parse().unwrap();
    assert_eq!(to - from, Duration::hours(24));
    assert_eq!(to.timestamp() % 3600, 0, "hour-aligned: {to}");
    assert!(to > now && to - now <= Duration::hours(1) + Duration::seconds(5));
    // Every registered provider, called or not.
    let providers = body["providers"].as_array().unwrap();
    assert_eq!(
        providers.len(),
        tradeplane::integrations::registry::PROVIDERS.len()
    );
    for p in providers {
        assert_eq!(p["buckets"].as_array().unwrap().len(), 24, "{p}");
    }
    let db = provider(&body, "databento");
    assert_eq!(db["calls"], 6);
    assert_eq!(db["errors"], 1);
    assert_eq!(db["no_data_reason"], Value::Null);
    assert_eq!(bucket_at(db, 3600, recent)["calls"], 4);
    assert_eq!(bucket_at(db, 3600, recent)["errors"], 1);
    assert_eq!(bucket_at(db, 3600, earlier)["calls"], 2);
    assert_eq!(bucket_at(db, 3600, earlier)["errors"], 0);
    assert_eq!(sum(db, "calls"), 6);
    let openai = provider(&body, "openai");
    assert_eq!(openai["calls"], 0);
    assert_eq!(sum(openai, "calls"), 0);
    assert_eq!(openai["no_data_reason"], "not configured");
    assert_eq!(provider(&body, "discord")["calls"], 0);

    // 1h in minutes: the minute rollup; the 3-hour-old events are outside.
    let (status, body) = app.usage_series("window=1h&buckets=60").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source"], "integration_usage_minutely");
    assert_eq!(body["bucket_seconds"], 60);
    let db = provider(&body, "databento");
    assert_eq!(db["buckets"].as_array().unwrap().len(), 60);
    assert_eq!(db["calls"], 4);
    assert_eq!(bucket_at(db, 60, recent)["calls"], 4);
    assert_eq!(bucket_at(db, 60, recent)["errors"], 1);

    // A week in days.
    let (status, body) = app.usage_series("window=7d&buckets=7").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bucket_seconds"], 86_400);
    assert_eq!(provider(&body, "openai")["calls"], 1);

    for (query, field) in [
        ("buckets=0", "buckets"),
        ("buckets=289", "buckets"),
        ("buckets=many", "buckets"),
        // 1h / 7 is not a whole number of minutes.
        ("window=1h&buckets=7", "buckets"),
        ("window=2w", "window"),
        ("window=31d", "window"),
    ] {
        expect_field(app.usage_series(query).await, query, field);
    }
}

/// The autonomy scorer's per-bot usage evidence comes from the hourly rollup the insert
/// trigger keeps: batches add up, every bot is apart, the last good bar read is exact, and the
/// 24 h window holds the hours that begin inside it (an event of the window's first, partial
/// hour is left out; none from before the window ever counts).
#[sqlx::test]
async fn the_scorers_usage_evidence_is_the_days_whole_hours_from_the_rollup(pool: PgPool) {
    use tradeplane::store::autonomy_scores;
    let now: DateTime<Utc> = "2026-12-07T12:30:00Z".parse().unwrap();
    let (bot, other, idle) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let at = |ago: Duration| now - ago;
    let read = |status, bot, ago| event("databento", status, 3, None, Some(bot), at(ago));
    let mut llm = UsageEvent::new(
        "openai",
        "llm.complete",
        UsageStatus::Ok,
        40,
        at(Duration::hours(3)),
    );
    llm.bot_id = Some(bot);
    let first = vec![
        read(UsageStatus::Ok, bot, Duration::minutes(10)),
        read(UsageStatus::Ok, bot, Duration::minutes(20)),
        read(UsageStatus::Error, bot, Duration::hours(2)),
        llm,
        // 23 h 25 min ago (13:05 the day before): the window's first whole hour.
        read(UsageStatus::Ok, bot, Duration::minutes(23 * 60 + 25)),
        // 23 h 50 min ago (12:40): the window's first, partial hour (left out).
        read(UsageStatus::Ok, bot, Duration::minutes(23 * 60 + 50)),
        // Before the window.
        read(UsageStatus::Ok, bot, Duration::hours(25)),
        read(UsageStatus::Ok, other, Duration::minutes(5)),
    ];
    usage_events::insert_many(&pool, &first).await.unwrap();
    // A later batch into the same hours adds to them.
    let second = vec![
        read(UsageStatus::Ok, bot, Duration::minutes(1)),
        read(UsageStatus::Error, bot, Duration::minutes(2)),
    ];
    usage_events::insert_many(&pool, &second).await.unwrap();

    let (evidence, _) = autonomy_scores::evidence(&pool, &[bot, other, idle], now)
        .await
        .unwrap();
    let e = &evidence[&bot];
    assert_eq!(
        e.bar_reads_24h, 6,
        "two batches: 10, 20 min, 2 h, 23 h 25, 1 and 2 min ago"
    );
    assert_eq!(e.bar_read_errors_24h, 2);
    assert_eq!(e.usage_ok_24h, 5, "four good reads and the LLM call");
    assert_eq!(e.last_bar_read_ok_at, Some(at(Duration::minutes(1))));
    let o = &evidence[&other];
    assert_eq!((o.bar_reads_24h, o.usage_ok_24h), (1, 1));
    assert_eq!(o.last_bar_read_ok_at, Some(at(Duration::minutes(5))));
    let i = &evidence[&idle];
    assert_eq!(
        (i.bar_reads_24h, i.usage_ok_24h, i.last_bar_read_ok_at),
        (0, 0, None)
    );
}

/// A node as `serve` runs it keeps the events' days: as leader it makes today's partition and
/// the next two at start (rows of today written before that are moved into it), and the
/// events it writes after land in their day.
#[sqlx::test]
async fn the_leader_makes_the_usage_events_days_ahead(pool: PgPool) {
    use tradeplane::store::usage_partitions;
    let before = event(
        "databento",
        UsageStatus::Ok,
        1,
        None,
        None,
        crate::support::now(),
    );
    usage_events::insert_many(&pool, std::slice::from_ref(&before))
        .await
        .unwrap();
    let _app = crate::support::spawn_app_with_runtime(pool.clone()).await;
    let today = crate::support::now().date_naive();
    let days = crate::support::fixtures::until("the leader's partitions", async || {
        let days = usage_partitions::days(&pool).await.unwrap();
        (days.len() == 3).then_some(days)
    })
    .await;
    assert_eq!(
        days,
        (0..3)
            .map(|d| today + Duration::days(d))
            .collect::<Vec<_>>()
    );
    let home: String = sqlx::query_scalar(
        "SELECT tableoid::regclass::text FROM integration_usage_events WHERE id = $1",
    )
    .bind(before.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        home,
        format!("integration_usage_events_p{}", today.format("%Y%m%d"))
    );
}
