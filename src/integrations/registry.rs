//! The provider registry (SPEC §4): every provider the control plane knows, with the env vars it
//! needs, its official endpoint and its documented rate limit, and the configuration read from
//! an environment map (secrets wrapped in `Secret`, never printed).

use std::{collections::BTreeMap, num::NonZeroU32, time::Duration};

use serde::Serialize;
use url::Url;
use utoipa::ToSchema;

use crate::config::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    MarketData,
    Execution,
    Llm,
    AltData,
    Infra,
}

/// A vendor's documented request budget: `count` requests per `per`, all usable at once.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub count: u32,
    pub per: Duration,
}

const fn per_second(count: u32) -> RateLimit {
    RateLimit {
        count,
        per: Duration::from_secs(1),
    }
}

const fn per_minute(count: u32) -> RateLimit {
    RateLimit {
        count,
        per: Duration::from_secs(60),
    }
}

const fn per_day(count: u32) -> RateLimit {
    RateLimit {
        count,
        per: Duration::from_secs(86_400),
    }
}

impl RateLimit {
    pub fn quota(self) -> governor::Quota {
        let count = NonZeroU32::new(self.count).unwrap_or(NonZeroU32::MIN);
        let period = self.per / count.get();
        governor::Quota::with_period(period)
            .unwrap_or_else(|| governor::Quota::per_second(count))
            .allow_burst(count)
    }
}

/// One provider as the registry knows it.
#[derive(Debug)]
pub struct ProviderSpec {
    pub id: &'static str,
    pub label: &'static str,
    pub category: Category,
    pub required_env_vars: &'static [&'static str],
    pub optional_env_vars: &'static [&'static str],
    pub supports_verify: bool,
    /// The vendor's production endpoint (overridable with `<ID>_BASE_URL`).
    pub official_base_url: &'static str,
    /// Hosts that count as the vendor's own; any other host is a sandbox.
    pub official_hosts: &'static [&'static str],
    /// The documented limit for the cheapest plan (override: `<ID>_RATE_LIMIT_PER_MIN`).
    pub rate_limit: RateLimit,
}

impl ProviderSpec {
    pub fn base_url_var(&self) -> String {
        format!("{}_BASE_URL", self.id.to_ascii_uppercase())
    }

    pub fn rate_limit_var(&self) -> String {
        format!("{}_RATE_LIMIT_PER_MIN", self.id.to_ascii_uppercase())
    }

    /// The fix for a provider missing `missing` (names only, never values).
    pub fn suggested_fix(&self, missing: &[&str]) -> String {
        format!(
            "Set {} in the environment (or .env) and restart tradeplane, then run POST /api/integrations/verify {{\"provider_id\":\"{}\"}}.",
            missing.join(", "),
            self.id
        )
    }
}

