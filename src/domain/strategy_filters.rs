//! Entry filters a bot stores beside its strategy (`strategy: {kind, params, filters?}`), and the
//! readings the risk gates check them against. Filters block NEW ENTRIES only (exits and
//! reductions stay allowed) and fail closed when their data is missing or stale.
//!
//! One struct of options (`StrategyFilters`, every field optional), one struct of stored data
//! the runner hands in (`FilterData`), one view the gates read (`FilterReadings` in
//! `GateContext::filters`), and one place that evaluates them (`evaluate`, called from
//! `risk::evaluate_gates`). A new filter adds a field to each and an arm in `evaluate`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::economic_calendar::{self, CalendarSnapshot, MacroReading};
use super::news::{self, NewsBlock, NewsGateFilter, NewsSnapshot};
use super::risk::{Blocker, Gate};
use super::strategy_config::FieldError;
use crate::error_code::ErrorCode;

/// `strategy.filters`: entry filters of a bot. Absent = no filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyFilters {
    /// Blocks new entries around scheduled economic events (FMP economic calendar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub economic_calendar: Option<EconomicCalendarFilter>,
    /// Blocks new entries while a FRED series is beyond a threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macro_filter: Option<MacroFilter>,
    /// Blocks new entries after a headline an LLM classified risk-off (Finnhub news).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub news_gate: Option<NewsGateFilter>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EconomicCalendarFilter {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Minutes before an event from which new entries are blocked (0–720).
    #[serde(default = "fifteen")]
    pub minutes_before: u32,
    /// Minutes after an event until which new entries are blocked (0–720).
    #[serde(default = "fifteen")]
    pub minutes_after: u32,
    /// Event impacts that count (`Low`, `Medium`, `High`).
    #[serde(default = "default_impacts")]
    pub impacts: Vec<String>,
    /// Country codes that count (as FMP names them, e.g. `US`).
    #[serde(default = "default_countries")]
    pub countries: Vec<String>,
    /// The stored calendar must have been fetched within this many hours (1–168).
    #[serde(default = "default_calendar_age")]
    pub max_calendar_age_hours: u32,
}

impl Default for EconomicCalendarFilter {
    fn default() -> Self {
        EconomicCalendarFilter {
            enabled: true,
            minutes_before: 15,
            minutes_after: 15,
            impacts: default_impacts(),
            countries: default_countries(),
            max_calendar_age_hours: default_calendar_age(),
        }
    }
}

/// The FRED series a macro filter may read (each refreshed by the macro-data loop).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum MacroSeries {
    /// 10-year Treasury constant-maturity yield, percent (daily).
    #[serde(rename = "DGS10")]
    Dgs10,
    /// 2-year Treasury constant-maturity yield, percent (daily).
    #[serde(rename = "DGS2")]
    Dgs2,
    /// Effective federal funds rate, percent (monthly).
    #[serde(rename = "FEDFUNDS")]
    Fedfunds,
    /// CBOE VIX close (daily).
    #[serde(rename = "VIXCLS")]
    Vixcls,
}

impl MacroSeries {
    pub const ALL: [MacroSeries; 4] = [
        MacroSeries::Dgs10,
        MacroSeries::Dgs2,
        MacroSeries::Fedfunds,
        MacroSeries::Vixcls,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            MacroSeries::Dgs10 => "DGS10",
            MacroSeries::Dgs2 => "DGS2",
            MacroSeries::Fedfunds => "FEDFUNDS",
            MacroSeries::Vixcls => "VIXCLS",
        }
    }

    pub fn parse(raw: &str) -> Option<MacroSeries> {
        MacroSeries::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MacroFilter {
    pub series_id: MacroSeries,
    /// New entries are blocked while the newest value is above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_above: Option<f64>,
    /// New entries are blocked while the newest value is below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_below: Option<f64>,
    /// The newest observation must be at most this many days old (1–400).
    #[serde(default = "default_macro_age")]
    pub max_age_days: u32,
}

fn yes() -> bool {
    true
}
fn fifteen() -> u32 {
    15
}
fn default_impacts() -> Vec<String> {
    vec!["High".into()]
}
fn default_countries() -> Vec<String> {
    vec!["US".into()]
}
fn default_calendar_age() -> u32 {
    24
}
fn default_macro_age() -> u32 {
    7
}

pub const MAX_WINDOW_MINUTES: u32 = 720;
pub const IMPACTS: [&str; 3] = ["Low", "Medium", "High"];

fn field(path: &str, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: format!("strategy.filters.{path}"),
        problem: problem.into(),
    }
}

