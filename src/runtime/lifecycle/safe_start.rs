//! Safe start (SPEC §7): what a bot's stage needs before it may run, checked fail-closed
//! from the providers' configuration and their latest verify against the current endpoint.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::Lifecycle;
use crate::{
    domain::{risk::Stage, strategy_filters::StrategyFilters},
    error_code::ErrorCode,
    integrations::{bars, is_connected as connected, registry::ProviderConfig},
    store::{integrations::Verification, settings},
};

/// Brokers that can take (or, in SHADOW, would take) orders.
const BROKERS: &[&str] = &["ironbeam", "tradovate"];

/// What safe start reads from the database ([`Lifecycle::start_facts`]).
pub(super) struct StartFacts {
    kill: settings::KillSwitch,
    verifications: HashMap<String, Verification>,
    /// The global trading switch, read when a LIVE bot is checked.
    global_trading: Option<bool>,
}

/// One unmet prerequisite.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
    pub suggested_fix: String,
    pub details: Value,
}

impl Failure {
    pub(super) fn new(code: ErrorCode, message: impl Into<String>, details: Value) -> Self {
        Failure {
            code,
            message: message.into(),
            suggested_fix: code.suggested_fix().to_owned(),
            details,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.suggested_fix = fix.into();
        self
    }
}

impl Lifecycle {
    /// What a bot's own filters need beyond its stage (issue 19): a news-gated bot needs a
    /// usable LLM (`AI_PROVIDER_UNAVAILABLE`) and Finnhub (`INTEGRATION_KEY_MISSING`); LIVE
    /// needs every provider its filters read on an official endpoint (`DATA_UNAVAILABLE`). LAB
    /// evaluates nothing, so it needs none of these.
    /// `stage` is the stage the bot is to run at: its own at start, the target of a promotion
    /// (promotion and safe start check the same things).
    pub fn filter_failures(&self, bot: &crate::store::bots::Bot, stage: Stage) -> Vec<Failure> {
        let mut out = Vec::new();
        if stage == Stage::Lab {
            return out;
        }
        if stage == Stage::Live {
            let sandboxes: Vec<&str> = self
                .filter_providers(bot)
                .into_iter()
                .filter(|id| self.integrations.config(id).is_some_and(|c| c.sandbox))
                .collect();
            if !sandboxes.is_empty() {
                out.push(sandbox_refusal("its entry filters' data", &sandboxes));
            }
        }
        if crate::domain::news::news_gate_of(&bot.strategy).is_none() {
            return out;
        }
        if !self.runtime.ai_usable() {
            let ai = self.runtime.ai();
            out.push(Failure::new(
                ErrorCode::AiProviderUnavailable,
                "The bot's news gate classifies headlines with an LLM, and no LLM provider is usable (none configured, the AI settings invalid, or every breaker open).",
                json!({ "needs_ai": "news_gate", "llm_order": ai.config.order, "settings_problem": ai.config.problem }),
            ));
        }
        let finnhub = self.integrations.config("finnhub");
        if !finnhub.is_some_and(ProviderConfig::configured) {
            out.push(
                Failure::new(
                    ErrorCode::IntegrationKeyMissing,
                    "The bot's news gate reads Finnhub market news, and finnhub is not configured.",
                    json!({ "providers": ["finnhub"], "missing_env_vars": finnhub.map(|c| c.missing_env_vars.clone()).unwrap_or_default() }),
                )
                .fix("Set FINNHUB_API_KEY, restart tradeplane, then verify finnhub on the Connections page."),
            );
        }
        out
    }

    /// The providers a bot's entry filters read, LLMs included: a sandbox's calendar, series,
    /// headlines or classifications could let through an entry the vendor's data would block.
    /// Filters that cannot be read count as all of them (unknown is not "none").
    fn filter_providers(&self, bot: &crate::store::bots::Bot) -> Vec<&'static str> {
        use crate::runtime::{macro_data, news};
        let filters = StrategyFilters::from_strategy(&bot.strategy);
        let (calendar, series, headlines) = match &filters {
            Ok(f) => (
                f.economic_calendar.as_ref().is_some_and(|c| c.enabled),
                f.macro_filter.is_some(),
                f.news_gate.is_some(),
            ),
            Err(_) => (true, true, true),
        };
        let mut ids = Vec::new();
        if calendar {
            ids.push(macro_data::CALENDAR_PROVIDER);
        }
        if series {
            ids.push(macro_data::SERIES_PROVIDER);
        }
        if headlines {
            ids.push(news::PROVIDER);
            ids.extend(self.runtime.ai().config.order.iter().copied());
        }
        ids
    }

    /// Every prerequisite of running at `stage` that is not met, in the order of SPEC §7.
    /// `bot_trading_enabled` is the bot's own switch (LIVE needs it and the global one).
    pub async fn safe_start_failures(
        &self,
        stage: Stage,
        bot_trading_enabled: bool,
    ) -> Result<Vec<Failure>, sqlx::Error> {
        let facts = self.start_facts([stage]).await?;
        Ok(self.failures_with(&facts, stage, bot_trading_enabled))
    }

