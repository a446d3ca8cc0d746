//! AI actions' one way to an LLM: the operator's provider order (`TRADEPLANE_LLM_ORDER`),
//! failover along it, and the daily token/cost budgets. Each attempt goes through the
//! provider's actor (its breaker applies) and the one call path (usage event with model,
//! tokens, cost, latency, error code). An attempt is time-boxed (`TRADEPLANE_LLM_TIMEOUT_SECS`)
//! so a dead first provider costs at most that before the next one is asked.
//!
//! Settings (read with the providers' environment, never printed):
//! - `TRADEPLANE_LLM_ORDER=anthropic,openai` — which providers, in which order (default: the
//!   registry's LLM order); an unconfigured one is skipped.
//! - `TRADEPLANE_LLM_MODELS=openai=gpt-4o-mini,anthropic=claude-3-5-haiku-latest` — the model
//!   per provider (defaults below).
//! - `TRADEPLANE_LLM_PRICES=openai/gpt-4o-mini=0.15:0.60;…` — USD per 1M input:output tokens.
//! - `TRADEPLANE_LLM_DAILY_TOKENS=total=2000000,openai=500000`,
//!   `TRADEPLANE_LLM_DAILY_COST=total=10,anthropic=2.5` — budgets per UTC day.
//! - `TRADEPLANE_LLM_MAX_OUTPUT_TOKENS` (default 600).
//!
//! A malformed setting disables AI actions (fail closed) with the problem in the refusal. The
//! day's spend is kept in memory and restored at start from today's usage events.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::RuntimeHandle;
use super::providers::{GenerateRequest, ProviderCallError, ProviderMsg};
use crate::clock::Clock;
use crate::domain::ai::{BudgetRefusal, Budgets, PriceTable, Prompt, Spend};
use crate::integrations::{
    http::CallContext,
    providers::llm::{Completion, GenerateOptions},
    registry::{Category, EnvMap, PROVIDERS},
};
use crate::trace::TraceId;

/// The model asked of each provider when `TRADEPLANE_LLM_MODELS` names none.
pub fn default_model(provider: &str) -> &'static str {
    match provider {
        "openai" => "gpt-4o-mini",
        "anthropic" => "claude-3-5-haiku-latest",
        "google_gemini" => "gemini-2.0-flash",
        "groq" => "llama-3.1-8b-instant",
        "xai" => "grok-3-mini",
        "openrouter" => "openai/gpt-4o-mini",
        _ => "",
    }
}

const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 600;

/// The operator's AI settings.
#[derive(Debug, Clone)]
pub struct AiConfig {
    pub order: Vec<&'static str>,
    pub models: BTreeMap<String, String>,
    pub prices: PriceTable,
    pub budgets: Budgets,
    /// Time box of one provider attempt.
    pub attempt_timeout: Duration,
    pub max_output_tokens: u32,
    /// A malformed setting: AI actions are refused while it stands.
    pub problem: Option<String>,
}

impl Default for AiConfig {
    fn default() -> Self {
        AiConfig::from_env(&EnvMap::new())
    }
}

impl AiConfig {
    pub fn from_env(env: &EnvMap) -> Self {
        let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mut problems = Vec::new();
        let llms: Vec<&'static str> = PROVIDERS
            .iter()
            .filter(|p| p.category == Category::Llm)
            .map(|p| p.id)
            .collect();
        let order = match get("TRADEPLANE_LLM_ORDER") {
            None => llms.clone(),
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .filter_map(|name| {
                    let found = llms.iter().find(|id| **id == name).copied();
                    if found.is_none() {
                        problems.push(format!(
                            "TRADEPLANE_LLM_ORDER names `{name}`, not an LLM provider"
                        ));
                    }
                    found
                })
                .collect(),
        };
        let mut models = BTreeMap::new();
        for pair in get("TRADEPLANE_LLM_MODELS")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match pair.split_once('=') {
                Some((p, m)) if !m.trim().is_empty() => {
                    models.insert(p.trim().to_owned(), m.trim().to_owned());
                }
                _ => problems.push(format!(
                    "TRADEPLANE_LLM_MODELS entry `{pair}`: expected provider=model"
                )),
            }
        }
        let prices =
            PriceTable::parse(get("TRADEPLANE_LLM_PRICES").unwrap_or("")).unwrap_or_else(|e| {
                problems.push(format!("TRADEPLANE_LLM_PRICES: {e}"));
                PriceTable::default()
            });
        let budgets = Budgets::parse(
            get("TRADEPLANE_LLM_DAILY_TOKENS"),
            get("TRADEPLANE_LLM_DAILY_COST"),
        )
        .unwrap_or_else(|e| {
            problems.push(e);
            // Fail closed: an unreadable budget allows nothing.
            Budgets {
                total: crate::domain::ai::Budget {
                    tokens_per_day: Some(0),
                    cost_per_day: None,
                },
                ..Budgets::default()
            }
        });
        let number = |k: &str, problems: &mut Vec<String>| {
            get(k).and_then(|v| match v.parse::<u32>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    problems.push(format!("{k}=`{v}` is not a positive whole number"));
                    None
                }
            })
        };
        let attempt_timeout = number("TRADEPLANE_LLM_TIMEOUT_SECS", &mut problems)
            .map_or(DEFAULT_ATTEMPT_TIMEOUT, |s| Duration::from_secs(s.into()));
        let max_output_tokens = number("TRADEPLANE_LLM_MAX_OUTPUT_TOKENS", &mut problems)
            .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS);
        AiConfig {
            order,
            models,
            prices,
            budgets,
            attempt_timeout,
            max_output_tokens,
            problem: (!problems.is_empty()).then(|| problems.join("; ")),
        }
    }

    pub fn model(&self, provider: &str) -> String {
        self.models
            .get(provider)
            .cloned()
            .unwrap_or_else(|| default_model(provider).to_owned())
    }
}

