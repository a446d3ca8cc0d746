//! Parity (issue 15 part 9): the same bars through the live runner path (a PAPER bot started
//! through the API, ticks replayed with the injected clock, bars from the sandbox through the
//! provider actor, everything booked in Postgres) and through `domain::backtest::run` give the
//! same orders, fills, trades, PnL and traces.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use tradeplane::domain::{
    backtest::{self, BacktestSpec, FillModel},
    contracts::Contract,
    instruments::Symbol,
    positions::Position,
    risk::{AutonomyTier, RiskLimits},
    side::{Side, TradeSide},
    strategy_config::StrategyConfig,
    timeframe::Timeframe,
};
use tradeplane::integrations::http::CallContext;
use tradeplane::runtime::BarsRequest;

use crate::support::{
    fixtures::start_sandbox,
    paper::{config, session_start, started_bot, tick},
    spawn_app_with_runtime_config,
};

/// Minutes of bars replayed: long enough for several round trips of crossover(2,4).
const MINUTES: i64 = 90;

type OrderRow = (Side, i32, DateTime<Utc>, Option<Decimal>, String);
type FillRow = (String, Decimal, Decimal, DateTime<Utc>);
type TradeRow = (
    TradeSide,
    i32,
    Decimal,
    Option<Decimal>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<Decimal>,
    Decimal,
);

