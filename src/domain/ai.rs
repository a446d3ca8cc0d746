//! LLM accounting rules, pure: the operator's price table (USD per 1M tokens, per provider and
//! model; `Decimal`, never `f64`), daily token/cost budgets per provider and in total, and the
//! check that decides whether one more call may be made today.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

/// What an AI action sends an LLM: instructions and the material, nothing else. Built by the
/// action from the product's own records; secrets never belong in either part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub system: String,
    pub user: String,
}

/// What one model costs, USD per 1M input and output tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct ModelPrice {
    #[schema(value_type = String)]
    pub input_per_million: Decimal,
    #[schema(value_type = String)]
    pub output_per_million: Decimal,
}

impl ModelPrice {
    /// The cost of one call.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> Decimal {
        let million = Decimal::from(1_000_000u32);
        (Decimal::from(input_tokens) * self.input_per_million
            + Decimal::from(output_tokens) * self.output_per_million)
            / million
    }
}

/// Prices by `(provider, model)`. A model without a price has an unknown cost (never 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceTable {
    prices: BTreeMap<(String, String), ModelPrice>,
}

impl PriceTable {
    /// Parses `provider/model=input:output;…` (USD per 1M tokens), e.g.
    /// `openai/gpt-4o-mini=0.15:0.60;anthropic/claude-3-5-haiku-latest=0.80:4.00`.
    /// The model may itself contain `/` (OpenRouter's `openai/gpt-4o-mini`): the provider is
    /// the part before the first `/`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut prices = BTreeMap::new();
        for entry in raw.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || format!("price entry `{entry}`: expected provider/model=input:output");
            let (key, value) = entry.split_once('=').ok_or_else(bad)?;
            let (provider, model) = key.trim().split_once('/').ok_or_else(bad)?;
            let (input, output) = value.split_once(':').ok_or_else(bad)?;
            let parse = |s: &str| {
                s.trim()
                    .parse::<Decimal>()
                    .ok()
                    .filter(|d| !d.is_sign_negative())
                    .ok_or_else(bad)
            };
            prices.insert(
                (provider.trim().to_owned(), model.trim().to_owned()),
                ModelPrice {
                    input_per_million: parse(input)?,
                    output_per_million: parse(output)?,
                },
            );
        }
        Ok(PriceTable { prices })
    }

    pub fn get(&self, provider: &str, model: &str) -> Option<ModelPrice> {
        self.prices
            .get(&(provider.to_owned(), model.to_owned()))
            .copied()
    }
}

/// A daily limit; `None` in a field means no limit of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Budget {
    pub tokens_per_day: Option<u64>,
    #[schema(value_type = Option<String>)]
    pub cost_per_day: Option<Decimal>,
}

/// What was spent in one UTC day. `unpriced_calls` counts calls whose cost is unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Spend {
    pub tokens: u64,
    #[schema(value_type = String)]
    pub cost: Decimal,
    pub unpriced_calls: u64,
}

impl Spend {
    /// Field by field the larger of two readings of one day's spend (this process's own
    /// count and the database's, which holds every node's recorded calls but not this
    /// process's calls its usage writer has not flushed yet).
    pub fn max(self, other: Spend) -> Spend {
        Spend {
            tokens: self.tokens.max(other.tokens),
            cost: self.cost.max(other.cost),
            unpriced_calls: self.unpriced_calls.max(other.unpriced_calls),
        }
    }

    pub fn add(&mut self, tokens: u64, cost: Option<Decimal>) {
        self.tokens = self.tokens.saturating_add(tokens);
        match cost {
            Some(c) => self.cost += c,
            None => self.unpriced_calls += 1,
        }
    }
}

/// Budgets for the total and per provider (`TRADEPLANE_LLM_DAILY_TOKENS`,
/// `TRADEPLANE_LLM_DAILY_COST`: `total=N,openai=N,…`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Budgets {
    pub total: Budget,
    pub per_provider: BTreeMap<String, Budget>,
}

/// Which budget refuses a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetRefusal {
    Total(String),
    Provider(String),
}

