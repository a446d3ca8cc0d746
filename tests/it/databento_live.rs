//! Databento's live stream (issue 16 parts 2 and 6): the golden lines the official crate's live
//! client sends for the product (CRAM reply, subscriptions, start), the sandbox gateway's
//! refusals in the gateway's shapes, and end to end: bots on ES and NQ evaluate on stream bars,
//! a killed gateway fails the series over to Polygon and back, and the store holds each bar
//! once with no hole.
//!
//! Regenerate the golden after an intended change: `UPDATE_GOLDEN=1 cargo test --test it
//! databento_live::`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ::databento::{
    LiveClient,
    dbn::{ErrorCode, ErrorMsg, OhlcvMsg, SType, Schema, SymbolMappingMsg},
    live::Subscription,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tradeplane::{
    clock::Clock,
    domain::{
        contracts::{Contract, ContractMonth},
        instruments::Symbol,
        timeframe::Timeframe,
    },
    integrations::{
        Integrations, http::CallContext, providers::databento_live, usage::MemoryUsageSink,
    },
    runtime::{feed::FeedConfig, live_stream::LiveStreamConfig},
    sandbox::{live::SANDBOX_LIVE_KEY, ohlcv},
};
use uuid::Uuid;

use crate::support::{
    fixtures::{sandbox_fault, set_stage, start_live_sandbox},
    golden::golden,
    paper::{config, session_start},
    spawn_app_with_runtime_config,
};

const KEY: &str = "db-GOLDENgoldenGOLDENgoldenGOLD0";

