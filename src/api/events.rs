//! `GET /api/events/stream`: live system events, breaker changes, bot status changes and
//! trace summaries as Server-Sent Events, resumable with `Last-Event-ID` (see
//! `crate::bus` and docs/architecture.md "Live events").

use std::collections::HashSet;
use std::convert::Infallible;

use axum::{
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue},
    response::{
        IntoResponse,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiQuery, AppState, auth::extract::Principal, envelope::ErrorEnvelope,
    stream_slots::StreamSlot,
};
use crate::bus::{Delivery, Filter, LiveKind, Subscription};
use crate::error_code::ErrorCode;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Comma-separated kinds to receive: `system_event`, `breaker`, `bot_status`, `trace`,
    /// `job` (default: all).
    pub kinds: Option<String>,
    /// Only events about this bot.
    pub bot_id: Option<Uuid>,
    /// Resume after this event id, for clients that cannot set the `Last-Event-ID` header
    /// (the header wins).
    pub last_event_id: Option<String>,
}

fn parse_kinds(raw: Option<&str>) -> Result<Option<HashSet<LiveKind>>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let mut kinds = HashSet::new();
    for word in raw.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let kind = LiveKind::parse(word).ok_or_else(|| {
            ApiError::validation(
                "kinds",
                format!(
                    "has an unknown kind `{word}`: use system_event, breaker, bot_status, trace, job"
                ),
            )
        })?;
        kinds.insert(kind);
    }
    Ok((!kinds.is_empty()).then_some(kinds))
}

/// The id to resume after. One we cannot read is treated as unknown (the client gets a reset),
/// never as an error: a browser replays whatever id it last saw.
fn resume_after(headers: &HeaderMap, query: Option<&str>) -> Option<u64> {
    let raw = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(query)
        .map(str::trim)
        .filter(|s| !s.is_empty())?;
    Some(raw.parse().unwrap_or(0))
}

/// `now`: the `at` of a reset (every event's data carries `at`, the reset's included).
fn to_sse(delivery: Delivery, now: chrono::DateTime<chrono::Utc>) -> Event {
    match delivery {
        Delivery::Event(e) => Event::default()
            .id(e.id.to_string())
            .event(e.kind.as_str())
            .data(e.data.to_string()),
        // Only an id: moves the client's Last-Event-ID without dispatching an event.
        Delivery::Position(id) => Event::default().id(id.to_string()),
        Delivery::Reset { last_id, reason } => Event::default()
            .id(last_id.to_string())
            .event("reset")
            .data(
                json!({
                    "reason": reason,
                    "last_event_id": last_id,
                    "at": now,
                    "message": "Events were missed: refetch current state (system status, bots, breakers), then keep reading this stream.",
                })
                .to_string(),
            ),
    }
}

/// The stream holds `slot` until it is dropped (the client went away, or the bus closed).
fn events(
    sub: Subscription,
    clock: crate::clock::Clock,
    slot: StreamSlot,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold((sub, clock, slot), |(mut sub, clock, slot)| async move {
        let delivery = sub.next().await?;
        let event = to_sse(delivery, clock.now());
        Some((Ok(event), (sub, clock, slot)))
    })
}

/// The caller's slot: its session, or its service token.
fn take_slot(state: &AppState, principal: &Principal) -> Result<StreamSlot, ApiError> {
    let caller = match principal {
        Principal::User(user) => user.session_id,
        Principal::Service(service) => service.token_id,
    };
    let limit = state.event_streams.limit();
    state.event_streams.take(caller).ok_or_else(|| {
        ApiError::new(ErrorCode::RateLimited)
            .message(format!(
                "This session already has {limit} open event streams."
            ))
            .fix("Close another tab or stream of this session (one stream carries every kind of event), then reconnect.")
            .details(json!({ "limit": limit }))
    })
}

/// Live events as Server-Sent Events: each message has `id`, `event` (`system_event`,
/// `breaker`, `bot_status`, `trace`, or `reset`) and JSON `data` (shapes in
/// docs/architecture.md). The first message of a fresh stream carries only an id (the
/// position to resume from). Reconnecting with `Last-Event-ID` (or `?last_event_id=`) replays
/// exactly the events missed; when they are no longer held, or the id is from an earlier
/// process, an `event: reset` says to refetch state first. A keep-alive comment is sent every
/// 15 s of silence. A session (or service token) may hold a few streams at once
/// (`TRADEPLANE_MAX_EVENT_STREAMS_PER_SESSION`, default 4); one more is refused.
#[utoipa::path(
    get,
    path = "/api/events/stream",
    tag = "system",
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
    ),
    security(("session" = ["viewer"])),
    responses(
        (status = 200, description = "An endless `text/event-stream`", content_type = "text/event-stream", body = String),
        (status = 401, description = "`UNAUTHENTICATED`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: unknown kind or bad bot id", body = ErrorEnvelope),
        (status = 429, description = "`RATE_LIMITED`: this session already holds its maximum of open streams", body = ErrorEnvelope),
    )
)]
async fn stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let filter = Filter {
        kinds: parse_kinds(query.kinds.as_deref())?,
        bot_id: query.bot_id,
    };
    let after = resume_after(&headers, query.last_event_id.as_deref());
    let slot = take_slot(&state, &principal)?;
    // Subscribed before the response starts: nothing published after this is missed.
    let sub = state.runtime.bus().subscribe(after, filter);
    let sse = Sse::new(events(sub, state.clock.clone(), slot)).keep_alive(
        KeepAlive::new()
            .interval(state.events_keep_alive)
            .text("keep-alive"),
    );
    // Proxies must pass events through as they come.
    let no_buffering = (
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(([no_buffering], sse))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_or_name_the_field() {
        assert_eq!(parse_kinds(None).unwrap(), None);
        assert_eq!(parse_kinds(Some(" , ")).unwrap(), None);
        assert_eq!(
            parse_kinds(Some("breaker, bot_status")).unwrap(),
            Some([LiveKind::Breaker, LiveKind::BotStatus].into())
        );
        let err = parse_kinds(Some("breaker,nope")).unwrap_err();
        assert!(err.message.contains("nope"), "{}", err.message);
    }

    #[test]
    fn the_header_wins_and_unreadable_ids_are_unknown() {
        let mut headers = HeaderMap::new();
        assert_eq!(resume_after(&headers, None), None);
        assert_eq!(resume_after(&headers, Some("12")), Some(12));
        headers.insert("last-event-id", HeaderValue::from_static("34"));
        assert_eq!(resume_after(&headers, Some("12")), Some(34));
        headers.insert("last-event-id", HeaderValue::from_static("garbage"));
        assert_eq!(resume_after(&headers, None), Some(0));
    }
}