/// All 17 providers of SPEC §4, ids fixed.
pub static PROVIDERS: &[ProviderSpec] = &[
    ProviderSpec {
        id: "databento",
        label: "Databento",
        category: Category::MarketData,
        required_env_vars: &["DATABENTO_API_KEY"],
        // DATABENTO_LIVE_ADDR: the live gateway (`host:port`); set, bars stream live.
        optional_env_vars: &["DATABENTO_BASE_URL", "DATABENTO_LIVE_ADDR"],
        supports_verify: true,
        official_base_url: "https://hist.databento.com",
        official_hosts: &["hist.databento.com"],
        // Metadata requests: 20/s (time-series 100/s).
        rate_limit: per_second(20),
    },
    ProviderSpec {
        id: "polygon",
        label: "Polygon / Massive",
        category: Category::MarketData,
        required_env_vars: &["POLYGON_API_KEY"],
        optional_env_vars: &["POLYGON_BASE_URL", "POLYGON_RATE_LIMIT_PER_MIN"],
        supports_verify: true,
        official_base_url: "https://api.massive.com",
        official_hosts: &["api.massive.com", "api.polygon.io"],
        // Free Basic plan: 5 requests/min; paid plans set POLYGON_RATE_LIMIT_PER_MIN.
        rate_limit: per_minute(5),
    },
    ProviderSpec {
        id: "finnhub",
        label: "Finnhub",
        category: Category::MarketData,
        required_env_vars: &["FINNHUB_API_KEY"],
        optional_env_vars: &["FINNHUB_BASE_URL"],
        supports_verify: true,
        official_base_url: "https://finnhub.io/api/v1",
        official_hosts: &["finnhub.io", "api.finnhub.io"],
        rate_limit: per_minute(60),
    },
    ProviderSpec {
        id: "alphavantage",
        label: "Alpha Vantage",
        category: Category::MarketData,
        required_env_vars: &["ALPHAVANTAGE_API_KEY"],
        optional_env_vars: &["ALPHAVANTAGE_BASE_URL"],
        // A call proves reachability only: the vendor answers wrong keys with data.
        supports_verify: true,
        official_base_url: "https://www.alphavantage.co",
        official_hosts: &["www.alphavantage.co", "alphavantage.co"],
        rate_limit: per_day(25),
    },
    ProviderSpec {
        id: "fmp",
        label: "Financial Modeling Prep",
        category: Category::MarketData,
        required_env_vars: &["FMP_API_KEY"],
        optional_env_vars: &["FMP_BASE_URL"],
        supports_verify: true,
        official_base_url: "https://financialmodelingprep.com",
        official_hosts: &["financialmodelingprep.com"],
        rate_limit: per_day(250),
    },
    ProviderSpec {
        id: "fred",
        label: "FRED (St. Louis Fed)",
        category: Category::MarketData,
        required_env_vars: &["FRED_API_KEY"],
        optional_env_vars: &["FRED_BASE_URL"],
        supports_verify: true,
        official_base_url: "https://api.stlouisfed.org",
        official_hosts: &["api.stlouisfed.org"],
        rate_limit: per_minute(120),
    },
    ProviderSpec {
        id: "ironbeam",
        label: "Ironbeam",
        category: Category::Execution,
        required_env_vars: &["IRONBEAM_USERNAME", "IRONBEAM_API_KEY"],
        optional_env_vars: &["IRONBEAM_PASSWORD", "IRONBEAM_ENV", "IRONBEAM_BASE_URL"],
        supports_verify: true,
        official_base_url: "https://demo.ironbeamapi.com/v2",
        official_hosts: &["demo.ironbeamapi.com", "live.ironbeamapi.com"],
        // Empirical hard limit 10 req/s (auth and logout included).
        rate_limit: per_second(10),
    },
    ProviderSpec {
        id: "tradovate",
        label: "Tradovate",
        category: Category::Execution,
        required_env_vars: &[
            "TRADOVATE_USERNAME",
            "TRADOVATE_PASSWORD",
            "TRADOVATE_APP_ID",
            "TRADOVATE_APP_VERSION",
            "TRADOVATE_CID",
            "TRADOVATE_SEC",
        ],
        optional_env_vars: &["TRADOVATE_DEVICE_ID", "TRADOVATE_ENV", "TRADOVATE_BASE_URL"],
        supports_verify: true,
        official_base_url: "https://demo.tradovateapi.com/v1",
        official_hosts: &["demo.tradovateapi.com", "live.tradovateapi.com"],
        // Authentication: 10/min, the tightest documented budget.
        rate_limit: per_minute(10),
    },
    ProviderSpec {
        id: "openai",
        label: "OpenAI",
        category: Category::Llm,
        required_env_vars: &["OPENAI_API_KEY"],
        optional_env_vars: &["OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_BASE_URL"],
        supports_verify: true,
        official_base_url: "https://api.openai.com/v1",
        official_hosts: &["api.openai.com"],
        rate_limit: per_minute(60),
    },
    ProviderSpec {
        id: "anthropic",
        label: "Anthropic",
        category: Category::Llm,
        required_env_vars: &["ANTHROPIC_API_KEY"],
        optional_env_vars: &["ANTHROPIC_BASE_URL"],
        supports_verify: true,
        official_base_url: "https://api.anthropic.com",
        official_hosts: &["api.anthropic.com"],
        rate_limit: per_minute(50),
    },
    ProviderSpec {
        id: "google_gemini",
        label: "Google Gemini",
        category: Category::Llm,
        required_env_vars: &["GEMINI_API_KEY"],
        optional_env_vars: &["GOOGLE_GEMINI_BASE_URL"],
        supports_verify: true,
        official_base_url: "https://generativelanguage.googleapis.com/v1beta",
        official_hosts: &["generativelanguage.googleapis.com"],
        rate_limit: per_minute(60),
    },
    ProviderSpec {
        id: "groq",
        label: "Groq",
        category: Category::Llm,
        required_env_vars: &["GROQ_API_KEY"],
        optional_env_vars: &["GROQ_BASE_URL"],
        supports_verify: true,
        official_base_url: "https://api.groq.com/openai/v1",
        official_hosts: &["api.groq.com"],
        rate_limit: per_minute(30),
    },
    ProviderSpec {
        id: "xai",
        label: "xAI",
        category: Category::Llm,
        required_env_vars: &["XAI_API_KEY"],
        optional_env_vars: &["XAI_BASE_URL"],
        supports_verify: true,
        official_base_url: "https://api.x.ai/v1",
        official_hosts: &["api.x.ai"],
        rate_limit: per_minute(60),
    },
    ProviderSpec {
        id: "openrouter",
        label: "OpenRouter",
        category: Category::Llm,
        required_env_vars: &["OPENROUTER_API_KEY"],
        optional_env_vars: &["OPENROUTER_BASE_URL"],
        supports_verify: true,
        official_base_url: "https://openrouter.ai/api/v1",
        official_hosts: &["openrouter.ai"],
        rate_limit: per_minute(20),
    },
    ProviderSpec {
        id: "unusual_whales",
        label: "Unusual Whales",
        category: Category::AltData,
        required_env_vars: &["UW_API_KEY"],
        optional_env_vars: &["UNUSUAL_WHALES_BASE_URL"],
        supports_verify: true,
        official_base_url: "https://api.unusualwhales.com",
        official_hosts: &["api.unusualwhales.com"],
        rate_limit: per_minute(120),
    },
    ProviderSpec {
        id: "redis",
        label: "Redis",
        category: Category::Infra,
        required_env_vars: &["REDIS_URL"],
        optional_env_vars: &["REDIS_BASE_URL"],
        supports_verify: true,
        // Self-hosted: REDIS_URL is the endpoint; REDIS_BASE_URL points it at a simulator.
        official_base_url: "",
        official_hosts: &[],
        rate_limit: per_second(100),
    },
    ProviderSpec {
        id: "discord",
        label: "Discord webhook",
        category: Category::Infra,
        required_env_vars: &["DISCORD_WEBHOOK_URL"],
        optional_env_vars: &["DISCORD_BASE_URL"],
        supports_verify: true,
        official_base_url: "https://discord.com",
        official_hosts: &["discord.com", "discordapp.com"],
        // Webhook buckets are about 5 requests per 2 s.
        rate_limit: per_minute(30),
    },
];