/// Today's spend, per provider and in total; a new UTC day starts from zero.
#[derive(Default)]
struct Ledger {
    day: Option<NaiveDate>,
    per_provider: BTreeMap<String, Spend>,
    total: Spend,
}

/// The AI settings and today's spend, shared by every AI action of the process.
pub struct Ai {
    pub config: AiConfig,
    ledger: Mutex<Ledger>,
    clock: Clock,
}

/// One provider tried for an action, and why it did not answer (`error_code` null: it did).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AiAttempt {
    pub provider_id: String,
    pub model: String,
    pub error_code: Option<String>,
    pub message: Option<String>,
}

/// An action's answer: the completion and every provider tried on the way (failovers).
#[derive(Debug, Clone)]
pub struct AiAnswer {
    pub completion: Completion,
    pub attempts: Vec<AiAttempt>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AiError {
    /// No provider could answer (none configured, all failing, a setting malformed).
    #[error("{reason}")]
    Unavailable {
        reason: String,
        attempts: Vec<AiAttempt>,
    },
    /// A daily budget stands in the way of every provider.
    #[error("{reason}")]
    BudgetExceeded {
        reason: String,
        attempts: Vec<AiAttempt>,
    },
}

/// Today's spend and budget of one scope, for AI Ops.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetView {
    /// `total` or a provider id.
    pub scope: String,
    pub spent: Spend,
    pub tokens_per_day: Option<u64>,
    #[schema(value_type = Option<String>)]
    pub cost_per_day: Option<rust_decimal::Decimal>,
    /// Tokens left today (never below 0); null without a token budget.
    pub tokens_left: Option<u64>,
    /// USD left today (never below 0); null without a cost budget.
    #[schema(value_type = Option<String>)]
    pub cost_left: Option<rust_decimal::Decimal>,
}

impl BudgetView {
    fn new(
        scope: String,
        spent: Spend,
        tokens_per_day: Option<u64>,
        cost_per_day: Option<rust_decimal::Decimal>,
    ) -> Self {
        BudgetView {
            tokens_left: tokens_per_day.map(|t| t.saturating_sub(spent.tokens)),
            cost_left: cost_per_day.map(|c| (c - spent.cost).max(rust_decimal::Decimal::ZERO)),
            scope,
            spent,
            tokens_per_day,
            cost_per_day,
        }
    }
}

impl Ai {
    pub fn new(config: AiConfig, clock: Clock) -> Self {
        Ai {
            config,
            ledger: Mutex::default(),
            clock,
        }
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        let today = self.clock.now().date_naive();
        if l.day != Some(today) {
            *l = Ledger {
                day: Some(today),
                ..Ledger::default()
            };
        }
        l
    }

    /// Brings today's ledger up to what the database has recorded today (every node's
    /// successful generations), keeping this process's own count where it is higher (calls its
    /// usage writer has not flushed yet). Run at start (a restart does not hand out the day's
    /// budget again) and before each AI action (the budgets are the cluster's, not a node's).
    pub async fn sync(&self, pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
        let today = self.clock.now().date_naive();
        let since = today.and_time(chrono::NaiveTime::MIN).and_utc();
        let rows = crate::store::ai_usage::spent_since(pool, &self.config.order, since).await?;
        let mut recorded = Spend::default();
        let mut l = self.ledger();
        if l.day != Some(today) {
            // The day turned during the read: the next action reads the new day.
            return Ok(());
        }
        for (provider, tokens, cost, unpriced) in rows {
            let spend = Spend {
                tokens: u64::try_from(tokens).unwrap_or(0),
                cost: cost.unwrap_or_default(),
                unpriced_calls: u64::try_from(unpriced).unwrap_or(0),
            };
            recorded.tokens = recorded.tokens.saturating_add(spend.tokens);
            recorded.cost += spend.cost;
            recorded.unpriced_calls += spend.unpriced_calls;
            let own = l.per_provider.entry(provider).or_default();
            *own = own.max(spend);
        }
        l.total = l.total.max(recorded);
        Ok(())
    }

