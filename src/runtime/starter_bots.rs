//! Creates the starter set (`domain::starter_bots`): each missing bot as a LAB bot with the
//! timeframe's default risk limits and its profit variables, in its own transaction. A name
//! that exists (made earlier, by an operator, or by a concurrent call) is left as it is, so a
//! second call creates nothing.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::{risk::RiskLimits, risk::Stage, starter_bots::starter_set};
use crate::store::{
    bots::{self, Bot, BotWriteError, NewBot},
    profit_variables,
};

/// What a call did.
#[derive(Debug, Default)]
pub struct StarterSet {
    /// Bots created by this call.
    pub created: Vec<Bot>,
    /// Names of the set that already existed (untouched).
    pub existing: Vec<String>,
}

pub async fn create(
    pool: &PgPool,
    by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<StarterSet, sqlx::Error> {
    let mut out = StarterSet::default();
    for starter in starter_set() {
        if bots::get_by_name(pool, &starter.name).await?.is_some() {
            out.existing.push(starter.name);
            continue;
        }
        let limits = RiskLimits::defaults_for(starter.timeframe);
        let strategy = serde_json::to_value(&starter.strategy)
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let risk_limits =
            serde_json::to_value(&limits).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let mut tx = pool.begin().await?;
        let inserted = bots::insert(
            &mut *tx,
            NewBot {
                name: starter.name.clone(),
                symbol: starter.symbol,
                timeframe: starter.timeframe,
                stage: Stage::Lab,
                strategy,
                risk_limits,
                created_by: by.map(str::to_owned),
            },
            now,
        )
        .await;
        match inserted {
            Ok(bot) => {
                profit_variables::sync_bot(&mut *tx, bot.id, starter.strategy.variables(), now)
                    .await?;
                tx.commit().await?;
                out.created.push(bot);
            }
            // A concurrent call made it first.
            Err(BotWriteError::NameTaken) => {
                tx.rollback().await?;
                out.existing.push(starter.name);
            }
            Err(BotWriteError::Db(e)) => return Err(e),
        }
    }
    Ok(out)
}