#[tokio::test]
async fn the_live_session_sends_the_documented_cram_reply_and_subscriptions() {
    // A recording gateway: greeting, a fixed challenge, success, then DBN metadata.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let recorder = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        write
            .write_all(b"lsg_version=0.0.0-test\ncram=GOLDENCHALLENGE\n")
            .await
            .unwrap();
        let mut lines = Vec::new();
        let mut line = String::new();
        read.read_line(&mut line).await.unwrap();
        lines.push(line.trim_end().to_owned());
        write.write_all(b"success=1|session_id=7\n").await.unwrap();
        loop {
            line.clear();
            read.read_line(&mut line).await.unwrap();
            lines.push(line.trim_end().to_owned());
            if line.trim_end() == "start_session" {
                break;
            }
        }
        let metadata = ::databento::dbn::Metadata::builder()
            .dataset("GLBX.MDP3".to_owned())
            .schema(None)
            .start(0)
            .stype_in(None)
            .stype_out(SType::InstrumentId)
            .build();
        let mut out = Vec::new();
        ::databento::dbn::encode::dbn::MetadataEncoder::new(&mut out)
            .encode(&metadata)
            .unwrap();
        write.write_all(&out).await.unwrap();
        // An unsubscription on the running session.
        line.clear();
        read.read_line(&mut line).await.unwrap();
        lines.push(line.trim_end().to_owned());
        lines
    });
    let mut env = crate::support::env_for("databento", "http://127.0.0.1:9");
    env.insert("DATABENTO_API_KEY".into(), KEY.into());
    env.insert("DATABENTO_LIVE_ADDR".into(), addr);
    let sink = Arc::new(MemoryUsageSink::new());
    let integrations =
        Integrations::from_env(&env, sink.clone(), Duration::from_secs(5), &Clock::system());
    let client = integrations.client("databento").unwrap();
    let mut session =
        databento_live::connect(&client, Duration::from_secs(10), CallContext::default())
            .await
            .unwrap();
    let es = Contract::new(Symbol::Es, 2026, ContractMonth::Z);
    let nq = Contract::new(Symbol::Nq, 2026, ContractMonth::Z);
    session
        .subscribe(&client, es, Timeframe::M1, CallContext::default())
        .await
        .unwrap();
    session
        .subscribe(&client, nq, Timeframe::S1, CallContext::default())
        .await
        .unwrap();
    session.start().await.unwrap();
    session
        .unsubscribe(&client, es, Timeframe::M1, CallContext::default())
        .await
        .unwrap();
    let lines = recorder.await.unwrap();
    // The key never leaves the process: the reply is its hash with the last 5 characters.
    let reply = tradeplane::sandbox::live::cram_reply("GOLDENCHALLENGE", KEY);
    let rendered: String = lines
        .iter()
        .map(|l| {
            let l = l.replace(&reply, "sha256(GOLDENCHALLENGE|$DATABENTO_API_KEY)-GOLD0");
            // The crate's user agent carries its version (the golden pins the crate too) and
            // the platform (not pinned).
            let l = l
                .split('|')
                .map(|f| match f.strip_prefix("client=") {
                    Some(ua) => {
                        format!("client={}", ua.split_once(" Rust ").map_or(ua, |(v, _)| v))
                            + " Rust <platform>"
                    }
                    None => f.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("|");
            format!("{l}\n")
        })
        .collect();
    assert!(!rendered.contains(KEY), "the key is never sent");
    golden("databento_live_session", &rendered);
    // reference/providers.md §1.4: `auth=<sha256_hex("<challenge>|<api_key>")>-<last 5>|
    // dataset=GLBX.MDP3|encoding=dbn|ts_out=0|compression=none|heartbeat_interval_s=<n>|…`, then
    // `schema=…|stype_in=…|symbols=…|…|is_last=1`, then `start_session`. A listed contract,
    // never a bare root.
    assert!(lines[0].starts_with(&format!("auth={reply}|dataset=GLBX.MDP3|encoding=dbn|")));
    for field in ["compression=none", "ts_out=0", "heartbeat_interval_s=10"] {
        assert!(
            lines[0].split('|').any(|f| f == field),
            "{field}: {}",
            lines[0]
        );
    }
    assert!(lines[1].starts_with("schema=ohlcv-1m|stype_in=raw_symbol|symbols=ESZ6|"));
    assert!(lines[2].starts_with("schema=ohlcv-1s|stype_in=raw_symbol|symbols=NQZ6|"));
    assert_eq!(lines[3], "start_session");
    // databento 0.64's `LiveClient::unsubscribe`: the same fields, prefixed.
    assert!(
        lines[4].starts_with("unsubscribe|schema=ohlcv-1m|stype_in=raw_symbol|symbols=ESZ6|"),
        "{}",
        lines[4]
    );
    // One usage event per vendor interaction: the connect, each subscription, the
    // unsubscription.
    let actions: Vec<String> = sink.events().iter().map(|e| e.action.clone()).collect();
    assert_eq!(
        actions,
        [
            "live.connect",
            "live.subscribe",
            "live.subscribe",
            "live.unsubscribe"
        ]
    );
}

async fn sandbox_client(
    addr: &str,
    key: &str,
    dataset: &str,
) -> Result<LiveClient, ::databento::Error> {
    LiveClient::builder()
        .key(key)?
        .dataset(dataset)
        .addr(addr)
        .await?
        .build()
        .await
}

#[tokio::test]
async fn the_sandbox_gateway_refuses_what_the_gateway_refuses_and_streams_the_bars() {
    let at = session_start();
    let clock = Clock::manual(at);
    let env = start_live_sandbox(clock.clone()).await;
    let addr = env["DATABENTO_LIVE_ADDR"].clone();

    // A wrong key fails CRAM; an unknown dataset is refused at authentication.
    let wrong = sandbox_client(&addr, "db-WRONGwrongWRONGwrongWRONGwron", "GLBX.MDP3").await;
    assert!(
        matches!(&wrong, Err(::databento::Error::Auth(m)) if m == "Authentication failed."),
        "{wrong:?}"
    );
    let dataset = sandbox_client(&addr, SANDBOX_LIVE_KEY, "XNAS.NOPE").await;
    assert!(
        matches!(&dataset, Err(::databento::Error::Auth(m)) if m.contains("XNAS.NOPE")),
        "{dataset:?}"
    );

    // A bare root as a raw symbol fails symbology, a schema it does not serve is refused, a
    // listed contract is mapped and streamed.
    let mut client = sandbox_client(&addr, SANDBOX_LIVE_KEY, "GLBX.MDP3")
        .await
        .unwrap();
    for (symbol, schema) in [
        ("ES", Schema::Ohlcv1M),
        ("ESZ6", Schema::Mbo),
        ("ESZ6", Schema::Ohlcv1M),
    ] {
        client
            .subscribe(
                Subscription::builder()
                    .symbols(symbol)
                    .schema(schema)
                    .stype_in(SType::RawSymbol)
                    .build(),
            )
            .await
            .unwrap();
    }
    client.start().await.unwrap();
    let mut errors = Vec::new();
    let mut mapped = None;
    while mapped.is_none() {
        let rec = client.next_record().await.unwrap().unwrap();
        if let Some(e) = rec.get::<ErrorMsg>() {
            errors.push((e.code().unwrap(), e.err().unwrap().to_owned()));
        }
        if let Some(m) = rec.get::<SymbolMappingMsg>() {
            mapped = Some(m.stype_out_symbol().unwrap().to_owned());
        }
    }
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, ErrorCode::SymbolResolutionFailed);
    assert!(errors[0].1.ends_with(": ES"), "{errors:?}");
    assert_eq!(errors[1].0, ErrorCode::InvalidSubscription);
    assert_eq!(mapped.as_deref(), Some("ESZ6"));

    // The clock passes two bar closes: two bars, the historical endpoint's, in order.
    clock.advance(chrono::Duration::minutes(2));
    let expected = ohlcv::bars("ESZ6", 60, at, at + chrono::Duration::minutes(2), 10);
    let mut got = Vec::new();
    while got.len() < 2 {
        let rec = client.next_record().await.unwrap().unwrap();
        if let Some(bar) = rec.get::<OhlcvMsg>() {
            got.push((bar.hd.ts_event, bar.close));
        }
    }
    let want: Vec<(u64, i64)> = expected
        .iter()
        .map(|b| {
            (
                b.ts.timestamp_nanos_opt().unwrap() as u64,
                (b.close * 1e9).round() as i64,
            )
        })
        .collect();
    assert_eq!(got, want);
}