impl StrategyFilters {
    pub fn is_empty(&self) -> bool {
        self.economic_calendar.is_none() && self.macro_filter.is_none() && self.news_gate.is_none()
    }

    /// The filters of a stored or submitted strategy value (`{kind, params, filters?}`).
    pub fn from_strategy(raw: &Value) -> Result<StrategyFilters, FieldError> {
        match raw.get("filters") {
            None | Some(Value::Null) => Ok(StrategyFilters::default()),
            Some(v) => {
                let f: StrategyFilters = serde_json::from_value(v.clone())
                    .map_err(|e| field_from_serde(&e.to_string()))?;
                f.validate()?;
                Ok(f)
            }
        }
    }

    /// Writes the filters into a strategy value (`{kind, params}` → `{kind, params, filters}`);
    /// empty filters are left out so a filterless bot stores what it always did.
    pub fn attach(&self, strategy: &mut Value) {
        if let Value::Object(map) = strategy {
            if self.is_empty() {
                map.remove("filters");
            } else if let Ok(v) = serde_json::to_value(self) {
                map.insert("filters".into(), v);
            }
        }
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(c) = &self.economic_calendar {
            for (name, v) in [
                ("minutes_before", c.minutes_before),
                ("minutes_after", c.minutes_after),
            ] {
                if v > MAX_WINDOW_MINUTES {
                    return Err(field(
                        &format!("economic_calendar.{name}"),
                        format!("must be between 0 and {MAX_WINDOW_MINUTES}"),
                    ));
                }
            }
            if c.impacts.is_empty() {
                return Err(field(
                    "economic_calendar.impacts",
                    "must name at least one of Low, Medium, High",
                ));
            }
            if let Some(bad) = c.impacts.iter().find(|i| !IMPACTS.contains(&i.as_str())) {
                return Err(field(
                    "economic_calendar.impacts",
                    format!("`{bad}` is not one of Low, Medium, High"),
                ));
            }
            if c.countries.is_empty() {
                return Err(field(
                    "economic_calendar.countries",
                    "must name at least one country code (e.g. US)",
                ));
            }
            if let Some(bad) = c.countries.iter().find(|k| {
                !(2..=3).contains(&k.len()) || !k.chars().all(|ch| ch.is_ascii_uppercase())
            }) {
                return Err(field(
                    "economic_calendar.countries",
                    format!("`{bad}` is not a 2–3 letter upper-case country code (e.g. US)"),
                ));
            }
            if !(1..=168).contains(&c.max_calendar_age_hours) {
                return Err(field(
                    "economic_calendar.max_calendar_age_hours",
                    "must be between 1 and 168",
                ));
            }
        }
        if let Some(m) = &self.macro_filter {
            let finite = |name: &str, v: Option<f64>| match v {
                Some(x) if !x.is_finite() => Err(field(
                    &format!("macro_filter.{name}"),
                    "must be a finite number",
                )),
                _ => Ok(()),
            };
            finite("block_above", m.block_above)?;
            finite("block_below", m.block_below)?;
            match (m.block_above, m.block_below) {
                (None, None) => {
                    return Err(field(
                        "macro_filter.block_above",
                        "set block_above, block_below or both",
                    ));
                }
                (Some(a), Some(b)) if b >= a => {
                    return Err(field(
                        "macro_filter.block_below",
                        "must be smaller than `block_above` (otherwise every value is blocked)",
                    ));
                }
                _ => {}
            }
            if !(1..=400).contains(&m.max_age_days) {
                return Err(field(
                    "macro_filter.max_age_days",
                    "must be between 1 and 400",
                ));
            }
        }
        if let Some(n) = &self.news_gate {
            n.validate()
                .map_err(|(name, problem)| field(&format!("news_gate.{name}"), problem))?;
        }
        Ok(())
    }
}