    fn check(&self, provider: &str, priced: bool) -> Result<(), BudgetRefusal> {
        let l = self.ledger();
        let spent = l.per_provider.get(provider).copied().unwrap_or_default();
        self.config
            .budgets
            .check(provider, priced, &spent, &l.total)
    }

    fn spend(&self, c: &Completion) {
        let mut l = self.ledger();
        let tokens = c.input_tokens.saturating_add(c.output_tokens);
        l.per_provider
            .entry(c.provider_id.to_owned())
            .or_default()
            .add(tokens, c.cost);
        l.total.add(tokens, c.cost);
    }

    /// Today's spend against each budget: the total, then each LLM provider in order.
    pub fn budgets(&self) -> Vec<BudgetView> {
        let l = self.ledger();
        let mut out = vec![BudgetView::new(
            "total".into(),
            l.total,
            self.config.budgets.total.tokens_per_day,
            self.config.budgets.total.cost_per_day,
        )];
        for id in &self.config.order {
            let b = self.config.budgets.provider(id);
            out.push(BudgetView::new(
                (*id).to_owned(),
                l.per_provider.get(*id).copied().unwrap_or_default(),
                b.tokens_per_day,
                b.cost_per_day,
            ));
        }
        out
    }
}

impl RuntimeHandle {
    pub fn ai(&self) -> &Ai {
        &self.inner.ai
    }

    /// Whether an AI action could be tried now: the settings are sound and some provider in
    /// the order is configured with its breaker not OPEN.
    pub fn ai_usable(&self) -> bool {
        let ai = &self.inner.ai;
        ai.config.problem.is_none()
            && ai.config.order.iter().any(|id| {
                self.inner.integrations.client(id).is_some()
                    && self.inner.providers.get(id).is_some_and(|p| {
                        p.health().breaker_state != crate::domain::breaker::BreakerState::Open
                    })
            })
    }

