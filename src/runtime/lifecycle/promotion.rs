//! Promotion and demotion (SPEC §2, §7): one stage up at a time, gated by the target stage's
//! safe-start prerequisites (the bot's filters' needs among them: a news-gated bot needs an LLM
//! and Finnhub), the evidence of the stage it leaves (LAB → PAPER: a backtest; PAPER → SHADOW:
//! its PAPER trades; SHADOW → LIVE: its SHADOW trades) and, for SHADOW and LIVE, the bot's
//! autonomy tier; any demotion.

use serde_json::json;
use uuid::Uuid;

use super::{Failure, Lifecycle, LifecycleError};
use crate::{
    domain::{
        backtest::evidence::{self, Evidence},
        backtest_metrics::Metrics,
        risk::{AutonomyTier, Stage},
    },
    error_code::ErrorCode,
    runtime::backtests,
    store::{
        autonomy_scores, backtests as store_backtests,
        bots::{self, Bot},
        system_events::{NewSystemEvent, Severity},
        trades,
    },
};

/// A stage change that happened.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub bot: Bot,
    pub from: Stage,
    pub to: Stage,
}

impl Promotion {
    pub fn is_promotion(&self) -> bool {
        self.to > self.from
    }
}

impl Lifecycle {
    /// Promotes `id` one stage up (every unmet prerequisite of the target stage refuses it)
    /// or demotes it to any lower stage; records `BOT_PROMOTED` / `BOT_DEMOTED` (by `by`) and
    /// tells a running runner to re-read its stage. A second factor for LIVE is the caller's
    /// business (it knows who is asking).
    pub async fn promote(
        &self,
        id: Uuid,
        to: Stage,
        by: &str,
    ) -> Result<Promotion, LifecycleError> {
        let bot = self.load(id).await?;
        let from = bot.stage;
        if to == from {
            return Err(LifecycleError::transition(
                format!("The bot is already {from}."),
                "Choose another stage.",
                &bot,
            ));
        }
        if from == Stage::Live && to < from {
            self.live_demotion_gate(&bot).await?;
        }
        if to > from {
            if from.next() != Some(to) {
                return Err(LifecycleError::transition(
                    format!("Promotion moves one stage at a time: {from} → {to} is not allowed."),
                    "Promote to the next stage (LAB → PAPER → SHADOW → LIVE).",
                    &bot,
                ));
            }
            if bot.status.is_live() {
                return Err(LifecycleError::transition(
                    "A running bot cannot be promoted; its runner was started for its current stage.",
                    "Stop the bot, promote it, then start it again (safe start re-checks every gate).",
                    &bot,
                ));
            }
            let mut failed = self.safe_start_failures(to, bot.is_trading_enabled).await?;
            // A news-gated bot needs an LLM and Finnhub at any stage that trades, exactly as
            // safe start checks them: a promotion does not pass what a start would refuse.
            failed.extend(self.filter_failures(&bot, to));
            failed.extend(self.tier_gate(id, to).await?);
            if to == Stage::Paper {
                failed.extend(self.evidence_gate(&bot).await?);
            }
            if to == Stage::Shadow || to == Stage::Live {
                failed.extend(self.results_gate(&bot, from).await?);
            }
            // Missing evidence alone is refused under its own code; with other gates, all
            // are listed under PROMOTION_GATE_FAILED.
            if failed.len() == 1
                && matches!(
                    failed[0].code,
                    ErrorCode::BacktestEvidenceMissing
                        | ErrorCode::PaperEvidenceMissing
                        | ErrorCode::ShadowEvidenceMissing
                )
            {
                return Err(LifecycleError::Unsafe(failed.remove(0)));
            }
            if !failed.is_empty() {
                return Err(LifecycleError::PromotionRefused { from, to, failed });
            }
        }
        let updated = bots::set_stage(&self.pool, id, from, to, self.clock().now())
            .await?
            .ok_or_else(|| {
                LifecycleError::transition(
                    "The bot's stage (or, leaving LIVE, its status) changed while this request ran.",
                    "Reload the bot and try again.",
                    &bot,
                )
            })?;
        self.runtime.bot_changed(id).await;
        let promotion = Promotion {
            bot: updated,
            from,
            to,
        };
        let code = if promotion.is_promotion() {
            "BOT_PROMOTED"
        } else {
            "BOT_DEMOTED"
        };
        self.event(
            NewSystemEvent::new(
                Severity::Info,
                code,
                format!("bot {id} {from} → {to} by {by}"),
            )
            .bot(id)
            .metadata(json!({ "from": from, "to": to, "by": by })),
        )
        .await;
        Ok(promotion)
    }

    /// A LIVE bot leaves LIVE only stopped (or killed) and flat: its runner books the broker's
    /// fills, and at a lower stage the same engine would fill its real working order by the
    /// PAPER model, and a later exit or kill-and-flatten would close the real position with a
    /// simulated fill, leaving it open at the broker with no bot behind it.
    async fn live_demotion_gate(&self, bot: &Bot) -> Result<(), LifecycleError> {
        if bot.status.is_live() {
            return Err(LifecycleError::transition(
                "A running LIVE bot cannot be demoted: its runner trades real orders at the broker.",
                "Stop the bot (or kill it; kill and flatten closes its position at the broker), then demote it.",
                bot,
            ));
        }
        let held = bots::holding(&self.pool, bot.id).await?;
        if held.exposed() {
            return Err(LifecycleError::transition(
                format!(
                    "The LIVE bot still holds {} contract(s) and {} open order(s) at its broker; below LIVE nothing would manage them.",
                    held.contracts, held.open_orders
                ),
                "Kill the bot with flatten (or close its position and cancel its orders at the broker), then demote it.",
                bot,
            ));
        }
        Ok(())
    }

