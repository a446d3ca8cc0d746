//! The news gate (issue 19): Finnhub's market-news request (golden, checked against
//! reference/providers.md §3) and its refusals; then end to end on the sandbox — a risk-off
//! headline blocks a gated bot's new entries with `NEWS_RISK_OFF` while an ungated bot trades;
//! the LLM killed mid-run closes the gate (`NEWS_GATE_UNAVAILABLE`) for gated bots only, exits
//! still allowed; each headline is classified once; safe start and status know the gate
//! needs AI.
//!
//! Regenerate the golden after an intended change: `UPDATE_GOLDEN=1 cargo test --test it news_gate::`.

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    clock::Clock,
    domain::{
        news::{NewsClass, NewsItem, NewsSnapshot},
        timeframe::Timeframe,
    },
    integrations::{
        Integrations, http::CallContext, providers::finnhub_news, registry::EnvMap,
        usage::MemoryUsageSink,
    },
    runtime::{BarTick, RuntimeHandle, news::NewsConfig},
    store::news as news_store,
};
use uuid::Uuid;
use wiremock::{Mock, MockServer, Request, ResponseTemplate, matchers::any};

use crate::support::{
    FAKE_KEY, TestApp, env_for, error_code,
    fixtures::{sandbox_llm_fault, set_stage, start_sandbox, until},
    golden::golden,
    now,
    paper::{config, evaluations, session_start, started_bot},
    spawn_app_with_runtime_config,
};

/// One request as the golden file shows it: method, path, query, the auth header (the key
/// replaced by its variable name).
fn render(req: &Request) -> String {
    let mut out = format!("{} {}\n", req.method, req.url.path());
    let mut query: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
    query.sort();
    for (k, v) in query {
        out.push_str(&format!("query {k}={v}\n"));
    }
    for name in ["x-finnhub-token", "authorization"] {
        if let Some(v) = req.headers.get(name).and_then(|v| v.to_str().ok()) {
            out.push_str(&format!(
                "header {name}: {}\n",
                v.replace(FAKE_KEY, "$FINNHUB_API_KEY")
            ));
        }
    }
    out
}

fn finnhub(base: &str, sink: MemoryUsageSink) -> Integrations {
    Integrations::from_env(
        &env_for("finnhub", base),
        Arc::new(sink),
        Duration::from_secs(5),
        &Clock::system(),
    )
}

/// Finnhub's documented item shape.
fn item(id: i64, headline: &str) -> Value {
    json!({"category": "top news", "datetime": 1_796_378_400, "headline": headline, "id": id,
        "image": "https://example.com/i.jpg", "related": "", "source": "Reuters",
        "summary": "…", "url": "https://example.com/n"})
}

#[tokio::test]
async fn market_news_is_the_documented_request_with_the_key_in_the_header() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            item(7_501, "Stocks slide"),
            item(7_500, "Fed holds")
        ])))
        .mount(&server)
        .await;
    let sink = MemoryUsageSink::new();
    let integrations = finnhub(&format!("{}/api/v1", server.uri()), sink.clone());
    let client = integrations.client("finnhub").unwrap();
    let items = finnhub_news::market_news(&client, "general", 7_499, CallContext::default())
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].id, 7_501);
    assert_eq!(items[0].headline, "Stocks slide");
    assert_eq!(
        items[0].published_at().unwrap(),
        "2026-12-04T10:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let rendered = render(&requests[0]);
    golden("finnhub_news", &rendered);
    // reference/providers.md §3: `GET /news?category=general` under `/api/v1`, the key in
    // `X-Finnhub-Token` (header auth preferred), never as `?token=`.
    assert!(rendered.starts_with("GET /api/v1/news\n"), "{rendered}");
    assert!(rendered.contains("query category=general\n"));
    assert!(rendered.contains("query minId=7499\n"));
    assert!(rendered.contains("header x-finnhub-token: $FINNHUB_API_KEY\n"));
    assert!(!rendered.contains("token="), "{rendered}");
    let events = sink.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "news.market");
    assert_eq!(events[0].metadata["items"], 2);
    assert!(!events[0].metadata.to_string().contains(FAKE_KEY));
}