/// Reads records until the session ends (`Ok(None)` or an error): `true` if it ended within
/// `secs`.
async fn session_ends(client: &mut LiveClient, secs: u64) -> bool {
    tokio::time::timeout(Duration::from_secs(secs), async {
        while let Ok(Some(_)) = client.next_record().await {}
    })
    .await
    .is_ok()
}

async fn subscribed_client(addr: &str) -> Result<LiveClient, ::databento::Error> {
    let mut client = sandbox_client(addr, SANDBOX_LIVE_KEY, "GLBX.MDP3").await?;
    client
        .subscribe(
            Subscription::builder()
                .symbols("ESZ6")
                .schema(Schema::Ohlcv1M)
                .stype_in(SType::RawSymbol)
                .build(),
        )
        .await?;
    client.start().await?;
    Ok(client)
}

#[tokio::test]
async fn a_databento_outage_takes_the_live_gateway_down_until_it_is_cleared() {
    let clock = Clock::manual(session_start());
    let env = start_live_sandbox(clock.clone()).await;
    let addr = env["DATABENTO_LIVE_ADDR"].clone();
    let base = env["DATABENTO_BASE_URL"].clone();
    let mut open = subscribed_client(&addr).await.unwrap();

    // The historical API's outage: the open session is closed, a new one is refused.
    sandbox_fault(&base, "databento", json!("outage"), None).await;
    assert!(session_ends(&mut open, 10).await, "the open session ends");
    assert!(
        subscribed_client(&addr).await.is_err(),
        "no session while Databento is down"
    );
    // Cleared: the gateway takes sessions and streams again.
    sandbox_fault(&base, "databento", Value::Null, None).await;
    let mut again = subscribed_client(&addr).await.unwrap();
    clock.advance(chrono::Duration::minutes(1));
    let bar = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let rec = again.next_record().await.unwrap().unwrap();
            if let Some(bar) = rec.get::<OhlcvMsg>() {
                break bar.hd.ts_event;
            }
        }
    })
    .await
    .expect("a bar after the outage");
    assert_eq!(bar, session_start().timestamp_nanos_opt().unwrap() as u64);

    // A rate limit on the historical API is no outage: the gateway keeps streaming.
    sandbox_fault(&base, "databento", json!("rate_limited"), None).await;
    assert!(subscribed_client(&addr).await.is_ok());
    sandbox_fault(&base, "databento", Value::Null, None).await;
}

