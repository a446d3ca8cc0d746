//! A bot's book: `GET /api/bots/{id}/position`, `/orders`, `/trades` (read-only; the runner
//! is the only writer).

use axum::extract::State;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiOk, ApiPath, ApiQuery, ApiResult, AppState,
    bots::load,
    envelope::{Envelope, ErrorEnvelope},
    pagination::{PageBody, PageParams},
    traces::parse_uuid,
};
use crate::domain::{instruments::ContractSpec, positions::unrealized_pnl, timeframe::Timeframe};
use crate::error_code::ErrorCode;
use crate::store::{
    market_bars,
    orders::{self, Order},
    page::TimeRange,
    positions::{self, PositionRow},
    trades::{self, Trade},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_position))
        .routes(routes!(list_orders))
        .routes(routes!(list_trades))
        .routes(routes!(get_trade))
}

/// Open PnL (USD) of a stored position row (`quantity` signed contracts at `average`) when the
/// price is `mark`, by the domain's formula; zero when flat (`average` is null then).
pub(crate) fn unrealized(
    quantity: i32,
    average: Option<Decimal>,
    mark: Decimal,
    spec: &ContractSpec,
) -> Decimal {
    average.map_or(Decimal::ZERO, |avg| {
        unrealized_pnl(spec, i64::from(quantity), avg, mark)
    })
}

/// The price open PnL is marked at, and how old it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Mark {
    #[schema(value_type = String)]
    pub price: Decimal,
    /// Start of the bar whose close this is.
    pub bar_at: DateTime<Utc>,
    pub timeframe: Timeframe,
    pub provider_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PositionBody {
    /// `null` until the bot's first fill.
    pub position: Option<PositionRow>,
    /// Orders decided but not filled yet (PAPER fills at the next bar's open).
    pub working_orders: Vec<Order>,
    /// The newest cached bar close; `null` when no bar of the symbol was ever fetched.
    pub mark: Option<Mark>,
    /// USD at `mark`; `null` without a mark (never a made-up zero).
    #[schema(value_type = Option<String>)]
    pub unrealized_pnl: Option<Decimal>,
}

/// The bot's net position, working orders and open PnL at the latest known price.
#[utoipa::path(
    get,
    path = "/api/bots/{id}/position",
    tag = "bots",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<PositionBody>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
    )
)]
async fn get_position(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<PositionBody> {
    let bot = load(&state, id).await?;
    let position = positions::get(&state.pool, id, bot.symbol).await?;
    let working_orders = orders::working(&state.pool, id).await?;
    let spec = bot.symbol.spec();
    let mark = market_bars::latest(&state.pool, bot.symbol.as_str())
        .await?
        .map(|latest| Mark {
            price: latest.bar.close,
            bar_at: latest.bar.ts_open,
            timeframe: latest.timeframe,
            provider_id: latest.provider_id,
        });
    let unrealized_pnl = match (&position, &mark) {
        (Some(p), Some(m)) => Some(unrealized(p.quantity, p.average_price, m.price, &spec)),
        (None, Some(_)) => Some(Decimal::ZERO),
        _ => None,
    };
    Ok(ApiOk::new(PositionBody {
        position,
        working_orders,
        mark,
        unrealized_pnl,
    }))
}

/// The bot's orders, newest first.
#[utoipa::path(
    get,
    path = "/api/bots/{id}/orders",
    tag = "bots",
    params(("id" = Uuid, Path), PageParams),
    responses(
        (status = 200, body = Envelope<PageBody<Order>>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn list_orders(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<PageParams>,
) -> ApiResult<PageBody<Order>> {
    let paging = q.validate()?;
    load(&state, id).await?;
    let range = TimeRange {
        from: paging.from,
        to: paging.to,
    };
    let page = orders::page(&state.pool, id, range, paging.after, paging.limit).await?;
    Ok(ApiOk::new(page.into()))
}

/// The bot's trades (round trips), newest first.
#[utoipa::path(
    get,
    path = "/api/bots/{id}/trades",
    tag = "bots",
    params(("id" = Uuid, Path), PageParams),
    responses(
        (status = 200, body = Envelope<PageBody<Trade>>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn list_trades(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<PageParams>,
) -> ApiResult<PageBody<Trade>> {
    let paging = q.validate()?;
    load(&state, id).await?;
    let range = TimeRange {
        from: paging.from,
        to: paging.to,
    };
    let page = trades::page(&state.pool, id, range, paging.after, paging.limit).await?;
    Ok(ApiOk::new(page.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TradeDetail {
    pub trade: Trade,
}

/// One trade (round trip) of the bot, e.g. a decision trace's `trade_log_id`; another bot's
/// trade is not found.
#[utoipa::path(
    get,
    path = "/api/bots/{id}/trades/{trade_id}",
    tag = "bots",
    params(
        ("id" = Uuid, Path, description = "Bot id"),
        ("trade_id" = Uuid, Path, description = "Trade id"),
    ),
    responses(
        (status = 200, body = Envelope<TradeDetail>),
        (status = 404, description = "`BOT_NOT_FOUND`, `TRADE_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `id` or `trade_id` is not a UUID", body = ErrorEnvelope),
    )
)]
async fn get_trade(
    State(state): State<AppState>,
    ApiPath((id, trade_id)): ApiPath<(String, String)>,
) -> ApiResult<TradeDetail> {
    let bot = parse_uuid("id", &id)?;
    let trade_id = parse_uuid("trade_id", &trade_id)?;
    load(&state, bot).await?;
    let trade = trades::get_for_bot(&state.pool, bot, trade_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(ErrorCode::TradeNotFound)
                .message(format!("no trade {trade_id} for bot {bot}"))
                .details(serde_json::json!({ "bot_id": bot, "trade_id": trade_id }))
        })?;
    Ok(ApiOk::new(TradeDetail { trade }))
}
