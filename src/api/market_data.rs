//! `GET /api/market-data/bars` (stored bars of the front-month series, each with its source and
//! contract, paged oldest first) and `GET /api/market-hours` (one trade date's session from the
//! calendar, verified or generated).

use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiOk, ApiQuery, ApiResult, AppState,
    envelope::{Envelope, ErrorEnvelope},
    pagination::PageBody,
};
use crate::domain::{
    calendar::HolidayKind,
    instruments::Symbol,
    market_hours::{MarketHours, Window},
    timeframe::Timeframe,
};
use crate::error_code::ErrorCode;
use crate::store::page::{Cursor, DEFAULT_LIMIT, MAX_LIMIT, Page};

/// The longest `[from, to)` one bars request may span (about ten years).
const MAX_RANGE_DAYS: i64 = 3_660;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_bars))
        .routes(routes!(market_hours))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BarsQuery {
    /// Root symbol, one of the `Symbol` schema's values.
    pub symbol: String,
    /// 1s, 1m, 5m, 15m, 1h or 1d.
    pub timeframe: String,
    /// Bars starting at or after this instant (RFC 3339).
    pub from: DateTime<Utc>,
    /// Bars starting before this instant (RFC 3339).
    pub to: DateTime<Utc>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// One stored bar: prices exactly as decoded (on the tick grid), the provider it came from and
/// the listed contract (`ESZ26`).
#[derive(Debug, Serialize, ToSchema)]
pub struct MarketBar {
    pub ts: DateTime<Utc>,
    #[schema(value_type = String)]
    pub open: Decimal,
    #[schema(value_type = String)]
    pub high: Decimal,
    #[schema(value_type = String)]
    pub low: Decimal,
    #[schema(value_type = String)]
    pub close: Decimal,
    #[schema(value_type = String)]
    pub volume: Decimal,
    /// The market-data provider (`databento`, `polygon`).
    pub source: String,
    /// The listed contract the bar came from; it changes at each roll.
    pub contract: String,
}

/// Stored bars of a root's front-month series (contracts switched at the roll rule of
/// `domain::contracts`), oldest first; one bar per start, from the preferred provider that has
/// it. Bars are stored as runners and backtests fetch them.
#[utoipa::path(
    get,
    path = "/api/market-data/bars",
    tag = "market-data",
    params(BarsQuery),
    responses(
        (status = 200, body = Envelope<PageBody<MarketBar>>),
        (status = 422, description = "Bad symbol, timeframe, range, limit or cursor (`VALIDATION_FAILED`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn list_bars(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<BarsQuery>,
) -> ApiResult<PageBody<MarketBar>> {
    let symbol = Symbol::parse(&query.symbol).ok_or_else(|| {
        ApiError::validation("symbol", format!("is not one of {}", Symbol::names()))
    })?;
    let timeframe = query
        .timeframe
        .parse::<Timeframe>()
        .ok()
        .ok_or_else(|| ApiError::validation("timeframe", "is not 1s, 1m, 5m, 15m, 1h or 1d"))?;
    if query.from >= query.to {
        return Err(ApiError::validation("from", "must be earlier than `to`"));
    }
    // Each page resolves the range's front contracts (one per quarter) and the calendar of
    // each year in it: bounded, so one request cannot make it resolve millennia.
    if query.to - query.from > chrono::Duration::days(MAX_RANGE_DAYS) {
        return Err(ApiError::validation(
            "to",
            format!(
                "must be at most {MAX_RANGE_DAYS} days after `from`: ask for longer history one range at a time"
            ),
        ));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::validation(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    // The cursor names the last bar start returned (a bar has no id of its own).
    let after = match &query.cursor {
        None => None,
        Some(raw) => Some(
            Cursor::decode(raw)
                .filter(|c| c.id.is_nil())
                .ok_or_else(|| {
                    ApiError::validation("cursor", "is not a cursor returned by this endpoint")
                })?
                .created_at,
        ),
    };
    let rows = crate::integrations::bars::stored_front_series(
        &state.pool,
        symbol,
        timeframe,
        query.from,
        query.to,
        after,
        limit + 1,
    )
    .await?;
    let items: Vec<MarketBar> = rows
        .into_iter()
        .map(|r| MarketBar {
            ts: r.ts,
            open: r.open,
            high: r.high,
            low: r.low,
            close: r.close,
            volume: r.volume,
            source: r.provider_id,
            contract: r.contract,
        })
        .collect();
    let page = Page::from_rows(items, limit, |b| Cursor {
        created_at: b.ts,
        id: Uuid::nil(),
    });
    Ok(ApiOk::new(page.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HoursQuery {
    /// Root symbol, one of the `Symbol` schema's values (all follow the CME Globex equity
    /// calendar).
    pub symbol: String,
    /// CME trade date (YYYY-MM-DD); its session opens 17:00 CT the evening before.
    pub date: NaiveDate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionWindow {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl From<Window> for SessionWindow {
    fn from(w: Window) -> Self {
        SessionWindow {
            from: w.from,
            to: w.to,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HolidayView {
    pub name: String,
    /// `CLOSED` or `EARLY_CLOSE`.
    pub kind: String,
    /// The early close, America/Chicago (`HH:MM`).
    pub close_time_ct: Option<String>,
}

/// Why the answer must not be traded on as is, and what fixes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarBlocker {
    pub code: ErrorCode,
    pub severity: String,
    pub message: String,
    pub suggested_fix: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarketHoursView {
    pub symbol: String,
    pub trade_date: NaiveDate,
    /// `REGULAR`, `EARLY_CLOSE`, `HOLIDAY` or `WEEKEND`.
    pub kind: String,
    /// The session (UTC instants); absent on a holiday or weekend.
    pub session: Option<SessionWindow>,
    /// The halt after the session until the next one opens; absent before a weekend or a
    /// closed day.
    pub halt: Option<SessionWindow>,
    pub holiday: Option<HolidayView>,
    /// `VERIFIED` (the `cme_holidays` rows, from CME's notices) or `RULES` (generated).
    pub source: String,
    pub verified: bool,
    /// Present when the date is past the verified data (a SEV-2 system event is recorded).
    pub blocker: Option<CalendarBlocker>,
}

/// One trade date's CME Globex equity session: open, close, the halt after it, holiday or
/// early close. Years without verified holiday rows are generated from the rules and come
/// with a blocker (and a SEV-2 `CALENDAR_UNVERIFIED` event) naming the fix.
#[utoipa::path(
    get,
    path = "/api/market-hours",
    tag = "market-data",
    params(HoursQuery),
    responses(
        (status = 200, body = Envelope<MarketHoursView>),
        (status = 422, description = "Bad symbol or date (`VALIDATION_FAILED`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn market_hours(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<HoursQuery>,
) -> ApiResult<MarketHoursView> {
    let symbol = Symbol::parse(&query.symbol).ok_or_else(|| {
        ApiError::validation("symbol", format!("is not one of {}", Symbol::names()))
    })?;
    let (hours, blocker) = crate::runtime::market_hours::for_trade_date(
        &state.pool,
        state.runtime.bus(),
        state.clock.now(),
        symbol,
        query.date,
    )
    .await?;
    Ok(ApiOk::new(view(symbol, hours, blocker)))
}

fn view(
    symbol: Symbol,
    h: MarketHours,
    blocker: Option<crate::runtime::market_hours::Blocker>,
) -> MarketHoursView {
    MarketHoursView {
        symbol: symbol.as_str().to_owned(),
        trade_date: h.trade_date,
        kind: h.kind.as_str().to_owned(),
        session: h.session.map(Into::into),
        halt: h.halt.map(Into::into),
        holiday: h.holiday.map(|hol| HolidayView {
            name: hol.name,
            kind: match hol.kind {
                HolidayKind::Closed => "CLOSED".to_owned(),
                HolidayKind::EarlyClose(_) => "EARLY_CLOSE".to_owned(),
            },
            close_time_ct: match hol.kind {
                HolidayKind::Closed => None,
                HolidayKind::EarlyClose(t) => Some(t.format("%H:%M").to_string()),
            },
        }),
        source: h.source.as_str().to_owned(),
        verified: blocker.is_none(),
        blocker: blocker.map(|b| CalendarBlocker {
            code: ErrorCode::CalendarUnverified,
            severity: "SEV-2".to_owned(),
            message: b.message,
            suggested_fix: ErrorCode::CalendarUnverified.suggested_fix().to_owned(),
        }),
    }
}