    /// What safe start reads from the database for bots of `stages`, read once (a takeover
    /// batch checks every bot against one reading): the kill switch always, the providers'
    /// verifications unless every stage is LAB, the global trading switch when one is LIVE.
    pub(super) async fn start_facts(
        &self,
        stages: impl IntoIterator<Item = Stage>,
    ) -> Result<StartFacts, sqlx::Error> {
        let (mut verify, mut live) = (false, false);
        for stage in stages {
            verify |= stage != Stage::Lab;
            live |= stage == Stage::Live;
        }
        let kill = settings::kill_switch(&self.pool).await?;
        let verifications = if verify {
            crate::store::integrations::verifications(&self.pool).await?
        } else {
            HashMap::new()
        };
        let global_trading = if live {
            Some(settings::get(&self.pool).await?.trading_enabled)
        } else {
            None
        };
        Ok(StartFacts {
            kill,
            verifications,
            global_trading,
        })
    }

    /// [`Lifecycle::safe_start_failures`] on facts already read ([`Lifecycle::start_facts`]
    /// for a set of stages that includes `stage`; a missing reading fails closed).
    pub(super) fn failures_with(
        &self,
        facts: &StartFacts,
        stage: Stage,
        bot_trading_enabled: bool,
    ) -> Vec<Failure> {
        let mut out = Vec::new();
        let kill = &facts.kill;
        if kill.active {
            out.push(Failure::new(
                ErrorCode::KillSwitchActive,
                "The global kill switch is active; no bot may start.",
                json!({ "reason": kill.reason, "changed_at": kill.changed_at, "changed_by": kill.changed_by }),
            ));
        }
        if stage == Stage::Lab {
            return out;
        }
        let verifications = &facts.verifications;
        let configs = |ids: &[&str]| -> Vec<ProviderConfig> {
            ids.iter()
                .filter_map(|id| self.integrations.config(id).cloned())
                .collect()
        };

        // Market data: databento or polygon, configured and connected.
        let data = configs(&bars::PROVIDERS);
        if !data
            .iter()
            .any(|c| connected(c, verifications.get(c.spec.id)))
        {
            if data.iter().any(ProviderConfig::configured) {
                out.push(Failure::new(
                    ErrorCode::DataUnavailable,
                    format!("{stage} needs a connected market-data provider (databento or polygon); none has passed verify."),
                    json!({ "providers": bars::PROVIDERS, "configured": data.iter().filter(|c| c.configured()).map(|c| c.spec.id).collect::<Vec<_>>() }),
                ).fix("Verify `databento` or `polygon` (POST /api/integrations/verify) and fix what it reports, then retry."));
            } else {
                let missing: Vec<&str> = data
                    .iter()
                    .flat_map(|c| c.missing_env_vars.iter().copied())
                    .collect();
                out.push(
                    Failure::new(
                        ErrorCode::IntegrationKeyMissing,
                        format!(
                            "{stage} needs market data, but neither databento nor polygon is configured."
                        ),
                        json!({ "providers": bars::PROVIDERS, "missing_env_vars": missing }),
                    )
                    .fix("Set DATABENTO_API_KEY or POLYGON_API_KEY, restart tradeplane, then verify the provider."),
                );
            }
        }

        if stage == Stage::Live {
            let global = facts.global_trading.unwrap_or(false);
            if !global || !bot_trading_enabled {
                out.push(Failure::new(
                    ErrorCode::LiveTradingDisabled,
                    "LIVE needs the global trading switch and the bot's is_trading_enabled both on.",
                    json!({ "global_trading_enabled": global, "bot_is_trading_enabled": bot_trading_enabled }),
                ));
            }
        }

        // SHADOW records the orders a connected broker would get (SPEC §2); LIVE sends them,
        // and only to the vendor's official endpoint (a sandbox never serves LIVE).
        if stage >= Stage::Shadow {
            let brokers = configs(BROKERS);
            let usable = brokers.iter().any(|c| {
                connected(c, verifications.get(c.spec.id)) && (stage < Stage::Live || !c.sandbox)
            });
            if !usable {
                out.push(Failure::new(
                    ErrorCode::ExecutionBrokerUnavailable,
                    format!("{stage} needs a connected broker (ironbeam or tradovate){}.",
                        if stage == Stage::Live { " on its official endpoint" } else { "" }),
                    json!({ "brokers": BROKERS, "configured": brokers.iter().filter(|c| c.configured()).map(|c| c.spec.id).collect::<Vec<_>>() }),
                ));
            }
        }

        // LIVE orders follow what the bot reads: a sandbox's prices never drive them (SPEC §4: a
        // sandbox endpoint never serves LIVE). The feed may fail over to any configured data
        // provider, so none of them may be a sandbox (entry filters' providers: `filter_failures`).
        if stage == Stage::Live {
            let sandboxes: Vec<&str> = data
                .iter()
                .filter(|c| c.configured() && c.sandbox)
                .map(|c| c.spec.id)
                .collect();
            if !sandboxes.is_empty() {
                out.push(sandbox_refusal("market data", &sandboxes));
            }
        }
        out
    }
}

/// LIVE refused because providers it reads `what` from point at a sandbox (SPEC §4: a sandbox
/// endpoint never serves LIVE).
fn sandbox_refusal(what: &str, sandboxes: &[&str]) -> Failure {
    let overrides: Vec<String> = sandboxes
        .iter()
        .map(|id| format!("{}_BASE_URL", id.to_uppercase()))
        .collect();
    Failure::new(
        ErrorCode::DataUnavailable,
        format!(
            "LIVE reads {what} only from the vendors' official endpoints; {} point(s) at a sandbox.",
            sandboxes.join(", ")
        ),
        json!({ "sandbox_providers": sandboxes }),
    )
    .fix(format!(
        "Remove the endpoint override ({}) or the provider's key, restart tradeplane and verify \
         it again.",
        overrides.join(", ")
    ))
}