/// Names the field a serde message is about (`unknown field `x``, `unknown variant`), so the
/// envelope points at `strategy.filters.<field>` rather than at the whole object.
fn field_from_serde(msg: &str) -> FieldError {
    for name in ["economic_calendar", "macro_filter", "news_gate"] {
        if msg.contains(&format!("`{name}`")) && !msg.starts_with("unknown field") {
            return field(name, format!("is not valid: {msg}"));
        }
    }
    if msg.contains("series_id") || msg.contains("unknown variant") {
        return field(
            "macro_filter.series_id",
            format!("must be one of DGS10, DGS2, FEDFUNDS, VIXCLS ({msg})"),
        );
    }
    FieldError {
        field: "strategy.filters".into(),
        problem: format!("is not valid: {msg}"),
    }
}

/// The stored data the filters read, as the runner (or a backtest) hands it in. Cheap to share
/// (`Arc`); refreshed off the hot path.
#[derive(Debug, Clone, Default)]
pub struct FilterData {
    /// The stored economic calendar; `None` = none stored.
    pub calendar: Option<CalendarSnapshot>,
    /// The newest stored observation of each FRED series.
    pub macro_series: BTreeMap<MacroSeries, MacroReading>,
}

/// What the filter gates read: the bot's options and the data to check them against.
#[derive(Debug, Clone, Copy)]
pub struct FilterReadings<'a> {
    pub filters: &'a StrategyFilters,
    pub data: &'a FilterData,
    /// The news gate's cached classification snapshot (the runner's, refreshed off the hot path).
    pub news: &'a NewsSnapshot,
}

static NO_FILTERS: StrategyFilters = StrategyFilters {
    economic_calendar: None,
    macro_filter: None,
    news_gate: None,
};
static NO_NEWS: NewsSnapshot = NewsSnapshot {
    risk_off: Vec::new(),
    unavailable: None,
    refreshed_at: None,
};
static NO_DATA: FilterData = FilterData {
    calendar: None,
    macro_series: BTreeMap::new(),
};

impl FilterReadings<'static> {
    /// No filter configured (every gate passes).
    pub fn none() -> Self {
        FilterReadings {
            filters: &NO_FILTERS,
            data: &NO_DATA,
            news: &NO_NEWS,
        }
    }
}