impl Budgets {
    /// Reads the two `scope=limit` lists; `total` is the all-provider scope.
    pub fn parse(tokens: Option<&str>, cost: Option<&str>) -> Result<Self, String> {
        let mut out = Budgets::default();
        for (scope, raw) in pairs(tokens.unwrap_or(""))? {
            let n = raw
                .parse::<u64>()
                .map_err(|_| format!("token budget `{scope}={raw}` is not a whole number"))?;
            out.scope(&scope).tokens_per_day = Some(n);
        }
        for (scope, raw) in pairs(cost.unwrap_or(""))? {
            let d = raw
                .parse::<Decimal>()
                .ok()
                .filter(|d| !d.is_sign_negative())
                .ok_or_else(|| format!("cost budget `{scope}={raw}` is not a USD amount"))?;
            out.scope(&scope).cost_per_day = Some(d);
        }
        Ok(out)
    }

    fn scope(&mut self, scope: &str) -> &mut Budget {
        if scope == "total" {
            &mut self.total
        } else {
            self.per_provider.entry(scope.to_owned()).or_default()
        }
    }

    pub fn provider(&self, id: &str) -> Budget {
        self.per_provider.get(id).copied().unwrap_or_default()
    }

    /// May `provider` make one more call, given today's spend? A cost limit cannot be
    /// honoured for a model with no price, so such a call is refused (fail closed).
    pub fn check(
        &self,
        provider: &str,
        priced: bool,
        provider_spend: &Spend,
        total_spend: &Spend,
    ) -> Result<(), BudgetRefusal> {
        if let Some(why) = exceeded(&self.total, priced, total_spend) {
            return Err(BudgetRefusal::Total(format!("total daily {why}")));
        }
        if let Some(why) = exceeded(&self.provider(provider), priced, provider_spend) {
            return Err(BudgetRefusal::Provider(format!("{provider} daily {why}")));
        }
        Ok(())
    }
}

fn exceeded(budget: &Budget, priced: bool, spent: &Spend) -> Option<String> {
    if let Some(limit) = budget.tokens_per_day
        && spent.tokens >= limit
    {
        return Some(format!("token budget used: {} of {limit}", spent.tokens));
    }
    if let Some(limit) = budget.cost_per_day {
        if !priced {
            return Some(format!(
                "cost budget ({limit} USD) set but the model has no price in TRADEPLANE_LLM_PRICES"
            ));
        }
        if spent.cost >= limit {
            return Some(format!("cost budget used: {} of {limit} USD", spent.cost));
        }
    }
    None
}

fn pairs(raw: &str) -> Result<Vec<(String, String)>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| format!("budget entry `{p}`: expected scope=limit"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn prices_parse_and_cost_in_decimal() {
        let t = PriceTable::parse(
            "openai/gpt-4o-mini=0.15:0.60; openrouter/openai/gpt-4o-mini=0.2:0.8",
        )
        .unwrap();
        let p = t.get("openai", "gpt-4o-mini").unwrap();
        assert_eq!(p.cost(1_000_000, 500_000), dec!(0.45));
        assert_eq!(p.cost(1, 0), dec!(0.00000015));
        assert!(t.get("openrouter", "openai/gpt-4o-mini").is_some());
        assert!(t.get("anthropic", "x").is_none());
        assert!(PriceTable::parse("openai=1:2").is_err());
        assert!(PriceTable::parse("openai/m=-1:2").is_err());
    }

    #[test]
    fn budgets_refuse_at_the_limit_and_without_a_price() {
        let b = Budgets::parse(Some("total=1000,openai=100"), Some("anthropic=1.50")).unwrap();
        let mut spent = Spend::default();
        assert_eq!(b.check("openai", true, &spent, &spent), Ok(()));
        spent.add(100, Some(dec!(0.01)));
        assert!(matches!(
            b.check("openai", true, &spent, &spent),
            Err(BudgetRefusal::Provider(_))
        ));
        assert_eq!(b.check("groq", false, &spent, &spent), Ok(()));
        let mut total = spent;
        total.add(900, None);
        assert!(matches!(
            b.check("groq", true, &Spend::default(), &total),
            Err(BudgetRefusal::Total(_))
        ));
        // A cost limit with an unpriced model: refused, not assumed free.
        assert!(matches!(
            b.check("anthropic", false, &Spend::default(), &Spend::default()),
            Err(BudgetRefusal::Provider(_))
        ));
        let mut a = Spend::default();
        a.add(10, Some(dec!(1.50)));
        assert!(b.check("anthropic", true, &a, &Spend::default()).is_err());
        assert!(Budgets::parse(Some("total=x"), None).is_err());
    }
}