    /// LAB → PAPER needs a recent SUCCEEDED backtest of the bot as it is now (strategy hash,
    /// symbol, timeframe) meeting the configured thresholds (`domain::backtest::evidence`);
    /// the refusal lists each missed gate with the evidence and the thresholds.
    async fn evidence_gate(&self, bot: &Bot) -> Result<Option<Failure>, LifecycleError> {
        let thresholds = self.runtime.evidence_thresholds().clone();
        let strategy = match backtests::parse_strategy(&bot.strategy) {
            Ok(s) => s,
            Err(e) => {
                return Ok(Some(Failure::new(
                    ErrorCode::BacktestEvidenceMissing,
                    format!(
                        "The bot's stored strategy is unusable ({}: {}); nothing can be evidence for it.",
                        e.field, e.problem
                    ),
                    json!({ "gates": [{ "gate": "backtest", "message": "strategy unusable" }] }),
                )));
            }
        };
        let row = store_backtests::latest_evidence(
            &self.pool,
            bot.id,
            &backtests::strategy_hash(&strategy),
            bot.symbol,
            bot.timeframe,
        )
        .await?;
        let found = row.as_ref().and_then(|b| {
            let metrics: Metrics = serde_json::from_value(b.metrics.clone()?).ok()?;
            Some(Evidence {
                backtest_id: b.id,
                completed_at: b.completed_at?,
                trades: metrics.trades,
                profit_factor: metrics.profit_factor,
                max_drawdown_pct: metrics.max_drawdown_pct,
            })
        });
        let misses = evidence::check(&thresholds, self.clock().now(), found.as_ref());
        if misses.is_empty() {
            return Ok(None);
        }
        let message = misses
            .iter()
            .map(|m| m.message.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Some(Failure::new(
            ErrorCode::BacktestEvidenceMissing,
            message,
            json!({
                "gates": misses,
                "evidence": found,
                "thresholds": {
                    "max_age_hours": thresholds.max_age.num_hours(),
                    "min_trades": thresholds.min_trades,
                    "min_profit_factor": thresholds.min_profit_factor,
                    "max_drawdown_pct": thresholds.max_drawdown_pct,
                },
            }),
        )))
    }

    /// PAPER → SHADOW needs enough PAPER sessions whose closed trades meet the configured
    /// thresholds, SHADOW → LIVE the same of its SHADOW (hypothetical) trades
    /// (`domain::backtest::evidence::check_results`); the refusal lists each missed gate with
    /// the evidence and the thresholds.
    async fn results_gate(
        &self,
        bot: &Bot,
        stage: Stage,
    ) -> Result<Option<Failure>, LifecycleError> {
        let th = self.runtime.lab_config().paper.clone();
        let results = trades::stage_results(&self.pool, bot.id, stage).await?;
        let misses = evidence::check_results(stage, &th, &results);
        if misses.is_empty() {
            return Ok(None);
        }
        let message = misses
            .iter()
            .map(|m| m.message.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let code = match stage {
            Stage::Shadow => ErrorCode::ShadowEvidenceMissing,
            _ => ErrorCode::PaperEvidenceMissing,
        };
        Ok(Some(Failure::new(
            code,
            message,
            json!({
                "gates": misses,
                "evidence": {
                    "sessions": results.sessions,
                    "trades": results.trades,
                    "net_pnl": results.net_pnl,
                    "profit_factor": results.profit_factor(),
                    "first_closed_at": results.first_closed_at,
                    "last_closed_at": results.last_closed_at,
                },
                "thresholds": {
                    "min_sessions": th.min_sessions,
                    "min_trades": th.min_trades,
                    "min_profit_factor": th.min_profit_factor,
                    "min_net_pnl": th.min_net_pnl,
                },
            }),
        )))
    }

    /// SHADOW and LIVE trade only from LIMITED_AUTONOMY up (SPEC §7): promotion there needs
    /// the bot's stored tier to allow it, and names the stored breakdown's failed gates when it
    /// does not.
    async fn tier_gate(&self, id: Uuid, to: Stage) -> Result<Option<Failure>, LifecycleError> {
        if to < Stage::Shadow {
            return Ok(None);
        }
        let row = autonomy_scores::get(&self.pool, id).await?;
        let tier = row
            .as_ref()
            .map_or(AutonomyTier::Locked, |r| r.autonomy_tier);
        if tier >= AutonomyTier::LimitedAutonomy {
            return Ok(None);
        }
        let failed_gates: Vec<_> = row
            .as_ref()
            .map(|r| r.breakdown.failed_gates().collect())
            .unwrap_or_default();
        let scored = row.as_ref().map_or_else(
            || " (never scored)".to_owned(),
            |r| format!(" (score {})", r.autonomy_score),
        );
        Ok(Some(Failure::new(
            ErrorCode::AutonomyTierInsufficient,
            format!(
                "{to} needs autonomy tier LIMITED_AUTONOMY or higher; the bot is {}{scored}.",
                tier.as_str()
            ),
            json!({ "tier": tier, "needs": AutonomyTier::LimitedAutonomy, "failed_gates": failed_gates }),
        )))
    }
}