    /// Asks the providers in the operator's order until one answers. `purpose` names the AI
    /// action (usage events, AI Ops).
    pub async fn generate(
        &self,
        purpose: &'static str,
        mut prompt: Prompt,
        ctx: CallContext,
    ) -> Result<AiAnswer, AiError> {
        let ai = &self.inner.ai;
        // No secret leaves in a prompt, whatever the action put in it.
        let redactor = self.inner.integrations.redactor();
        prompt.system = redactor.redact(&prompt.system);
        prompt.user = redactor.redact(&prompt.user);
        if let Some(problem) = &ai.config.problem {
            return Err(AiError::Unavailable {
                reason: format!("the AI settings are invalid: {problem}"),
                attempts: Vec::new(),
            });
        }
        // Other nodes' spend counts: today's recorded calls are read first. A failed read
        // leaves this process's own count (the call path records the database's failure).
        if let Some(pool) = self.pool()
            && let Err(err) = ai.sync(&pool).await
        {
            tracing::warn!(error = %err, "today's LLM spend not read; this node's count stands");
        }
        let mut attempts = Vec::new();
        let mut budget_refusals = 0;
        for id in ai.config.order.iter().copied() {
            if self.inner.integrations.client(id).is_none() {
                continue;
            }
            let model = ai.config.model(id);
            let price = ai.config.prices.get(id, &model);
            let mut attempt = AiAttempt {
                provider_id: id.to_owned(),
                model: model.clone(),
                error_code: None,
                message: None,
            };
            match ai.check(id, price.is_some()) {
                Ok(()) => {}
                Err(BudgetRefusal::Total(reason)) => {
                    attempts.push(AiAttempt {
                        error_code: Some("AI_BUDGET_EXCEEDED".into()),
                        message: Some(reason.clone()),
                        ..attempt
                    });
                    return Err(AiError::BudgetExceeded { reason, attempts });
                }
                Err(BudgetRefusal::Provider(reason)) => {
                    budget_refusals += 1;
                    attempt.error_code = Some("AI_BUDGET_EXCEEDED".into());
                    attempt.message = Some(reason);
                    attempts.push(attempt);
                    continue;
                }
            }
            let options = GenerateOptions {
                model,
                max_output_tokens: ai.config.max_output_tokens,
                temperature: Some(0.2),
                price,
                purpose,
                ctx,
            };
            let request = GenerateRequest {
                prompt: prompt.clone(),
                options,
            };
            let trace = TraceId::current();
            let call = self.provider_call(id, move |reply| {
                ProviderMsg::Generate(trace, Box::new(request), reply)
            });
            let result = match tokio::time::timeout(ai.config.attempt_timeout, call).await {
                Ok(r) => r,
                Err(_) => Err(ProviderCallError::Timeout(id.to_owned())),
            };
            match result {
                Ok(completion) => {
                    ai.spend(&completion);
                    attempts.push(attempt);
                    return Ok(AiAnswer {
                        completion,
                        attempts,
                    });
                }
                Err(e) => {
                    tracing::warn!(
                        provider_id = id,
                        purpose,
                        code = e.code(),
                        "LLM attempt failed; trying the next provider"
                    );
                    attempt.error_code = Some(e.code().to_owned());
                    attempt.message = Some(e.to_string());
                    attempts.push(attempt);
                }
            }
        }
        if attempts.is_empty() {
            return Err(AiError::Unavailable {
                reason: "no LLM provider in TRADEPLANE_LLM_ORDER is configured".into(),
                attempts,
            });
        }
        if budget_refusals == attempts.len() {
            return Err(AiError::BudgetExceeded {
                reason: "every configured LLM provider has used its daily budget".into(),
                attempts,
            });
        }
        let tried: Vec<String> = attempts
            .iter()
            .map(|a| {
                format!(
                    "{} {}",
                    a.provider_id,
                    a.error_code.as_deref().unwrap_or("")
                )
            })
            .collect();
        Err(AiError::Unavailable {
            reason: format!("no LLM provider answered ({})", tried.join(", ")),
            attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn settings_parse_and_a_bad_one_disables_ai() {
        let c = AiConfig::default();
        assert_eq!(c.order.len(), 6);
        assert!(c.problem.is_none());
        assert_eq!(c.model("anthropic"), "claude-3-5-haiku-latest");

        let c = AiConfig::from_env(&env(&[
            ("TRADEPLANE_LLM_ORDER", "anthropic, openai"),
            ("TRADEPLANE_LLM_MODELS", "openai=gpt-4.1-mini"),
            ("TRADEPLANE_LLM_TIMEOUT_SECS", "3"),
            ("TRADEPLANE_LLM_DAILY_COST", "total=5"),
        ]));
        assert_eq!(c.order, vec!["anthropic", "openai"]);
        assert_eq!(c.model("openai"), "gpt-4.1-mini");
        assert_eq!(c.attempt_timeout, Duration::from_secs(3));
        assert!(c.budgets.total.cost_per_day.is_some());
        assert!(c.problem.is_none());

        for bad in [
            ("TRADEPLANE_LLM_ORDER", "openai,redis"),
            ("TRADEPLANE_LLM_MODELS", "openai"),
            ("TRADEPLANE_LLM_PRICES", "openai/m=x:1"),
            ("TRADEPLANE_LLM_DAILY_TOKENS", "total=lots"),
            ("TRADEPLANE_LLM_TIMEOUT_SECS", "0"),
        ] {
            let c = AiConfig::from_env(&env(&[bad]));
            assert!(c.problem.is_some(), "{bad:?}");
        }
    }

    #[test]
    fn the_ledger_starts_each_utc_day_at_zero() {
        let clock = Clock::manual("2026-12-03T23:59:00Z".parse().unwrap());
        let ai = Ai::new(
            AiConfig::from_env(&env(&[("TRADEPLANE_LLM_DAILY_TOKENS", "openai=100")])),
            clock.clone(),
        );
        let done = Completion {
            provider_id: "openai",
            text: String::new(),
            model: "m".into(),
            input_tokens: 60,
            output_tokens: 40,
            finish_reason: None,
            cost: None,
        };
        ai.spend(&done);
        assert!(ai.check("openai", false).is_err());
        assert!(ai.check("anthropic", false).is_ok());
        assert_eq!(ai.budgets()[0].spent.tokens, 100);
        let openai = ai
            .budgets()
            .into_iter()
            .find(|b| b.scope == "openai")
            .unwrap();
        assert_eq!((openai.tokens_left, openai.cost_left), (Some(0), None));
        assert_eq!(ai.budgets()[0].tokens_left, None, "no total budget");
        clock.set("2026-12-04T00:00:01Z".parse().unwrap());
        assert!(ai.check("openai", false).is_ok());
    }
}
