//! Exact reads behind the web app's deep links: one decision / no-trade trace by row id or W3C
//! trace id, and one trade, each scoped to its bot (another bot's row is not found, never shown).

use rust_decimal_macros::dec;
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::domain::{instruments::Symbol, positions::Position, side::Side};
use tradeplane::store::fills::{self, Booked, FillBooking};
use uuid::Uuid;

use crate::support::{
    TestApp, error_code,
    fixtures::{lease, sma_bot, working_order},
    requests::send,
    spawn_app,
};

/// Opens a one-contract LONG trade for `bot` the way the runner books a fill; returns its id.
async fn open_trade(pool: &PgPool, bot: &str, key: &str) -> Uuid {
    let bot: Uuid = bot.parse().unwrap();
    let order = working_order(pool, bot, key, Side::Buy, 1).await;
    let before = Position::flat(Symbol::Es);
    let mut after = before.clone();
    let realized = after.apply_fill(Side::Buy, 1, dec!(5000), dec!(2.25));
    let fence = lease(pool, bot).await;
    let booked = fills::book(
        pool,
        FillBooking {
            fence: &fence,
            order: &order,
            side: Side::Buy,
            quantity: 1,
            price: dec!(5000),
            commission: dec!(2.25),
            filled_at: crate::support::now(),
            simulated: true,
            before: &before,
            after: &after,
            realized,
        },
    )
    .await
    .unwrap();
    match booked {
        Booked::Filled { trade_id, .. } => trade_id,
        Booked::NotWorking => panic!("the fill was not booked"),
    }
}

/// Writes a trace through the writer API under a chosen W3C trace id; returns the stored row.
async fn write(app: &TestApp, token: &str, path: String, trace_id: &str, body: Value) -> Value {
    let req = app
        .with_token(token)
        .http("POST", &path)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&body);
    let (status, body) = send(req).await;
    assert_eq!(status, 201, "{body}");
    body
}

fn decision(trade: Option<Uuid>) -> Value {
    json!({
        "decision_type": "ENTRY", "reason_human": "Fast SMA crossed above slow.",
        "reason_code": "SMA_CROSS_UP", "confidence": 0.7, "expected_value": 12.5,
        "trade_log_id": trade, "signals": {"fast": 5001.25}
    })
}

fn suppression(reason: &str) -> Value {
    json!({
        "suppression_type": "GATE", "suppression_decision": "NO_TRADE",
        "reason_human": "The market is closed.", "reason_code": reason,
        "blocked_by": [{"gate": "market_session", "code": "MARKET_CLOSED",
            "reason_human": "The market is closed.", "suggested_fix": "Wait for the open."}]
    })
}

#[sqlx::test]
async fn one_trace_is_read_by_row_id_or_trace_id_within_its_bot_only(pool: PgPool) {
    let app = spawn_app(pool.clone()).await.signed_in_as_admin().await;
    let bot = app.new_bot(sma_bot("lookup", "PAPER")).await;
    let other = app.new_bot(sma_bot("neighbour", "PAPER")).await;
    let token = app.service_token(&app.client, &["traces:write"]).await;

    let trade = open_trade(&pool, &bot, "lookup-1").await;
    let w3c = "4bf92f3577b34da6a3ce929d0e0e4736";
    let d = write(
        &app,
        &token,
        format!("/api/bots/{bot}/decision-traces"),
        w3c,
        decision(Some(trade)),
    )
    .await["decision_trace"]
        .clone();
    let n = write(
        &app,
        &token,
        format!("/api/bots/{bot}/no-trade-traces"),
        "0af7651916cd43dd8448eb211c80319c",
        suppression("MARKET_CLOSED"),
    )
    .await["no_trade_trace"]
        .clone();
    // The neighbour's trace shares nothing with ours but its bot.
    let theirs = write(
        &app,
        &token,
        format!("/api/bots/{other}/decision-traces"),
        "5cf92f3577b34da6a3ce929d0e0e4737",
        decision(None),
    )
    .await["decision_trace"]
        .clone();

    let dt = format!("/api/bots/{bot}/decision-traces");
    let nt = format!("/api/bots/{bot}/no-trade-traces");
    // By row id and by W3C trace id (any case): the stored row, exactly.
    for r in [
        d["id"].as_str().unwrap().to_owned(),
        w3c.to_owned(),
        w3c.to_uppercase(),
    ] {
        let (status, body) = app.decision_trace(&bot, &r).await;
        assert_eq!(status, 200, "{r}: {body}");
        assert_eq!(body["decision_trace"], d, "{r}");
    }
    let (status, body) = app.no_trade_trace(&bot, n["id"].as_str().unwrap()).await;
    assert_eq!((status, &body["no_trade_trace"]), (200, &n), "{body}");
    let (status, body) = app
        .no_trade_trace(&bot, "0af7651916cd43dd8448eb211c80319c")
        .await;
    assert_eq!((status, &body["no_trade_trace"]), (200, &n), "{body}");

    // The decision's linked trade is read by its id.
    assert_eq!(d["trade_log_id"], trade.to_string());
    let (status, body) = app.bot_trade(&bot, &trade).await;
    assert_eq!(
        (status, &body["trade"]["id"]),
        (200, &d["trade_log_id"]),
        "{body}"
    );

    // Each kind reads only its own table: a no-trade id is not a decision trace.
    let (status, body) = app.decision_trace(&bot, n["id"].as_str().unwrap()).await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "TRACE_NOT_FOUND"),
        "{body}"
    );

    // Another bot's trace, by either id, is not found under this bot (and not shown).
    for r in [
        theirs["id"].as_str().unwrap(),
        theirs["trace_id"].as_str().unwrap(),
    ] {
        let (status, body) = app.decision_trace(&bot, &r).await;
        assert_eq!(
            (status, error_code(&body)),
            (404, "TRACE_NOT_FOUND"),
            "{body}"
        );
        assert!(!body.to_string().contains("SMA_CROSS_UP"), "{body}");
        assert_eq!(body["error"]["details"]["trace_id"], r);
    }
    // ... and is found under its own.
    let (status, body) = app
        .decision_trace(&other, theirs["id"].as_str().unwrap())
        .await;
    assert_eq!((status, &body["decision_trace"]), (200, &theirs), "{body}");

    // Unknown ids: 404 naming the id; unknown bot: BOT_NOT_FOUND.
    let unknown = Uuid::now_v7();
    let (status, body) = app.no_trade_trace(&bot, &unknown).await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "TRACE_NOT_FOUND"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&unknown.to_string())
    );
    let (status, body) = app
        .decision_trace(&bot, "ffffffffffffffffffffffffffffffff")
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "TRACE_NOT_FOUND"),
        "{body}"
    );
    let (status, body) = app.decision_trace(Uuid::now_v7(), &w3c).await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "BOT_NOT_FOUND"),
        "{body}"
    );

    // Malformed ids: VALIDATION_FAILED naming the field.
    for (path, field) in [
        (format!("{dt}/not-an-id"), "trace_id"),
        (format!("{nt}/4bf92f3577b34da6a3ce929d0e0e473"), "trace_id"),
        (format!("{nt}/4bf92f3577b34da6a3ce929d0e0e473z"), "trace_id"),
        (format!("/api/bots/nope/decision-traces/{w3c}"), "id"),
        (format!("/api/bots/nope/no-trade-traces/{w3c}"), "id"),
    ] {
        let (status, body) = app.call("GET", &path, None).await;
        assert_eq!(
            (
                status,
                error_code(&body),
                body["error"]["details"]["field"].as_str()
            ),
            (422, "VALIDATION_FAILED", Some(field)),
            "{path}: {body}"
        );
    }

    // Reads need a session, like the lists.
    let (status, body) = app.anonymous().decision_trace(&bot, w3c).await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "UNAUTHENTICATED"),
        "{body}"
    );
}

