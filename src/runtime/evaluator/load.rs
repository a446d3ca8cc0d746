//! A runner's state rebuilt from Postgres: the bot row, its fills, open orders, recent order
//! times and the no-trade row it may fold into, read one bot at a time or for a batch
//! ([`Loaded::read_many`]), then replayed into a new engine ([`BotEvaluator::load`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::origin::origin_of;
use super::{BotEvaluator, Trading, UNSCORED_TIER};
use crate::domain::{
    engine::{Engine, LedgerFill, Settings, WorkingOrder},
    evaluation::fold_key,
    execution::{OrderStatus, SimParams},
    risk::{RiskLimits, Stage},
    strategy_config::StrategyConfig,
    strategy_filters::StrategyFilters,
    timeframe::Timeframe,
};
use crate::store::{
    bots, fills,
    orders::{self, Order},
    traces::{self, NoTradeTrace},
};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("bot {0} does not exist")]
    NoBot(Uuid),
    #[error("bot {0}: {1}")]
    Invalid(Uuid, String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn settings(bot: &bots::Bot, timeframe: Timeframe, sim: &SimParams) -> Result<Settings, String> {
    let config: StrategyConfig =
        serde_json::from_value(bot.strategy.clone()).map_err(|e| format!("strategy: {e}"))?;
    let filters = StrategyFilters::from_strategy(&bot.strategy)
        .map_err(|e| format!("{}: {}", e.field, e.problem))?;
    let limits = RiskLimits::from_stored(&bot.risk_limits, timeframe)?;
    Ok(Settings {
        bot_id: bot.id,
        spec: bot.symbol.spec(),
        timeframe,
        stage: bot.stage,
        config,
        filters,
        limits,
        is_trading_enabled: bot.is_trading_enabled,
        sim: sim.clone(),
    })
}

pub(super) fn working_order(o: &Order) -> WorkingOrder {
    WorkingOrder {
        id: o.id,
        side: o.side,
        quantity: u32::try_from(o.quantity).unwrap_or(0),
        decision_bar_at: o.decision_bar_at,
        reference_price: o.reference_price,
        idempotency_key: o.idempotency_key.clone(),
    }
}

/// What [`BotEvaluator::load`] reads for one bot: the row, its fills on its symbol, its open
/// orders (SENDING, NEW, WORKING, PARTIALLY_FILLED; oldest first), its orders of the last
/// minute, and the no-trade row this node may fold into.
pub struct Loaded {
    pub(super) bot: bots::Bot,
    fills: Vec<fills::SidedFill>,
    orders: Vec<Order>,
    order_times: Vec<DateTime<Utc>>,
    fold: Option<NoTradeTrace>,
}

impl Loaded {
    async fn read(trading: &Trading, bot_id: Uuid, now: DateTime<Utc>) -> Result<Self, LoadError> {
        let pool = &trading.pool;
        let bot = bots::get(pool, bot_id)
            .await?
            .ok_or(LoadError::NoBot(bot_id))?;
        let fills = fills::for_bot(pool, bot_id, bot.symbol).await?;
        let mut orders = orders::sending(pool, bot_id).await?;
        orders.extend(orders::working(pool, bot_id).await?);
        let order_times = orders::placed_since(pool, bot_id, now - Duration::seconds(60)).await?;
        let fold = traces::foldable_no_trade(pool, bot_id, trading.ownership.name()).await?;
        Ok(Loaded {
            bot,
            fills,
            orders,
            order_times,
            fold,
        })
    }

    /// [`Loaded::read`] for many bots in one query per table (a resume or takeover batch,
    /// under leases this node holds: nothing else writes for these bots until their runners
    /// start). `bots` as the batch just read them.
    pub async fn read_many(
        trading: &Trading,
        bots: &[bots::Bot],
        now: DateTime<Utc>,
    ) -> Result<Vec<Self>, sqlx::Error> {
        let pool = &trading.pool;
        let ids: Vec<Uuid> = bots.iter().map(|b| b.id).collect();
        let mut fills: HashMap<Uuid, Vec<fills::SidedFill>> = HashMap::new();
        for f in fills::for_bots(pool, &ids).await? {
            fills.entry(f.bot_id).or_default().push(f.fill);
        }
        let mut open: HashMap<Uuid, Vec<Order>> = HashMap::new();
        for o in orders::open_for_bots(pool, &ids).await? {
            open.entry(o.bot_id).or_default().push(o);
        }
        let mut times: HashMap<Uuid, Vec<DateTime<Utc>>> = HashMap::new();
        for (bot, at) in
            orders::placed_since_for_bots(pool, &ids, now - Duration::seconds(60)).await?
        {
            times.entry(bot).or_default().push(at);
        }
        let mut folds: HashMap<Uuid, NoTradeTrace> =
            traces::foldable_no_trade_for_bots(pool, &ids, trading.ownership.name())
                .await?
                .into_iter()
                .map(|n| (n.bot_id, n))
                .collect();
        Ok(bots
            .iter()
            .map(|bot| Loaded {
                bot: bot.clone(),
                fills: fills.remove(&bot.id).unwrap_or_default(),
                orders: open.remove(&bot.id).unwrap_or_default(),
                order_times: times.remove(&bot.id).unwrap_or_default(),
                fold: folds.remove(&bot.id),
            })
            .collect())
    }
}

impl BotEvaluator {
    /// Loads the bot and rebuilds its engine's state from Postgres.
    pub async fn load(
        trading: &Trading,
        bot_id: Uuid,
        run_id: Uuid,
        timeframe: Timeframe,
        now: DateTime<Utc>,
    ) -> Result<Self, LoadError> {
        let loaded = match trading.take_preloaded(bot_id) {
            Some(loaded) => loaded,
            None => Loaded::read(trading, bot_id, now).await?,
        };
        let Loaded {
            bot,
            fills,
            orders: open,
            order_times,
            fold,
        } = loaded;
        let s =
            settings(&bot, timeframe, &trading.sim).map_err(|e| LoadError::Invalid(bot_id, e))?;
        let ledger = fills.into_iter().map(|f| LedgerFill {
            side: f.side,
            quantity: u32::try_from(f.quantity).unwrap_or(0),
            price: f.price,
            commission: f.commission,
            filled_at: f.filled_at,
            decided_at: f.decided_at,
        });
        // The order the engine fills (PAPER, or SHADOW's hypothetical one) is of the bot's
        // stage. A LIVE order written ahead but not acknowledged counts as working until the
        // broker's orders resolve it (`sync_live`); otherwise a LIVE one must have reached it.
        let (sending, open): (Vec<Order>, Vec<Order>) = open
            .into_iter()
            .partition(|o| o.status == OrderStatus::Sending);
        // The oldest unresolved send first: it must be resolved before anything new.
        let sending = sending.into_iter().next();
        let working = match sending.filter(|_| bot.stage == Stage::Live) {
            Some(o) => Some(o),
            None => open.into_iter().rev().find(|o| {
                o.stage == bot.stage && (o.stage != Stage::Live || o.broker_order_id.is_some())
            }),
        };
        let mut engine = Engine::new(s, trading.calendar.clone());
        engine.restore(
            ledger,
            now,
            working.as_ref().map(working_order),
            order_times,
            fold.as_ref().map(fold_key_of_row),
        );
        Ok(BotEvaluator {
            bot_id,
            run_id,
            engine,
            working,
            fold_origin: fold.as_ref().map(|t| origin_of(&t.variables_snapshot)),
            fold_id: fold.map(|t| t.id),
            tier: UNSCORED_TIER,
            origins: BTreeMap::new(),
            origin: None,
            window_origin: None,
            contract: None,
            past_roll_named: None,
            stored_price_read: None,
            reconciled: false,
            first_reconciliation: None,
        })
    }

    /// Re-reads the bot row (stage, limits, strategy, trading switch changed by an operator).
    pub async fn reload(&mut self, trading: &Trading) -> Result<(), LoadError> {
        let bot = bots::get(&trading.pool, self.bot_id)
            .await?
            .ok_or(LoadError::NoBot(self.bot_id))?;
        let timeframe = self.engine.settings().timeframe;
        let s = settings(&bot, timeframe, &trading.sim)
            .map_err(|e| LoadError::Invalid(self.bot_id, e))?;
        self.engine.set_settings(s);
        Ok(())
    }
}

/// The fold key of a stored row, as [`NoTrade::fold_key`] computes it for a new one.
fn fold_key_of_row(t: &NoTradeTrace) -> String {
    fold_key(
        &t.suppression_type,
        &t.suppression_decision,
        traces::blocked_codes(&t.blocked_by).into_iter(),
    )
}