pub fn spec(id: &str) -> Option<&'static ProviderSpec> {
    PROVIDERS.iter().find(|p| p.id == id)
}

/// Environment values by name (the process environment, or an explicit map in tests).
pub type EnvMap = BTreeMap<String, String>;

/// Operator settings of the AI actions, read with the providers' environment (see
/// `runtime::ai`).
pub const LLM_SETTINGS_VARS: &[&str] = &[
    "TRADEPLANE_LLM_ORDER",
    "TRADEPLANE_LLM_MODELS",
    "TRADEPLANE_LLM_PRICES",
    "TRADEPLANE_LLM_DAILY_TOKENS",
    "TRADEPLANE_LLM_DAILY_COST",
    "TRADEPLANE_LLM_TIMEOUT_SECS",
    "TRADEPLANE_LLM_MAX_OUTPUT_TOKENS",
];

/// The process environment restricted to the names the registry (and the AI settings) read.
pub fn process_env() -> EnvMap {
    let mut env = EnvMap::new();
    for name in LLM_SETTINGS_VARS {
        if let Ok(value) = std::env::var(name) {
            env.insert((*name).to_owned(), value);
        }
    }
    for spec in PROVIDERS {
        let names = spec
            .required_env_vars
            .iter()
            .chain(spec.optional_env_vars)
            .map(|s| (*s).to_owned())
            .chain([spec.base_url_var(), spec.rate_limit_var()]);
        for name in names {
            if let Ok(value) = std::env::var(&name) {
                env.insert(name, value);
            }
        }
    }
    env
}