/// The variables of the bot's newest trace row (decision or no-trade).
async fn newest_variables(pool: &PgPool, bot: Uuid) -> Value {
    sqlx::query_scalar(
        "SELECT variables_snapshot FROM ( \
           SELECT variables_snapshot, created_at FROM decision_traces WHERE bot_id = $1 \
           UNION ALL \
           SELECT variables_snapshot, created_at FROM no_trade_traces WHERE bot_id = $1 \
         ) t ORDER BY created_at DESC LIMIT 1",
    )
    .bind(bot)
    .fetch_optional(pool)
    .await
    .unwrap()
    .unwrap_or(Value::Null)
}

async fn wait_for<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn event_count(pool: &PgPool, code: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM system_events WHERE code = $1")
        .bind(code)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn stream_reads(pool: &PgPool, bot: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM integration_usage_events WHERE bot_id = $1 \
         AND provider_id = 'databento' AND metadata->>'stream' = 'true'",
    )
    .bind(bot)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn one_second_bot(app: &crate::support::TestApp, name: &str, symbol: &str) -> Uuid {
    let (status, body) = app
        .create_bot(json!({
            "name": name, "symbol": symbol, "timeframe": "1s", "stage": "LAB",
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4}},
            "risk": {"max_order_size": 1, "max_position": 1, "daily_loss_limit": 100000.0,
                     "max_drawdown": 100000.0}
        }))
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    let id: Uuid = body["bot"]["id"].as_str().unwrap().parse().unwrap();
    set_stage(&app.pool, id, "PAPER").await;
    let (status, body) = app.start_bot(id).await;
    assert!((200..300).contains(&status), "{status} {body}");
    id
}

/// An app on the live sandbox at wall speed from an ordinary session (Tuesday 09:00 CT):
/// one-second bars, a 1 s heartbeat, a 3 s failback, Databento and Polygon verified.
/// `unused`: the live stream's `unused_after` and `unsubscribe_every`.
async fn live_app(
    pool: &PgPool,
    unused: Duration,
) -> (
    crate::support::TestApp,
    tradeplane::integrations::registry::EnvMap,
) {
    let clock = Clock::starting_at(session_start());
    let env = start_live_sandbox(clock.clone()).await;
    let mut runtime = config(&env);
    runtime.clock = clock.clone();
    runtime.scheduler.timeframes = vec![Timeframe::S1];
    runtime.runner.heartbeat_timeout = Duration::from_secs(10);
    runtime.feed = FeedConfig {
        failback_after: chrono::Duration::seconds(3),
        ..FeedConfig::default()
    };
    runtime.live_stream = LiveStreamConfig {
        heartbeat: Duration::from_secs(1),
        bar_wait: Duration::from_millis(800),
        backoff: tradeplane_actors::Backoff::exponential(
            Duration::from_millis(200),
            Duration::from_secs(1),
        )
        .jitter(0.0),
        unused_after: unused,
        unsubscribe_every: unused,
    };
    let app = spawn_app_with_runtime_config(pool.clone(), runtime)
        .await
        .signed_in_as_admin()
        .await;
    for provider in ["databento", "polygon"] {
        let (status, body) = app.verify_integration(provider).await;
        assert!((200..300).contains(&status), "{status} {body}");
    }
    (app, env)
}

/// Databento's stored bars of `contract` (1s): each once, none missing between the first and
/// the last (the sandbox trades every second of the session).
async fn assert_store_whole(pool: &PgPool, contract: &str) {
    let (n, distinct, first, last): (i64, i64, DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT ts), min(ts), max(ts) FROM market_bars \
         WHERE provider_id = 'databento' AND contract = $1 AND timeframe = '1s'",
    )
    .bind(contract)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(n, distinct, "{contract}: no duplicate bar");
    assert_eq!(
        n,
        (last - first).num_seconds() + 1,
        "{contract}: no missing bar between {first} and {last}"
    );
}