#[sqlx::test]
async fn one_trade_is_read_by_id_within_its_bot_only(pool: PgPool) {
    let app = spawn_app(pool.clone()).await.signed_in_as_admin().await;
    let bot = app.new_bot(sma_bot("trader", "PAPER")).await;
    let other = app.new_bot(sma_bot("neighbour", "PAPER")).await;
    let ours = open_trade(&pool, &bot, "ours-1").await;
    let theirs = open_trade(&pool, &other, "theirs-1").await;

    let (status, body) = app.bot_trade(&bot, &ours).await;
    assert_eq!(status, 200, "{body}");
    let t = &body["trade"];
    assert_eq!(t["id"], ours.to_string());
    assert_eq!(t["bot_id"], bot);
    assert_eq!(
        (t["side"].as_str(), t["quantity"].as_i64()),
        (Some("LONG"), Some(1))
    );
    assert_eq!(t["entry_price"], "5000");
    assert!(t["closed_at"].is_null(), "{t}");
    // The same row the list shows.
    let (_, list) = app.bot_trades(&bot, "").await;
    assert_eq!(&list["items"][0], t);

    let (status, body) = app.bot_trade(&bot, &theirs).await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "TRADE_NOT_FOUND"),
        "{body}"
    );
    assert!(!body.to_string().contains("\"entry_price\""), "{body}");
    let (status, _) = app.bot_trade(&other, &theirs).await;
    assert_eq!(status, 200);

    let unknown = Uuid::now_v7();
    let (status, body) = app.bot_trade(&bot, &unknown).await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "TRADE_NOT_FOUND"),
        "{body}"
    );
    assert_eq!(body["error"]["details"]["trade_id"], unknown.to_string());
    let (status, body) = app.bot_trade(Uuid::now_v7(), &ours).await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "BOT_NOT_FOUND"),
        "{body}"
    );

    for (path, field) in [
        (format!("/api/bots/{bot}/trades/12345"), "trade_id"),
        (format!("/api/bots/not-a-bot/trades/{ours}"), "id"),
    ] {
        let (status, body) = app.call("GET", &path, None).await;
        assert_eq!(
            (
                status,
                error_code(&body),
                body["error"]["details"]["field"].as_str()
            ),
            (422, "VALIDATION_FAILED", Some(field)),
            "{path}: {body}"
        );
    }
}

#[sqlx::test]
async fn a_decision_cannot_link_another_bots_trade(pool: PgPool) {
    let app = spawn_app(pool.clone()).await.signed_in_as_admin().await;
    let bot = app.new_bot(sma_bot("writer", "PAPER")).await;
    let other = app.new_bot(sma_bot("owner", "PAPER")).await;
    let token = app.service_token(&app.client, &["traces:write"]).await;
    let foreign = open_trade(&pool, &other, "owner-1").await;

    let (status, body) = app
        .with_token(&token)
        .write_decision_trace(&bot, decision(Some(foreign)))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    assert_eq!(body["error"]["details"]["field"], "trade_log_id");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM decision_traces")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "a refused decision writes nothing");

    // Its own bot may link it.
    write(
        &app,
        &token,
        format!("/api/bots/{other}/decision-traces"),
        "0af7651916cd43dd8448eb211c80319c",
        decision(Some(foreign)),
    )
    .await;
}