fn live(env: Option<String>) -> bool {
    env.is_some_and(|v| v.eq_ignore_ascii_case("live"))
}

/// A provider's configuration as read from the environment.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub spec: &'static ProviderSpec,
    /// Every required and optional variable that is set, by name (values hidden).
    pub values: BTreeMap<&'static str, Secret>,
    pub missing_env_vars: Vec<&'static str>,
    /// Where requests go: the override or the official endpoint (None: unusable override).
    pub base_url: Option<Url>,
    /// The endpoint is not the vendor's own host; such a provider can never serve LIVE.
    pub sandbox: bool,
    /// A configuration problem other than a missing variable (e.g. an unparsable URL).
    pub problem: Option<String>,
    pub rate_limit: RateLimit,
}

impl ProviderConfig {
    pub fn from_env(spec: &'static ProviderSpec, env: &EnvMap) -> Self {
        let get = |name: &str| {
            env.get(name)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for name in spec.required_env_vars {
            match get(name) {
                Some(v) => {
                    values.insert(*name, Secret::new(v));
                }
                None => missing.push(*name),
            }
        }
        for name in spec.optional_env_vars {
            if let Some(v) = get(name) {
                values.insert(*name, Secret::new(v));
            }
        }
        let mut problem = None;
        let override_url = get(&spec.base_url_var());
        let base_url = match (&override_url, spec.id) {
            (Some(raw), _) => match Url::parse(raw) {
                Ok(u) => Some(u),
                Err(_) => {
                    problem = Some(format!("{} is not a valid URL", spec.base_url_var()));
                    None
                }
            },
            // Redis and Discord: the endpoint is the configured URL itself.
            (None, "redis") => get("REDIS_URL").and_then(|u| Url::parse(&u).ok()),
            (None, "discord") => get("DISCORD_WEBHOOK_URL").and_then(|u| Url::parse(&u).ok()),
            // Brokers: `<ID>_ENV=live` selects the live host (demo otherwise).
            (None, "ironbeam") if live(get("IRONBEAM_ENV")) => {
                Url::parse("https://live.ironbeamapi.com/v2").ok()
            }
            (None, "tradovate") if live(get("TRADOVATE_ENV")) => {
                Url::parse("https://live.tradovateapi.com/v1").ok()
            }
            (None, _) => Url::parse(spec.official_base_url).ok(),
        };
        if base_url.is_none() && problem.is_none() && missing.is_empty() {
            problem = Some(format!("{} is not a valid URL", spec.required_env_vars[0]));
        }
        let sandbox = match (&base_url, spec.id) {
            (_, "redis") => override_url.is_some(),
            (Some(u), _) => !spec
                .official_hosts
                .iter()
                .any(|h| u.host_str() == Some(*h) && u.scheme() == "https"),
            (None, _) => override_url.is_some(),
        };
        let rate_limit = get(&spec.rate_limit_var())
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|n| *n > 0)
            .map(per_minute)
            .unwrap_or(spec.rate_limit);
        ProviderConfig {
            spec,
            values,
            missing_env_vars: missing,
            base_url,
            sandbox,
            problem,
            rate_limit,
        }
    }

    pub fn configured(&self) -> bool {
        self.missing_env_vars.is_empty() && self.problem.is_none() && self.base_url.is_some()
    }