/// The reason codes of the `code` system events (`DATA_FAILOVER`, …), oldest first.
async fn switch_reasons(pool: &PgPool, code: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT metadata->'reason'->>'code' FROM system_events WHERE code = $1 ORDER BY id",
    )
    .bind(code)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn a_silent_stream_is_stale_data_and_the_series_fails_over_by_the_calendar(pool: PgPool) {
    let (app, env) = live_app(&pool, Duration::from_secs(600)).await;
    let rt = app.state.runtime.clone();
    let es = one_second_bot(&app, "silent-es", "ES").await;
    let live = rt.live_stream().expect("the live stream is configured");
    wait_for("stream reads", 30, || async {
        stream_reads(&pool, es).await >= 3
    })
    .await;
    let connects = live.stats.connects.load(Ordering::Relaxed);

    // The session stays open and sends nothing, not even heartbeats: in session hours a bar
    // is due every second, so the silence is stale data, not a quiet market.
    let base = env["POLYGON_BASE_URL"].clone();
    let (failovers, failbacks) = (
        event_count(&pool, "DATA_FAILOVER").await,
        event_count(&pool, "DATA_FAILBACK").await,
    );
    sandbox_fault(&base, "databento_live", json!("silence"), None).await;
    wait_for("DATA_FAILOVER", 30, || async {
        event_count(&pool, "DATA_FAILOVER").await > failovers
    })
    .await;
    let reasons = switch_reasons(&pool, "DATA_FAILOVER").await;
    assert_eq!(
        reasons[failovers as usize..],
        ["PRIMARY_LATE"],
        "{reasons:?}"
    );
    wait_for("a Polygon trace", 10, || async {
        newest_variables(&pool, es).await["bar_source"] == "polygon"
    })
    .await;
    // A session silent past its heartbeat is given up and replaced (still silent here).
    wait_for("a reconnect", 30, || async {
        live.stats.connects.load(Ordering::Relaxed) > connects
    })
    .await;

    // The gateway speaks again: the bars of the silence are filled from the historical API,
    // the series returns after the hysteresis.
    let fills = live.stats.gap_fills.load(Ordering::Relaxed);
    sandbox_fault(&base, "databento_live", Value::Null, None).await;
    wait_for("DATA_FAILBACK", 40, || async {
        event_count(&pool, "DATA_FAILBACK").await > failbacks
    })
    .await;
    wait_for("a Databento trace again", 10, || async {
        newest_variables(&pool, es).await["bar_source"] == "databento"
    })
    .await;
    assert!(live.stats.gap_fills.load(Ordering::Relaxed) > fills);
    assert_store_whole(&pool, "ESZ26").await;
}

#[sqlx::test]
async fn late_stream_bars_fail_the_series_over_and_land_once_when_they_come(pool: PgPool) {
    let (app, env) = live_app(&pool, Duration::from_secs(600)).await;
    let rt = app.state.runtime.clone();
    let es = one_second_bot(&app, "late-es", "ES").await;
    let live = rt.live_stream().expect("the live stream is configured");
    wait_for("stream reads", 30, || async {
        stream_reads(&pool, es).await >= 3
    })
    .await;
    let (connects, fills) = (
        live.stats.connects.load(Ordering::Relaxed),
        live.stats.gap_fills.load(Ordering::Relaxed),
    );

    // Heartbeats go on, bars are held back: the session is healthy, its bars are late past
    // the freshness limit (7 s for 1 s bars).
    let base = env["POLYGON_BASE_URL"].clone();
    let (failovers, failbacks) = (
        event_count(&pool, "DATA_FAILOVER").await,
        event_count(&pool, "DATA_FAILBACK").await,
    );
    sandbox_fault(&base, "databento_live", json!("late_bars"), None).await;
    wait_for("DATA_FAILOVER", 30, || async {
        event_count(&pool, "DATA_FAILOVER").await > failovers
    })
    .await;
    let reasons = switch_reasons(&pool, "DATA_FAILOVER").await;
    assert_eq!(
        reasons[failovers as usize..],
        ["PRIMARY_LATE"],
        "{reasons:?}"
    );
    wait_for("a Polygon trace", 10, || async {
        newest_variables(&pool, es).await["bar_source"] == "polygon"
    })
    .await;

    // The held bars come, in order, on the same session: each lands once, nothing is
    // refetched, and the series returns after the hysteresis.
    sandbox_fault(&base, "databento_live", Value::Null, None).await;
    wait_for("DATA_FAILBACK", 40, || async {
        event_count(&pool, "DATA_FAILBACK").await > failbacks
    })
    .await;
    assert_eq!(live.stats.connects.load(Ordering::Relaxed), connects);
    assert_eq!(live.stats.gap_fills.load(Ordering::Relaxed), fills);
    assert_store_whole(&pool, "ESZ26").await;
}