#[tokio::test]
async fn finnhub_refusals_map_to_their_codes_and_only_a_429_is_retried() {
    for (status, body, code, calls) in [
        (
            401,
            json!({"error": "Invalid API key."}),
            "INVALID_CREDENTIALS",
            1,
        ),
        (
            403,
            json!({"error": "You don't have access to this resource."}),
            "INSUFFICIENT_PLAN",
            1,
        ),
        (
            429,
            json!({"error": "API limit reached. Please try again later. Remaining Limit: 0"}),
            "RATE_LIMITED",
            3,
        ),
    ] {
        eprintln!("finnhub answers {status}");
        let server = MockServer::start().await;
        let mut reply = ResponseTemplate::new(status).set_body_json(body.clone());
        if status == 429 {
            reply = reply.insert_header("retry-after", "1");
        }
        Mock::given(any()).respond_with(reply).mount(&server).await;
        let sink = MemoryUsageSink::new();
        let integrations = finnhub(&format!("{}/api/v1", server.uri()), sink.clone());
        let client = integrations.client("finnhub").unwrap();
        let err = finnhub_news::market_news(&client, "general", 0, CallContext::default())
            .await
            .unwrap_err();
        assert_eq!(err.code, code, "{status}");
        assert_eq!(err.http_status, Some(status));
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            calls,
            "{status}: retried only when the vendor said slow down"
        );
        assert!(!err.message.contains(FAKE_KEY));
        let events = sink.events();
        assert_eq!(events.len(), 1, "one usage event per call");
        assert_eq!(events[0].error_code.as_deref(), Some(code));
    }
    // A 200 that is not the documented array is a bad response, not an empty feed.
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"error": "x"})))
        .mount(&server)
        .await;
    let integrations = finnhub(&format!("{}/api/v1", server.uri()), MemoryUsageSink::new());
    let err = finnhub_news::market_news(
        &integrations.client("finnhub").unwrap(),
        "general",
        0,
        CallContext::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "BAD_RESPONSE");
}
// ---- End to end on the sandbox -------------------------------------------------------------

/// A PAPER bot like `paper::started_bot`'s, with `strategy.filters.news_gate`, started.
async fn gated_bot(app: &TestApp, name: &str, window: u32) -> Uuid {
    let (status, body) = app
        .create_bot(json!({
            "name": name, "symbol": "ES", "timeframe": "1m", "stage": "LAB",
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4},
                         "filters": {"news_gate": {"window_minutes": window}}},
            "risk": {"max_order_size": 1, "max_position": 1, "daily_loss_limit": 100000.0,
                     "max_drawdown": 100000.0}
        }))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["bot"]["strategy"]["filters"]["news_gate"]["window_minutes"], window,
        "{body}"
    );
    let id: Uuid = body["bot"]["id"].as_str().unwrap().parse().unwrap();
    set_stage(&app.pool, id, "PAPER").await;
    let (status, body) = app.start_bot(id).await;
    assert_eq!(status, 200, "{body}");
    id
}

/// The app on the sandbox with a fast news poll (1 s) and cache (100 ms).
async fn news_app(pool: &PgPool, env: &EnvMap) -> TestApp {
    let mut runtime = config(env);
    runtime.news = NewsConfig {
        refresh_every: Duration::from_millis(100),
        ..NewsConfig::with_poll(Duration::from_secs(1))
    };
    spawn_app_with_runtime_config(pool.clone(), runtime)
        .await
        .signed_in_as_admin()
        .await
}