#[sqlx::test]
async fn live_paper_runner_and_backtest_agree_on_every_order_fill_trade_and_trace(pool: PgPool) {
    let env = start_sandbox().await;
    let mut runtime_config = config(&env);
    // The tier is pinned (unscored = SUPERVISED): the scorer would re-tier the new bot on its
    // own schedule, which the backtest cannot replay.
    runtime_config.autonomy.enabled = false;
    let sim = runtime_config.sim.clone();
    let app = spawn_app_with_runtime_config(pool.clone(), runtime_config)
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let bot = started_bot(&app, "parity").await;

    // Live: one tick per minute boundary, each waited for until its trace is on record.
    let first = session_start() + Duration::minutes(1);
    let last = session_start() + Duration::minutes(MINUTES);
    let mut at = first;
    while at <= last {
        tick(&rt, &pool, bot, at).await;
        at += Duration::minutes(1);
    }
    app.state.runtime.stop_runner(bot).await.unwrap();

    // Backtest: the same bot's settings over the same bars, fetched through the same call
    // path; the bars before the first tick only warm up (the runner read them on its first).
    let row = tradeplane::store::bots::get(&pool, bot)
        .await
        .unwrap()
        .unwrap();
    let strategy: StrategyConfig = serde_json::from_value(row.strategy.clone()).unwrap();
    let provider = tradeplane::integrations::bars::feed_provider(&rt.integrations()).unwrap();
    let bars = rt
        .fetch_bars(
            provider,
            BarsRequest {
                instrument: Symbol::Es,
                // The contract the runner's feed read (no roll inside the range).
                contract: Some(Contract::front_at(Symbol::Es, last)),
                timeframe: Timeframe::M1,
                from: first - Duration::minutes(30),
                to: last,
                ctx: CallContext::default(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        bars.last().map(|b| b.ts_open + Duration::minutes(1)),
        Some(last)
    );
    let spec = BacktestSpec {
        bot_id: bot,
        strategy,
        filters: Default::default(),
        filter_data: Default::default(),
        news: Default::default(),
        instrument: Symbol::Es.spec(),
        timeframe: Timeframe::M1,
        limits: RiskLimits::from_stored(&row.risk_limits, Timeframe::M1).unwrap(),
        fill: FillModel {
            slippage_ticks: sim.slippage_ticks,
            commission_per_contract: sim.commission_per_contract,
        },
        starting_capital: Decimal::from(100_000),
        calendar: std::sync::Arc::new(
            tradeplane::store::cme_holidays::load_calendar(&pool)
                .await
                .unwrap(),
        ),
        tier: AutonomyTier::Supervised,
        evaluate_from: Some(first),
        roll_warmups: Default::default(),
    };
    let run = backtest::run(&spec, &bars, &mut |_| {});
    assert!(run.killed.is_none());
    assert!(run.fills >= 4, "too few fills to compare: {run:?}");

    // Orders: same side, size, decision bar, reference price and idempotency key.
    let live_orders: Vec<OrderRow> = sqlx::query_as(
        "SELECT side, quantity, decision_bar_at, reference_price, idempotency_key FROM orders \
         WHERE bot_id = $1 ORDER BY decision_bar_at",
    )
    .bind(bot)
    .fetch_all(&pool)
    .await
    .unwrap();
    let sim_orders: Vec<OrderRow> = run
        .order_log
        .iter()
        .map(|o| {
            (
                o.side,
                i32::try_from(o.quantity).unwrap(),
                o.decision_bar_at,
                Some(o.reference_price),
                o.idempotency_key.clone(),
            )
        })
        .collect();
    assert_eq!(live_orders, sim_orders);

    // Fills: same order, price, commission and time.
    let live_fills: Vec<FillRow> = sqlx::query_as(
        "SELECT o.idempotency_key, f.price, f.commission, f.filled_at FROM fills f \
         JOIN orders o ON o.id = f.order_id WHERE f.bot_id = $1 ORDER BY f.filled_at",
    )
    .bind(bot)
    .fetch_all(&pool)
    .await
    .unwrap();
    let sim_fills: Vec<FillRow> = run
        .order_log
        .iter()
        .filter_map(|o| {
            o.fill.as_ref().map(|f| {
                (
                    o.idempotency_key.clone(),
                    f.price,
                    f.commission,
                    f.filled_at,
                )
            })
        })
        .collect();
    assert_eq!(live_fills, sim_fills);

    // Trades: the closed round trips, and the one still open if any.
    let live_trades: Vec<TradeRow> = sqlx::query_as(
        "SELECT side, quantity, entry_price, exit_price, opened_at, closed_at, realized_pnl, \
         commission FROM trades WHERE bot_id = $1 AND closed_at IS NOT NULL ORDER BY opened_at",
    )
    .bind(bot)
    .fetch_all(&pool)
    .await
    .unwrap();
    let sim_trades: Vec<TradeRow> = run
        .trades
        .iter()
        .map(|t| {
            (
                t.side,
                i32::try_from(t.qty).unwrap(),
                t.entry_price,
                Some(t.exit_price),
                t.entry_ts,
                Some(t.exit_ts),
                Some(t.gross_pnl),
                t.commission,
            )
        })
        .collect();
    assert_eq!(live_trades, sim_trades);

    // PnL: the stored position equals the backtest's, and so does the net PnL at the last close.
    let position = tradeplane::store::positions::get(&pool, bot, Symbol::Es)
        .await
        .unwrap()
        .unwrap();
    let mut replayed = Position::flat(Symbol::Es);
    for f in run.order_log.iter().filter_map(|o| o.fill.as_ref()) {
        replayed.apply_fill(f.side, f.quantity, f.price, f.commission);
    }
    assert_eq!(i64::from(position.quantity), replayed.quantity);
    assert_eq!(position.realized_pnl, replayed.realized_pnl);
    let live_commissions: Decimal =
        sqlx::query_scalar("SELECT COALESCE(sum(commission), 0) FROM fills WHERE bot_id = $1")
            .bind(bot)
            .fetch_one(&pool)
            .await
            .unwrap();
    let mark = bars.last().unwrap().close;
    let live_net = position.realized_pnl - live_commissions
        + tradeplane::domain::positions::unrealized_pnl(
            &Symbol::Es.spec(),
            i64::from(position.quantity),
            position.average_price.unwrap_or_default(),
            mark,
        );
    assert_eq!(live_net, run.net_pnl);

    // Traces: as many decisions, and the same suppressions by reason code (folds counted).
    let live_decisions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM decision_traces WHERE bot_id = $1")
            .bind(bot)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(u64::try_from(live_decisions).unwrap(), run.decisions);
    let live_no_trades: BTreeMap<String, u64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT reason_code, sum(count)::int8 FROM no_trade_traces WHERE bot_id = $1 \
         GROUP BY reason_code",
    )
    .bind(bot)
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(code, n)| (code, u64::try_from(n).unwrap()))
    .collect();
    assert_eq!(live_no_trades, run.no_trades_by_code);
    assert_eq!(
        run.decisions + run.no_trades_by_code.values().sum::<u64>(),
        u64::try_from(MINUTES).unwrap()
    );
}