    pub fn secret(&self, name: &str) -> Option<&Secret> {
        self.values.get(name)
    }

    /// The fix for what is wrong, or None when configured.
    pub fn suggested_fix(&self) -> Option<String> {
        if !self.missing_env_vars.is_empty() {
            return Some(self.spec.suggested_fix(&self.missing_env_vars));
        }
        self.problem
            .as_ref()
            .map(|p| format!("{p}: correct it in the environment and restart tradeplane."))
    }

    /// Every secret value, for redaction (the base URL may hold one too, e.g. Discord's token).
    pub fn secret_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        for value in self.values.values().map(Secret::expose) {
            out.push(value.to_owned());
            // Credentials inside URLs: a Redis password, a Discord webhook token (last segment).
            if let Ok(url) = Url::parse(value) {
                if let Some(p) = url.password() {
                    out.push(p.to_owned());
                }
                if self.spec.id == "discord"
                    && let Some(token) = url.path_segments().and_then(|mut s| s.next_back())
                {
                    out.push(token.to_owned());
                }
            }
        }
        out.retain(|s| s.len() >= 4);
        out
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
    fn every_spec_provider_once() {
        // SPEC §4 lists 17 ids (6 market data, 2 brokers, 6 LLM, 1 alt data, 2 infra).
        assert_eq!(PROVIDERS.len(), 17);
        let mut ids: Vec<_> = PROVIDERS.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 17);
        assert!(PROVIDERS.iter().all(|p| !p.required_env_vars.is_empty()));
    }

    #[test]
    fn missing_vars_are_named_in_the_fix() {
        let c =
            ProviderConfig::from_env(spec("tradovate").unwrap(), &env(&[("TRADOVATE_CID", "1")]));
        assert!(!c.configured());
        assert!(c.missing_env_vars.contains(&"TRADOVATE_SEC"));
        assert!(!c.missing_env_vars.contains(&"TRADOVATE_CID"));
        let fix = c.suggested_fix().unwrap();
        assert!(fix.contains("TRADOVATE_SEC") && fix.contains("TRADOVATE_USERNAME"));
    }

    #[test]
    fn official_host_is_not_sandbox_an_override_is() {
        let spec = spec("openai").unwrap();
        let official = ProviderConfig::from_env(spec, &env(&[("OPENAI_API_KEY", "sk-x")]));
        assert!(official.configured() && !official.sandbox);
        let local = ProviderConfig::from_env(
            spec,
            &env(&[
                ("OPENAI_API_KEY", "sk-x"),
                ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
            ]),
        );
        assert!(local.configured() && local.sandbox);
        let bad = ProviderConfig::from_env(
            spec,
            &env(&[("OPENAI_API_KEY", "sk-x"), ("OPENAI_BASE_URL", "not a url")]),
        );
        assert!(!bad.configured());
        assert!(bad.suggested_fix().unwrap().contains("OPENAI_BASE_URL"));
    }

    #[test]
    fn brokers_pick_the_live_host_only_when_asked() {
        let spec = spec("ironbeam").unwrap();
        let creds = [("IRONBEAM_USERNAME", "u"), ("IRONBEAM_API_KEY", "k")];
        let demo = ProviderConfig::from_env(spec, &env(&creds));
        assert_eq!(
            demo.base_url.unwrap().host_str(),
            Some("demo.ironbeamapi.com")
        );
        let mut with_live = creds.to_vec();
        with_live.push(("IRONBEAM_ENV", "live"));
        let live = ProviderConfig::from_env(spec, &env(&with_live));
        assert_eq!(
            live.base_url.unwrap().host_str(),
            Some("live.ironbeamapi.com")
        );
        assert!(!live.sandbox);
    }

    #[test]
    fn secrets_never_print() {
        let c = ProviderConfig::from_env(
            spec("fred").unwrap(),
            &env(&[("FRED_API_KEY", "fredsecretvalue123")]),
        );
        assert!(!format!("{c:?}").contains("fredsecretvalue123"));
    }
}