#[sqlx::test]
async fn a_series_no_bot_reads_any_more_is_dropped_from_the_stream(pool: PgPool) {
    let (app, _env) = live_app(&pool, Duration::from_secs(3)).await;
    let rt = app.state.runtime.clone();
    let es = one_second_bot(&app, "follow-es", "ES").await;
    let nq = one_second_bot(&app, "follow-nq", "NQ").await;
    let live = rt.live_stream().expect("the live stream is configured");
    wait_for("stream reads of both bots", 30, || async {
        stream_reads(&pool, es).await >= 3 && stream_reads(&pool, nq).await >= 3
    })
    .await;
    assert_eq!(live.subscriptions(), 2);
    let connects = live.stats.connects.load(Ordering::Relaxed);

    // NQ's only bot stops: once the series has been unused for its time it is unsubscribed on
    // the open session (one usage event), no reconnect.
    let (status, body) = app.stop_bot(nq).await;
    assert!((200..300).contains(&status), "{status} {body}");
    wait_for("NQ unsubscribed", 30, || async {
        live.subscriptions() == 1
    })
    .await;
    let unsubscribes = || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM integration_usage_events WHERE provider_id = 'databento' \
             AND action = 'live.unsubscribe' AND status = 'OK'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        n
    };
    wait_for("the live.unsubscribe usage event", 10, || async {
        unsubscribes().await >= 1
    })
    .await;
    assert_eq!(unsubscribes().await, 1);
    assert_eq!(live.stats.connects.load(Ordering::Relaxed), connects);
    // ES streams on: its bot keeps evaluating on stream bars.
    let reads = stream_reads(&pool, es).await;
    wait_for("ES stream reads after the unsubscription", 20, || async {
        stream_reads(&pool, es).await >= reads + 3
    })
    .await;
    // NQ's bars are no longer streamed (nor stored), ES's are.
    let newest = |contract: &'static str| {
        let pool = pool.clone();
        async move {
            let t: Option<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT max(ts) FROM market_bars WHERE provider_id = 'databento' \
                 AND contract = $1 AND timeframe = '1s'",
            )
            .bind(contract)
            .fetch_one(&pool)
            .await
            .unwrap();
            t
        }
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (nq_before, es_before) = (newest("NQZ26").await, newest("ESZ26").await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        newest("NQZ26").await,
        nq_before,
        "NQ is not streamed any more"
    );
    assert!(newest("ESZ26").await > es_before, "ES streams on");
}

