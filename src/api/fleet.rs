//! `GET /api/fleet/pnl-today`: the points of today's PnL sparklines on the Overview's fleet
//! grid: per bot, its net realized PnL after each round trip closed since the CME trade date
//! began (17:00 America/Chicago), cumulative, on a time axis.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiOk, ApiResult, AppState,
    envelope::{Envelope, ErrorEnvelope},
};
use crate::{
    domain::calendar::{trade_date, trade_date_start},
    store::trades,
};

/// At most this many closes are read (the newest), over every bot.
const MAX_POINTS: i64 = 5_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(pnl_today))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PnlPoint {
    /// When the round trip closed.
    pub at: DateTime<Utc>,
    /// USD, net of commissions, realized since `trade_date_start` up to and including this close.
    #[schema(value_type = String)]
    pub cumulative: Decimal,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotPnlSeries {
    pub bot_id: Uuid,
    pub points: Vec<PnlPoint>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PnlTodayBody {
    pub trade_date: NaiveDate,
    pub trade_date_start: DateTime<Utc>,
    /// Bots that closed a round trip today (others have no series: flat at 0).
    pub items: Vec<BotPnlSeries>,
    /// More than the newest 5,000 closes exist: the oldest are left out (series start later).
    pub truncated: bool,
}

/// Today's realized PnL of each bot, cumulative after each close (the fleet sparklines).
#[utoipa::path(
    get,
    path = "/api/fleet/pnl-today",
    tag = "bots",
    responses(
        (status = 200, body = Envelope<PnlTodayBody>),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn pnl_today(State(state): State<AppState>) -> ApiResult<PnlTodayBody> {
    let date = trade_date(state.clock.now());
    let start = trade_date_start(date);
    let closes = trades::closed_since(&state.pool, start, MAX_POINTS).await?;
    let truncated = closes.len() as i64 >= MAX_POINTS;
    let mut by_bot: BTreeMap<Uuid, Vec<PnlPoint>> = BTreeMap::new();
    for c in closes {
        let points = by_bot.entry(c.bot_id).or_default();
        let before = points.last().map_or(Decimal::ZERO, |p| p.cumulative);
        points.push(PnlPoint {
            at: c.closed_at,
            cumulative: before + c.net,
        });
    }
    Ok(ApiOk::new(PnlTodayBody {
        trade_date: date,
        trade_date_start: start,
        items: by_bot
            .into_iter()
            .map(|(bot_id, points)| BotPnlSeries { bot_id, points })
            .collect(),
        truncated,
    }))
}