/// Evaluates every configured filter at `now`. `entry` = the evaluation would raise exposure
/// (or proposes nothing, so the trace still says what would block an entry); exits and
/// reductions (`entry == false`) are never blocked by a filter. The blockers are appended to
/// `out` (the gate report's own list: most evaluations have none to add).
pub fn evaluate(r: &FilterReadings<'_>, now: DateTime<Utc>, entry: bool, out: &mut Vec<Blocker>) {
    if !entry {
        return;
    }
    if let Some(f) = r.filters.economic_calendar.as_ref().filter(|f| f.enabled)
        && let Some((code, reason)) =
            economic_calendar::calendar_gate(f, r.data.calendar.as_ref(), now)
    {
        out.push(Blocker {
            gate: Gate::EconomicCalendar,
            code,
            reason_human: reason,
            suggested_fix: code.suggested_fix().to_string(),
        });
    }
    if let Some(f) = &r.filters.macro_filter
        && let Some((code, reason)) =
            economic_calendar::macro_gate(f, r.data.macro_series.get(&f.series_id), now)
    {
        out.push(Blocker {
            gate: Gate::MacroFilter,
            code,
            reason_human: reason,
            suggested_fix: code.suggested_fix().to_string(),
        });
    }
    if let Some(f) = &r.filters.news_gate {
        for block in news::news_gate(f, r.news, now) {
            let (code, reason) = match block {
                NewsBlock::RiskOff(h) => (
                    ErrorCode::NewsRiskOff,
                    format!(
                        "News gate: \"{}\" ({}, published {}) was classified risk-off; no new entries for {} min after it.",
                        h.headline,
                        if h.source.is_empty() {
                            &h.provider_id
                        } else {
                            &h.source
                        },
                        h.published_at.to_rfc3339(),
                        f.window_minutes
                    ),
                ),
                NewsBlock::Unavailable(why) => (
                    ErrorCode::NewsGateUnavailable,
                    format!("News gate unavailable, closed for new entries: {why}."),
                ),
            };
            out.push(Blocker {
                gate: Gate::NewsGate,
                code,
                reason_human: reason,
                suggested_fix: code.suggested_fix().to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_filters_are_empty_and_not_stored() {
        let raw = json!({"kind": "sma_crossover", "params": {"fast": 5, "slow": 20}});
        let f = StrategyFilters::from_strategy(&raw).unwrap();
        assert!(f.is_empty());
        let mut v = raw.clone();
        f.attach(&mut v);
        assert_eq!(v, raw);
    }

    #[test]
    fn defaults_fill_in_and_round_trip() {
        let raw = json!({"kind": "sma_crossover", "params": {"fast": 5, "slow": 20},
            "filters": {"economic_calendar": {}, "macro_filter": {"series_id": "DGS10", "block_above": 5.0}}});
        let f = StrategyFilters::from_strategy(&raw).unwrap();
        let c = f.economic_calendar.clone().unwrap();
        assert_eq!(c, EconomicCalendarFilter::default());
        let m = f.macro_filter.clone().unwrap();
        assert_eq!(
            (m.series_id, m.block_above, m.max_age_days),
            (MacroSeries::Dgs10, Some(5.0), 7)
        );
        let mut v = json!({"kind": "sma_crossover", "params": {"fast": 5, "slow": 20}});
        f.attach(&mut v);
        assert_eq!(StrategyFilters::from_strategy(&v).unwrap(), f);
        // The strategy itself still parses with filters beside it.
        let config: super::super::strategy_config::StrategyConfig =
            serde_json::from_value(v).unwrap();
        assert_eq!(config.kind(), "sma_crossover");
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (
                json!({"economic_calendar": {"minutes_before": 721}}),
                "strategy.filters.economic_calendar.minutes_before",
            ),
            (
                json!({"economic_calendar": {"minutes_after": 9999}}),
                "strategy.filters.economic_calendar.minutes_after",
            ),
            (
                json!({"economic_calendar": {"impacts": ["Huge"]}}),
                "strategy.filters.economic_calendar.impacts",
            ),
            (
                json!({"economic_calendar": {"impacts": []}}),
                "strategy.filters.economic_calendar.impacts",
            ),
            (
                json!({"economic_calendar": {"countries": ["usa1"]}}),
                "strategy.filters.economic_calendar.countries",
            ),
            (
                json!({"economic_calendar": {"max_calendar_age_hours": 0}}),
                "strategy.filters.economic_calendar.max_calendar_age_hours",
            ),
            (
                json!({"macro_filter": {"series_id": "GDP", "block_above": 1.0}}),
                "strategy.filters.macro_filter.series_id",
            ),
            (
                json!({"macro_filter": {"series_id": "DGS10"}}),
                "strategy.filters.macro_filter.block_above",
            ),
            (
                json!({"macro_filter": {"series_id": "DGS10", "block_above": 1.0, "block_below": 2.0}}),
                "strategy.filters.macro_filter.block_below",
            ),
            (
                json!({"macro_filter": {"series_id": "DGS10", "block_above": 1.0, "max_age_days": 0}}),
                "strategy.filters.macro_filter.max_age_days",
            ),
            (json!({"news": {}}), "strategy.filters"),
        ];
        for (filters, want) in cases {
            let raw = json!({"kind": "sma_crossover", "params": {"fast": 5, "slow": 20}, "filters": filters});
            let err = StrategyFilters::from_strategy(&raw).unwrap_err();
            assert_eq!(err.field, want, "{filters}: {}", err.problem);
        }
    }

    #[test]
    fn no_filter_never_blocks() {
        let now = DateTime::parse_from_rfc3339("2026-12-04T13:30:00Z")
            .unwrap()
            .to_utc();
        let mut out = Vec::new();
        evaluate(&FilterReadings::none(), now, true, &mut out);
        assert!(out.is_empty());
    }
}