/// Injects a headline into the sandbox's Finnhub feed.
async fn inject(env: &EnvMap, headline: &str, at: DateTime<Utc>) {
    let res = reqwest::Client::new()
        .post(format!(
            "{}/_sandbox/finnhub/news",
            env["DATABENTO_BASE_URL"].trim_end_matches('/')
        ))
        .json(&json!({"headline": headline, "source": "Wire", "datetime": at.timestamp()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn snapshot_where(
    rt: &RuntimeHandle,
    what: &str,
    f: impl Fn(&NewsSnapshot) -> bool,
) -> Arc<NewsSnapshot> {
    until(what, async || {
        let s = rt.news_snapshot();
        f(&s).then_some(s)
    })
    .await
}

/// Replays boundary `at` once for every runner and waits until each of `bots` has its trace.
async fn tick_all(rt: &RuntimeHandle, pool: &PgPool, bots: &[Uuid], at: DateTime<Utc>) {
    let mut before = Vec::new();
    for b in bots {
        before.push(evaluations(pool, *b).await);
    }
    let sent = rt.inject_tick(BarTick {
        timeframe: Timeframe::M1,
        bar_at: SystemTime::from(at),
        fired_at: now().into(),
    });
    assert!(sent > 0, "no runner subscribed");
    let deadline = Instant::now() + Duration::from_secs(15);
    for (b, n) in bots.iter().zip(before) {
        while evaluations(pool, *b).await < n + 1 {
            assert!(Instant::now() < deadline, "tick {at} left no trace for {b}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The bot's decisions (type) evaluated at bars after `since`.
async fn decisions(pool: &PgPool, bot: Uuid, since: DateTime<Utc>) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT decision_type FROM decision_traces WHERE bot_id = $1 AND created_at > $2 \
         ORDER BY created_at",
    )
    .bind(bot)
    .bind(since)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Every blocker (code, gate, reason) on the bot's no-trade traces seen after `since`.
async fn blockers(pool: &PgPool, bot: Uuid, since: DateTime<Utc>) -> Vec<(String, String, String)> {
    let rows: Vec<Value> = sqlx::query_scalar(
        "SELECT blocked_by FROM no_trade_traces WHERE bot_id = $1 AND last_seen_at > $2",
    )
    .bind(bot)
    .bind(since)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter()
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .map(|b| {
            let s = |k: &str| b[k].as_str().unwrap_or("").to_owned();
            (s("code"), s("gate"), s("reason_human"))
        })
        .collect()
}

fn minute(m: i64) -> DateTime<Utc> {
    session_start() + chrono::Duration::minutes(m)
}

#[sqlx::test]
async fn a_risk_off_headline_blocks_gated_entries_while_an_ungated_bot_trades(pool: PgPool) {
    let env = start_sandbox().await;
    let app = news_app(&pool, &env).await;
    let rt = app.state.runtime.clone();
    let plain = started_bot(&app, "plain").await;
    let gated = gated_bot(&app, "gated", 30).await;
    // The poller fetched the sandbox's 24 hourly headlines and classified them.
    let snap = snapshot_where(&rt, "the news gate loaded", |s| {
        s.unavailable.is_none() && !s.risk_off.is_empty()
    })
    .await;
    assert!(
        snap.risk_off.iter().all(|h| h.headline.contains("plunge")),
        "{snap:?}"
    );

    // A risk-off headline published at the session's first minute (the evaluations' time).
    let headline = "Stocks crash as war fears spread";
    inject(&env, headline, minute(1)).await;
    snapshot_where(&rt, "the injected headline classified risk-off", |s| {
        s.risk_off.iter().any(|h| h.headline == headline)
    })
    .await;
    let started = now();
    for m in 2..=30 {
        tick_all(&rt, &pool, &[plain, gated], minute(m)).await;
    }
    // Within the window (minutes 1–30) the gated bot enters nothing; the trace names the
    // headline. The ungated bot traded.
    assert_eq!(decisions(&pool, gated, started).await, Vec::<String>::new());
    let gated_blocks = blockers(&pool, gated, started).await;
    assert!(
        gated_blocks
            .iter()
            .any(|(code, gate, reason)| code == "NEWS_RISK_OFF"
                && gate == "news_gate"
                && reason.contains(headline)),
        "{gated_blocks:?}"
    );
    assert!(
        !decisions(&pool, plain, started).await.is_empty(),
        "the ungated bot trades"
    );
    assert!(
        blockers(&pool, plain, started)
            .await
            .iter()
            .all(|(code, ..)| !code.starts_with("NEWS_"))
    );
    // After the window the gated bot trades again.
    let after = now();
    let mut m = 31;
    while decisions(&pool, gated, after).await.is_empty() {
        assert!(m < 90, "the gated bot never traded after the window");
        tick_all(&rt, &pool, &[plain, gated], minute(m)).await;
        m += 1;
    }

    // Each headline was classified once: every id in exactly one answered batch, none left,
    // and further polls (nothing new) ask the LLM nothing.
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM news_headlines WHERE class IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let stored: HashSet<i64> = sqlx::query_scalar("SELECT headline_id FROM news_headlines")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(stored.len(), 25);
    let prompts: Vec<String> = sqlx::query_scalar(
        "SELECT prompt FROM ai_interactions WHERE action = 'news_classify' AND status = 'OK'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut asked = Vec::new();
    for p in &prompts {
        for line in p.lines() {
            if let Some(rest) = line.strip_prefix("id=") {
                asked.push(rest.split(' ').next().unwrap().parse::<i64>().unwrap());
            }
        }
    }
    assert_eq!(asked.len(), stored.len(), "{asked:?}");
    assert_eq!(asked.iter().copied().collect::<HashSet<_>>(), stored);
    let calls = prompts.len();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let again: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ai_interactions WHERE action = 'news_classify'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(again as usize, calls, "no headline is classified twice");
    // The classification went through the one AI path: usage events with the action's purpose.
    until("usage events of the classification calls", async || {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM integration_usage_events WHERE action = 'generate' \
             AND metadata ->> 'purpose' = 'news_classify' AND status = 'OK'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (n as usize >= calls).then_some(())
    })
    .await;
}

#[sqlx::test]
async fn the_llm_killed_mid_run_closes_the_gate_for_gated_entries_only(pool: PgPool) {
    let mut env = start_sandbox().await;
    env.insert("TRADEPLANE_LLM_ORDER".into(), "openai".into());
    let app = news_app(&pool, &env).await;
    let rt = app.state.runtime.clone();
    let plain = started_bot(&app, "plain").await;
    let gated = gated_bot(&app, "gated", 30).await;
    snapshot_where(&rt, "the news gate loaded", |s| s.unavailable.is_none()).await;

    // The gated bot trades while the gate is open, until it holds a position.
    let mut m = 1;
    while !decisions(&pool, gated, DateTime::<Utc>::UNIX_EPOCH)
        .await
        .iter()
        .any(|d| d == "ENTRY")
    {
        assert!(m < 60, "the gated bot never entered");
        tick_all(&rt, &pool, &[plain, gated], minute(m)).await;
        m += 1;
    }

    // The LLM dies; a new headline cannot be classified: the gate closes.
    sandbox_llm_fault(&env, "openai", json!("outage"), None).await;
    inject(&env, "Central bank schedules a press conference", now()).await;
    let snap = snapshot_where(&rt, "the gate closed", |s| s.unavailable.is_some()).await;
    assert!(
        snap.unavailable
            .as_deref()
            .unwrap()
            .contains("AI_PROVIDER_UNAVAILABLE"),
        "{snap:?}"
    );
    let killed = now();
    let start = m;
    // Entries blocked with the gate's code, exits allowed; the ungated bot is untouched.
    while !decisions(&pool, gated, killed)
        .await
        .iter()
        .any(|d| d == "EXIT")
    {
        assert!(m < start + 60, "the gated bot never exited");
        tick_all(&rt, &pool, &[plain, gated], minute(m)).await;
        m += 1;
    }
    for _ in 0..5 {
        tick_all(&rt, &pool, &[plain, gated], minute(m)).await;
        m += 1;
    }
    let gated_after = decisions(&pool, gated, killed).await;
    assert!(gated_after.iter().all(|d| d == "EXIT"), "{gated_after:?}");
    let gated_blocks = blockers(&pool, gated, killed).await;
    assert!(
        gated_blocks
            .iter()
            .any(|(code, gate, _)| code == "NEWS_GATE_UNAVAILABLE" && gate == "news_gate"),
        "{gated_blocks:?}"
    );
    assert!(
        !decisions(&pool, plain, killed).await.is_empty(),
        "the ungated bot trades"
    );
    assert!(
        blockers(&pool, plain, killed)
            .await
            .iter()
            .all(|(code, ..)| !code.starts_with("NEWS_"))
    );
    // The refusal is on record as the action's.
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ai_interactions WHERE action = 'news_classify' \
         AND status = 'REFUSED' AND error_code = 'AI_PROVIDER_UNAVAILABLE'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(refused >= 1);

    // The LLM is back (and its breaker's cool-down over, or a probe through): the gate reopens.
    sandbox_llm_fault(&env, "openai", Value::Null, None).await;
    let (status, body) = app.reset_breaker("openai").await;
    assert!((200..300).contains(&status), "{status} {body}");
    snapshot_where(&rt, "the gate reopened", |s| s.unavailable.is_none()).await;
}

#[sqlx::test]
async fn safe_start_and_status_know_a_news_gated_bot_needs_ai(pool: PgPool) {
    let sandbox = start_sandbox().await;
    let llm = |k: &str| {
        [
            "OPENAI_",
            "ANTHROPIC_",
            "GEMINI_",
            "GOOGLE_GEMINI_",
            "GROQ_",
            "XAI_",
            "OPENROUTER_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
    };
    // No LLM: a gated bot is refused at start, an ungated one starts.
    let env: EnvMap = sandbox
        .clone()
        .into_iter()
        .filter(|(k, _)| !llm(k))
        .collect();
    let app = news_app(&pool, &env).await;
    let plain = started_bot(&app, "plain").await;
    let (status, body) = app
        .create_bot(json!({
            "name": "gated", "symbol": "ES", "timeframe": "1m", "stage": "LAB",
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4},
                         "filters": {"news_gate": {}}},
        }))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["bot"]["strategy"]["filters"]["news_gate"]["window_minutes"],
        30
    );
    let gated = body["bot"]["id"].as_str().unwrap().to_owned();
    set_stage(&app.pool, &gated, "PAPER").await;
    let (status, body) = app.start_bot(&gated).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_code(&body), "AI_PROVIDER_UNAVAILABLE");
    assert!(
        body["trace_id"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    // Only the ungated bot runs: no active bot needs AI, so "AI unavailable" is a notice.
    let (_, status) = app.system_status().await;
    assert!(
        status["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["code"] != "AI_PROVIDER_UNAVAILABLE"),
        "{status}"
    );
    // A window out of range names its field.
    let (status, body) = app
        .create_bot(json!({
            "name": "bad", "symbol": "ES", "timeframe": "1m", "stage": "LAB",
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4},
                         "filters": {"news_gate": {"window_minutes": 1441}}},
        }))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string()
            .contains("strategy.filters.news_gate.window_minutes"),
        "{body}"
    );
    // A gated bot that is active (here: marked RUNNING behind the lifecycle's back, as after
    // the LLM keys were removed and the node restarted) makes it a blocker.
    sqlx::query("UPDATE bots SET status = 'RUNNING' WHERE id = $1")
        .bind(gated.parse::<Uuid>().unwrap())
        .execute(&pool)
        .await
        .unwrap();
    until("AI unavailable becomes a blocker", async || {
        let (_, status) = app.system_status().await;
        status["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["code"] == "AI_PROVIDER_UNAVAILABLE")
            .then_some(())
    })
    .await;
    let _ = plain;

    // LLM but no Finnhub key: refused naming the missing key.
    let pool2 = pool.clone();
    drop(app);
    let env: EnvMap = sandbox
        .into_iter()
        .filter(|(k, _)| !k.starts_with("FINNHUB_"))
        .collect();
    let app = news_app(&pool2, &env).await;
    sqlx::query("UPDATE bots SET status = 'STOPPED' WHERE id = $1")
        .bind(gated.parse::<Uuid>().unwrap())
        .execute(&pool2)
        .await
        .unwrap();
    for provider in ["databento", "polygon"] {
        let (status, _) = app.verify_integration(provider).await;
        assert_eq!(status, 200);
    }
    let (status, body) = app.start_bot(&gated).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "INTEGRATION_KEY_MISSING");
    assert!(body.to_string().contains("FINNHUB_API_KEY"), "{body}");
}

/// Stores a headline as the poller would (fetched at `at`), classified `class` when given.
async fn stored_headline(pool: &PgPool, id: i64, at: DateTime<Utc>, class: Option<NewsClass>) {
    let item = NewsItem {
        id,
        datetime: at.timestamp(),
        headline: format!("Headline {id}: markets tumble"),
        source: "Wire".into(),
        category: "general".into(),
    };
    news_store::insert_items(pool, "finnhub", &[item], at)
        .await
        .unwrap();
    if let Some(class) = class {
        news_store::set_classes(pool, "finnhub", &[(id, class)], at, "sandbox/test", "t")
            .await
            .unwrap();
    }
}

#[sqlx::test]
async fn backtests_replay_the_stored_headlines_or_fail_when_they_do_not_cover_the_range(
    pool: PgPool,
) {
    let env = start_sandbox().await;
    let runtime = tradeplane::runtime::RuntimeConfig {
        jobs: tradeplane::runtime::jobs::JobsConfig {
            workers: 1,
            poll_every: Duration::from_millis(50),
            heartbeat_every: Duration::from_millis(50),
        },
        ..config(&env)
    };
    let app = spawn_app_with_runtime_config(pool.clone(), runtime)
        .await
        .signed_in_as_admin()
        .await;
    let (from, to) = (at("2026-11-17T12:00:00Z"), at("2026-11-17T16:00:00Z"));
    let body = |filters: Value| {
        json!({
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4}, "filters": filters},
            "symbol": "ES", "timeframe": "5m",
            "from": from, "to": to,
            "risk": {"daily_loss_limit": 50000, "max_drawdown": 50000}
        })
    };
    let gate = |window: u32| json!({"news_gate": {"window_minutes": window}});
    let failed_with = async |filters: Value| {
        let (id, _) = app.queue_backtest(body(filters)).await;
        let failed = app.wait_for_backtest(&id, "FAILED").await;
        assert_eq!(
            failed["backtest"]["error_code"], "NEWS_HISTORY_INCOMPLETE",
            "{failed}"
        );
        failed["backtest"]["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    // No stored news: the gated run fails rather than running open.
    assert!(failed_with(gate(60)).await.contains("no news fetch"));

    // The unfiltered run: where it enters.
    let (id, _) = app.queue_backtest(body(Value::Null)).await;
    let plain = app.wait_for_backtest(&id, "SUCCEEDED").await;
    let entries: Vec<DateTime<Utc>> = plain["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["entry_ts"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(entries.len() >= 2, "{plain}");

    // Fetched every 4 min from before the range to after it, but with a 20 min hole: fails.
    let mut fetch = from - chrono::Duration::minutes(62);
    while fetch <= to + chrono::Duration::minutes(4) {
        let hole = fetch > at("2026-11-17T14:00:00Z") && fetch < at("2026-11-17T14:20:00Z");
        news_store::record_fetch(&pool, fetch, hole.then_some("RATE_LIMITED: 429"))
            .await
            .unwrap();
        fetch += chrono::Duration::minutes(4);
    }
    let why = failed_with(gate(60)).await;
    assert!(why.contains("no news was fetched from"), "{why}");
    // The hole filled: covered.
    let mut fetch = at("2026-11-17T14:02:00Z");
    while fetch < at("2026-11-17T14:20:00Z") {
        news_store::record_fetch(&pool, fetch, None).await.unwrap();
        fetch += chrono::Duration::minutes(4);
    }
    // A risk-off headline 10 min before the first entry, still unclassified: fails.
    let published = entries[0] - chrono::Duration::minutes(10);
    stored_headline(&pool, 1, published, None).await;
    let why = failed_with(gate(60)).await;
    assert!(why.contains("no classification"), "{why}");
    // Classified risk-off (plus a neutral one and a risk-off one after the range).
    news_store::set_classes(
        &pool,
        "finnhub",
        &[(1, NewsClass::RiskOff)],
        published,
        "m",
        "t",
    )
    .await
    .unwrap();
    stored_headline(
        &pool,
        2,
        from + chrono::Duration::minutes(3),
        Some(NewsClass::Neutral),
    )
    .await;
    stored_headline(
        &pool,
        3,
        to + chrono::Duration::minutes(30),
        Some(NewsClass::RiskOff),
    )
    .await;

    let (id, _) = app.queue_backtest(body(gate(60))).await;
    let gated = app.wait_for_backtest(&id, "SUCCEEDED").await;
    let counts = &gated["backtest"]["no_trade_counts"];
    assert!(
        counts["NEWS_RISK_OFF"].as_u64().unwrap_or(0) >= 1,
        "{counts}"
    );
    let window_end = published + chrono::Duration::minutes(60);
    let gated_entries: Vec<DateTime<Utc>> = gated["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["entry_ts"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        gated_entries
            .iter()
            .all(|e| *e < published || *e >= window_end),
        "an entry inside the risk-off window: {gated_entries:?}"
    );
    assert!(
        gated_entries.iter().any(|e| *e >= window_end),
        "entries resume after the window: {gated_entries:?}"
    );
    assert_ne!(gated_entries, entries);
    assert!(plain["backtest"]["no_trade_counts"]["NEWS_RISK_OFF"].is_null());

    // Sweeps refuse filtered strategies, the news gate among them (documented).
    let mut sweep = body(gate(60));
    sweep["params"] = json!({"fast": {"values": [2, 3]}});
    let (status, reply) = app.call("POST", "/api/backtests/sweeps", Some(sweep)).await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(
        reply["error"]["details"]["field"], "strategy.filters",
        "{reply}"
    );
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A bot at LAB, gated or not; its id.
async fn lab_bot(app: &TestApp, name: &str, gated: bool) -> String {
    let mut strategy = json!({"kind": "sma_crossover", "params": {"fast": 2, "slow": 4}});
    if gated {
        strategy["filters"] = json!({"news_gate": {}});
    }
    let (status, body) = app
        .create_bot(
            json!({"name": name, "symbol": "ES", "timeframe": "1m", "stage": "LAB",
                           "strategy": strategy}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["bot"]["stage"], "LAB", "{body}");
    body["bot"]["id"].as_str().unwrap().to_owned()
}

/// The codes a promotion to PAPER was refused with (all of them, or the single one).
async fn promotion_refusals(app: &TestApp, id: &str) -> Vec<String> {
    let (status, body) = app.promote_bot(id, json!({"to_stage": "PAPER"})).await;
    assert!(status >= 400, "{body}");
    match body["error"]["details"]["failed"].as_array() {
        Some(failed) => failed
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_owned())
            .collect(),
        None => vec![error_code(&body).to_owned()],
    }
}

#[sqlx::test]
async fn promoting_a_news_gated_bot_checks_the_llm_and_finnhub_as_safe_start_does(pool: PgPool) {
    let sandbox = start_sandbox().await;
    let needs_gate = |k: &str| {
        [
            "OPENAI_",
            "ANTHROPIC_",
            "GEMINI_",
            "GOOGLE_GEMINI_",
            "GROQ_",
            "XAI_",
            "OPENROUTER_",
            "FINNHUB_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
    };
    // Neither an LLM nor Finnhub: the gated bot's promotion lists both, the ungated one's
    // neither (it misses its backtest evidence, as every bot here does).
    let env: EnvMap = sandbox
        .clone()
        .into_iter()
        .filter(|(k, _)| !needs_gate(k))
        .collect();
    let app = news_app(&pool, &env).await;
    let gated = lab_bot(&app, "gated", true).await;
    let plain = lab_bot(&app, "plain", false).await;
    let codes = promotion_refusals(&app, &gated).await;
    assert!(
        codes.contains(&"AI_PROVIDER_UNAVAILABLE".to_owned()),
        "{codes:?}"
    );
    assert!(
        codes.contains(&"INTEGRATION_KEY_MISSING".to_owned()),
        "{codes:?}"
    );
    let (_, body) = app.promote_bot(&gated, json!({"to_stage": "PAPER"})).await;
    assert!(body.to_string().contains("FINNHUB_API_KEY"), "{body}");
    let gate_codes = |codes: &[String]| {
        codes
            .iter()
            .filter(|c| *c == "AI_PROVIDER_UNAVAILABLE" || *c == "INTEGRATION_KEY_MISSING")
            .count()
    };
    let codes = promotion_refusals(&app, &plain).await;
    assert!(
        codes.contains(&"BACKTEST_EVIDENCE_MISSING".to_owned()),
        "{codes:?}"
    );
    assert_eq!(gate_codes(&codes), 0, "{codes:?}");
    // The refusal wrote nothing: still LAB.
    let stage: String = sqlx::query_scalar("SELECT stage FROM bots WHERE id = $1")
        .bind(gated.parse::<Uuid>().unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stage, "LAB");
    drop(app);

    // With both: the gated bot is refused for the rest only (its evidence).
    let app = news_app(&pool, &sandbox).await;
    let codes = promotion_refusals(&app, &gated).await;
    assert!(
        codes.contains(&"BACKTEST_EVIDENCE_MISSING".to_owned()),
        "{codes:?}"
    );
    assert_eq!(gate_codes(&codes), 0, "{codes:?}");
}

#[sqlx::test]
async fn the_gate_state_reads_fetches_headlines_and_each_gated_bot(pool: PgPool) {
    let env = start_sandbox().await;
    let app = news_app(&pool, &env).await;
    let rt = app.state.runtime.clone();
    let wide = lab_bot_with_window(&app, "wide", 60).await;
    let narrow = lab_bot_with_window(&app, "narrow", 5).await;
    let plain = lab_bot(&app, "plain", false).await;
    let t = now();
    news_store::record_fetch(&pool, t, None).await.unwrap();
    // Headlines carry whole seconds.
    let published =
        DateTime::from_timestamp((t - chrono::Duration::minutes(10)).timestamp(), 0).unwrap();
    stored_headline(&pool, 41, published, Some(NewsClass::RiskOff)).await;
    stored_headline(
        &pool,
        42,
        t - chrono::Duration::minutes(2),
        Some(NewsClass::Neutral),
    )
    .await;
    stored_headline(
        &pool,
        43,
        t - chrono::Duration::hours(3),
        Some(NewsClass::RiskOff),
    )
    .await;
    rt.refresh_news(&pool).await.unwrap();

    let (status, body) = app.call("GET", "/api/news-gate", None).await;
    assert_eq!(status, 200, "{body}");
    let view = &body;
    assert!(view["status"]["last_fetch_ok_at"].is_string(), "{view}");
    assert!(view["unavailable"].is_null(), "{view}");
    assert_eq!(view["window_minutes"], 60);
    let active: Vec<i64> = view["risk_off"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["headline_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        active,
        vec![41],
        "only the risk-off headline inside the widest window"
    );
    let until: DateTime<Utc> = view["risk_off"][0]["active_until"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(until, published + chrono::Duration::minutes(60));
    let bot = |id: &str| {
        view["bots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["bot_id"] == id)
            .cloned()
    };
    assert!(bot(&plain).is_none(), "an ungated bot is not listed");
    let w = bot(&wide).unwrap();
    assert_eq!(w["gate"]["verdict"], "RISK_OFF", "{w}");
    assert_eq!(w["gate"]["code"], "NEWS_RISK_OFF");
    assert_eq!(w["gate"]["headline_id"], 41);
    assert_eq!(bot(&narrow).unwrap()["gate"]["verdict"], "OPEN");

    // Classification failing while a headline waits: unavailable, every gated bot closed.
    stored_headline(&pool, 44, t, None).await;
    news_store::record_classify(&pool, t, Some(("AI_PROVIDER_UNAVAILABLE", "all down")))
        .await
        .unwrap();
    rt.refresh_news(&pool).await.unwrap();
    let (_, body) = app.call("GET", "/api/news-gate", None).await;
    let view = &body;
    assert!(
        view["unavailable"]
            .as_str()
            .is_some_and(|u| u.contains("AI_PROVIDER_UNAVAILABLE")),
        "{view}"
    );
    assert_eq!(view["status"]["unclassified"], 1);
    assert_eq!(
        view["status"]["classify_error_code"],
        "AI_PROVIDER_UNAVAILABLE"
    );
    for id in [&wide, &narrow] {
        let b = view["bots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["bot_id"] == id.as_str())
            .unwrap();
        assert_eq!(b["gate"]["verdict"], "UNAVAILABLE", "{b}");
        assert_eq!(b["gate"]["code"], "NEWS_GATE_UNAVAILABLE");
    }
}

async fn lab_bot_with_window(app: &TestApp, name: &str, window: u32) -> String {
    let (status, body) = app
        .create_bot(
            json!({"name": name, "symbol": "ES", "timeframe": "1m", "stage": "LAB",
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4},
                         "filters": {"news_gate": {"window_minutes": window}}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["bot"]["id"].as_str().unwrap().to_owned()
}