#[sqlx::test]
async fn bots_run_on_the_stream_fail_over_when_the_gateway_dies_and_come_back(pool: PgPool) {
    let (app, env) = live_app(&pool, Duration::from_secs(600)).await;
    let rt = app.state.runtime.clone();
    let es = one_second_bot(&app, "live-es", "ES").await;
    let nq = one_second_bot(&app, "live-nq", "NQ").await;
    let live = rt.live_stream().expect("the live stream is configured");

    // Both series subscribed once; both bots evaluate on stream bars from Databento.
    wait_for("stream reads of both bots", 30, || async {
        stream_reads(&pool, es).await >= 3 && stream_reads(&pool, nq).await >= 3
    })
    .await;
    assert_eq!(live.subscriptions(), 2);
    for bot in [es, nq] {
        let v = newest_variables(&pool, bot).await;
        assert_eq!(v["bar_source"], "databento", "{v}");
    }

    // A dropped bar is filled from the historical API; a duplicate is ignored.
    let base = env["POLYGON_BASE_URL"].clone();
    let fills = live.stats.gap_fills.load(Ordering::Relaxed);
    sandbox_fault(&base, "databento_live", json!("gap"), Some(1)).await;
    wait_for("a gap fill", 15, || async {
        live.stats.gap_fills.load(Ordering::Relaxed) > fills
    })
    .await;
    let duplicates = live.stats.duplicates.load(Ordering::Relaxed);
    sandbox_fault(&base, "databento_live", json!("duplicate_bar"), Some(1)).await;
    wait_for("a duplicate ignored", 15, || async {
        live.stats.duplicates.load(Ordering::Relaxed) > duplicates
    })
    .await;

    // The gateway dies: the series fail over to Polygon, the traces say so.
    sandbox_fault(&base, "databento_live", json!("disconnect"), None).await;
    wait_for("DATA_FAILOVER for both series", 30, || async {
        event_count(&pool, "DATA_FAILOVER").await >= 2
    })
    .await;
    wait_for("a Polygon trace", 10, || async {
        newest_variables(&pool, es).await["bar_source"] == "polygon"
    })
    .await;

    // The gateway is back: reconnect, gap filled, back to Databento after the hysteresis.
    sandbox_fault(&base, "databento_live", Value::Null, None).await;
    wait_for("DATA_FAILBACK for both series", 40, || async {
        event_count(&pool, "DATA_FAILBACK").await >= 2
    })
    .await;
    wait_for("a Databento trace again", 10, || async {
        newest_variables(&pool, es).await["bar_source"] == "databento"
            && newest_variables(&pool, nq).await["bar_source"] == "databento"
    })
    .await;
    assert!(live.stats.connects.load(Ordering::Relaxed) >= 2);

    // The store: Databento's bars of each contract once per second, no hole (the sandbox
    // trades every second of the session), across the gap, the duplicate and the outage.
    for contract in ["ESZ26", "NQZ26"] {
        let (n, first, last): (i64, DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
            "SELECT count(*), min(ts), max(ts) FROM market_bars WHERE provider_id = 'databento' \
             AND contract = $1 AND timeframe = '1s'",
        )
        .bind(contract)
        .fetch_one(&pool)
        .await
        .unwrap();
        let distinct: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT ts) FROM market_bars WHERE provider_id = 'databento' \
             AND contract = $1 AND timeframe = '1s'",
        )
        .bind(contract)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(n, distinct, "{contract}: no duplicate bar");
        assert_eq!(
            n,
            (last - first).num_seconds() + 1,
            "{contract}: no missing bar between {first} and {last}"
        );
    }
    // One live connect per session and one subscription per series, whatever the bots.
    let subscribes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM integration_usage_events WHERE provider_id = 'databento' \
         AND action = 'live.subscribe' AND status = 'OK'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let connects: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM integration_usage_events WHERE provider_id = 'databento' \
         AND action = 'live.connect' AND status = 'OK'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(subscribes, 2 * connects, "two series per session");
}

#[sqlx::test]
async fn a_slow_store_does_not_hold_the_streams_bars_back(pool: PgPool) {
    let (app, _env) = live_app(&pool, Duration::from_secs(600)).await;
    let rt = app.state.runtime.clone();
    let es = one_second_bot(&app, "store-es", "ES").await;
    let nq = one_second_bot(&app, "store-nq", "NQ").await;
    let live = rt.live_stream().expect("the live stream is configured");
    wait_for("stream reads of both bots", 30, || async {
        stream_reads(&pool, es).await >= 3 && stream_reads(&pool, nq).await >= 3
    })
    .await;

    // Writes to market_bars wait (a busy pool, a slow disk): the bars still reach their
    // windows one a second per series, the store catches up afterwards.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE market_bars IN EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let before = live.stats.bars.load(Ordering::Relaxed);
    wait_for("bars on the stream while the store waits", 15, || async {
        live.stats.bars.load(Ordering::Relaxed) >= before + 6
    })
    .await;
    blocker.rollback().await.unwrap();

    let stored = |contract: &'static str| {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM market_bars WHERE provider_id = 'databento' \
                 AND contract = $1 AND timeframe = '1s'",
            )
            .bind(contract)
            .fetch_one(&pool)
            .await
            .unwrap();
            n
        }
    };
    let (es_then, nq_then) = (stored("ESZ26").await, stored("NQZ26").await);
    wait_for("the queued bars stored", 15, || async {
        stored("ESZ26").await >= es_then + 3 && stored("NQZ26").await >= nq_then + 3
    })
    .await;
    for contract in ["ESZ26", "NQZ26"] {
        assert_store_whole(&pool, contract).await;
    }
}
