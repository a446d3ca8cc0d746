//! Trading turned off, globally or per bot: stored, mirrored to the runners, and (when
//! configured) every working LIVE order of the bots concerned cancelled through
//! [`remove_risk`].

use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Removal, Request, Source, remove_each, remove_risk};
use crate::runtime::RuntimeHandle;
use crate::store::{
    orders,
    settings::{self, Settings},
};

/// What turning trading off removed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TradingOff {
    /// One per bot that had working LIVE orders (empty when cancelling is configured off).
    pub removals: Vec<Removal>,
}

/// Trading turned off (globally, or `bot`'s own switch): when configured
/// (`TRADEPLANE_TRADING_OFF_CANCELS`, default on), cancels the working LIVE orders of every
/// bot concerned through [`remove_risk`]. New LIVE orders are stopped by the evaluation's
/// gates at each bot's next bar whether or not this cancels.
pub async fn trading_off(
    rt: &RuntimeHandle,
    pool: &PgPool,
    bot: Option<Uuid>,
    by: &str,
) -> Result<TradingOff, sqlx::Error> {
    let reason = match bot {
        Some(_) => format!("the bot's trading switch turned off by {by}"),
        None => format!("the global trading switch turned off by {by}"),
    };
    cancel_working(rt, pool, |id| bot.is_none_or(|b| b == id), reason, by).await
}

/// Trading turned off through another node (the global switch, or the own switches of
/// `bots`), seen by this node's ownership round: that node could cancel nothing of the bots
/// this node holds (their lease is here), so this node cancels the working LIVE orders of
/// `bots`, which it holds, as [`trading_off`] does.
pub async fn trading_off_here(
    rt: &RuntimeHandle,
    pool: &PgPool,
    bots: &[Uuid],
    global: bool,
    by: &str,
) -> Result<TradingOff, sqlx::Error> {
    let reason = if global {
        format!("the global trading switch turned off through another node by {by}")
    } else {
        format!("the bot's trading switch turned off through another node by {by}")
    };
    cancel_working(rt, pool, |id| bots.contains(&id), reason, by).await
}

/// The working LIVE orders of the bots `concerned` admits, cancelled through [`remove_risk`]
/// when configured.
async fn cancel_working(
    rt: &RuntimeHandle,
    pool: &PgPool,
    concerned: impl Fn(Uuid) -> bool,
    reason: String,
    by: &str,
) -> Result<TradingOff, sqlx::Error> {
    if !rt.trading_off_cancels() {
        return Ok(TradingOff {
            removals: Vec::new(),
        });
    }
    let targets: Vec<Uuid> = orders::bots_with_working(pool, true)
        .await?
        .into_iter()
        .filter(|id| concerned(*id))
        .collect();
    let removals = remove_each(targets, Source::TradingOff, |bot_id| {
        remove_risk(
            rt,
            pool,
            Request {
                bot_id,
                source: Source::TradingOff,
                reason: reason.clone(),
                by: by.to_owned(),
                flatten: false,
            },
        )
    })
    .await;
    Ok(TradingOff { removals })
}

/// What [`set_trading_switch`] did.
#[derive(Debug)]
pub struct TradingSwitched {
    pub before: Settings,
    pub after: Settings,
    pub off: TradingOff,
}

/// The global trading switch: stored, mirrored to the runners (their next evaluation gates
/// LIVE order flow with `LIVE_TRADING_DISABLED`), and, when turned off, [`trading_off`].
pub async fn set_trading_switch(
    rt: &RuntimeHandle,
    pool: &PgPool,
    enabled: bool,
    by: &str,
) -> Result<TradingSwitched, sqlx::Error> {
    let before = settings::get(pool).await?;
    let after = settings::set_trading_enabled(pool, enabled, by).await?;
    rt.apply_trading_switch(&after);
    let off = if after.trading_enabled {
        TradingOff {
            removals: Vec::new(),
        }
    } else {
        trading_off(rt, pool, None, by).await?
    };
    Ok(TradingSwitched { before, after, off })
}
