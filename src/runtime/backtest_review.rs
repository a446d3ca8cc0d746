//! Review a backtest or a sweep (the `backtest_review` AI action): the overfitting checks of
//! `domain::backtest_review` computed from the stored results and bars (no LLM), then a
//! plain-language summary of those checks from the first LLM in the operator's order that
//! answers ([`RuntimeHandle::generate`]). The prompt, the answer (or the refusal) and the
//! checks are stored, truncated, in `ai_interactions` with the subject they were about.
//!
//! Refuses alone: no usable LLM is `AI_PROVIDER_UNAVAILABLE` (a spent budget
//! `AI_BUDGET_EXCEEDED`), and the refusal still carries the checks.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::RuntimeHandle;
use super::ai::{AiAttempt, AiError};
use crate::domain::backtest::sweep::{Figures, SortKey, rank};
use crate::domain::backtest_metrics::Metrics;
use crate::domain::backtest_review::{
    Check, CheckCode, CombinationCount, ReviewInput, TradeCount, flags, log_returns, money, num,
    review, review_prompt,
};
use crate::domain::explain::truncate;
use crate::domain::instruments::Symbol;
use crate::domain::timeframe::Timeframe;
use crate::integrations::http::CallContext;
use crate::store::{
    ai_interactions::{self, ANSWER_CAP, AiSubject, NewAiInteraction, PROMPT_CAP},
    backtests as store_backtests,
    jobs::JobStatus,
    market_bars,
};
use crate::trace::TraceId;

/// The AI action's name (usage events, AI Ops, audit rows).
pub const ACTION: &str = "backtest_review";

/// What was reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Backtest,
    Sweep,
}

impl Subject {
    pub const fn as_str(self) -> &'static str {
        match self {
            Subject::Backtest => "backtest",
            Subject::Sweep => "sweep",
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A review's answer: the checks (computed without the LLM) and the LLM's summary of them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BacktestReview {
    pub subject: Subject,
    pub subject_id: Uuid,
    /// The flagged checks' codes.
    pub flags: Vec<CheckCode>,
    /// Every check, flagged or not, with the figures it used.
    pub checks: Vec<Check>,
    /// The LLM's plain-language summary of the checks.
    pub summary: String,
    pub provider_id: String,
    pub model: String,
    /// Every provider tried, in order (a failover shows here).
    pub attempts: Vec<AiAttempt>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[schema(value_type = Option<String>)]
    pub cost_usd: Option<Decimal>,
    /// The stored audit row (`ai_interactions.id`).
    pub interaction_id: Uuid,
    pub generated_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no backtest with id {0}")]
    BacktestNotFound(Uuid),
    #[error("no sweep with id {0}")]
    SweepNotFound(Uuid),
    /// The subject has no results to review yet (or failed).
    #[error("{subject} {id} is {status}: only a SUCCEEDED one has results to review")]
    NotFinished {
        subject: Subject,
        id: Uuid,
        status: String,
    },
    /// No LLM answered; the checks stand.
    #[error("{error}")]
    Ai {
        error: AiError,
        flags: Vec<CheckCode>,
        checks: Vec<Check>,
        interaction_id: Uuid,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The front-month closes over `[from, to)` as stored, as log returns (rolls left out).
async fn range_returns(
    pool: &PgPool,
    symbol: Symbol,
    timeframe: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    own_provider: Option<&str>,
) -> Result<Vec<f64>, sqlx::Error> {
    const PAGE: i64 = 50_000;
    let mut providers: Vec<&str> = own_provider.into_iter().collect();
    for p in crate::integrations::bars::PROVIDERS {
        if !providers.contains(&p) {
            providers.push(p);
        }
    }
    let segments = crate::domain::contracts::front_segments(symbol, from, to);
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let page =
            market_bars::front_series(pool, symbol, timeframe, &segments, &providers, after, PAGE)
                .await?;
        let full = page.len() as i64 == PAGE;
        after = page.last().map(|r| r.ts);
        rows.extend(page.into_iter().map(|r| (r.contract, r.close)));
        if !full {
            break;
        }
    }
    Ok(log_returns(rows.iter().map(|(c, p)| (c.as_str(), *p))))
}

fn metrics(v: Option<&Value>) -> Option<Metrics> {
    serde_json::from_value(v?.clone()).ok()
}

fn figures_of(m: &Metrics) -> Figures {
    Figures {
        net_pnl: m.net_pnl,
        profit_factor: m.profit_factor,
        trades: m.trades,
        max_drawdown_pct: m.max_drawdown_pct,
        sharpe: m.sharpe,
    }
}

/// What the LLM is told besides the checks, and the checks' input.
struct Material {
    subject_label: String,
    headline: Vec<(String, String)>,
    input: ReviewInput,
    bot_id: Option<Uuid>,
}

async fn backtest_material(pool: &PgPool, id: Uuid) -> Result<Material, ReviewError> {
    let bt = store_backtests::get(pool, id)
        .await?
        .ok_or(ReviewError::BacktestNotFound(id))?;
    let m = metrics(bt.metrics.as_ref()).filter(|_| bt.status == JobStatus::Succeeded);
    let Some(m) = m else {
        return Err(ReviewError::NotFinished {
            subject: Subject::Backtest,
            id,
            status: bt.status.as_str().to_owned(),
        });
    };
    let returns = range_returns(
        pool,
        bt.symbol,
        bt.timeframe,
        bt.from,
        bt.to,
        bt.provider_id.as_deref(),
    )
    .await?;
    // A walk-forward child compares with its other window.
    let walk_forward = match (
        bt.sweep_id,
        bt.sweep_combination,
        bt.sweep_fold,
        bt.sweep_window.as_deref(),
    ) {
        (Some(sweep), Some(combo), Some(fold), Some(w @ ("IN_SAMPLE" | "OUT_OF_SAMPLE"))) => {
            let other = if w == "IN_SAMPLE" {
                "OUT_OF_SAMPLE"
            } else {
                "IN_SAMPLE"
            };
            let sibling =
                store_backtests::sweep_sibling_metrics(pool, sweep, combo, fold, other).await?;
            metrics(sibling.as_ref()).map(|s| {
                if w == "IN_SAMPLE" {
                    (figures_of(&m), figures_of(&s))
                } else {
                    (figures_of(&s), figures_of(&m))
                }
            })
        }
        _ => None,
    };
    let combinations = match bt.sweep_id {
        Some(sweep_id) => {
            let sweep = crate::store::sweeps::get(pool, sweep_id).await?;
            CombinationCount {
                combinations: sweep.map_or(0, |s| u64::try_from(s.combinations).unwrap_or(0)),
                source: "the combinations of the sweep this backtest belongs to".into(),
            }
        }
        None => CombinationCount {
            combinations: u64::try_from(
                store_backtests::distinct_strategies_tried(
                    pool,
                    &bt.strategy_kind,
                    bt.symbol,
                    bt.timeframe,
                    bt.created_at,
                )
                .await?,
            )
            .unwrap_or(0),
            source: format!(
                "distinct {} parameter sets backtested on {} {} up to this one",
                bt.strategy_kind,
                bt.symbol.as_str(),
                bt.timeframe.as_str()
            ),
        },
    };
    let headline = vec![
        (
            "strategy".into(),
            format!("{} {}", bt.strategy_kind, bt.strategy_params),
        ),
        (
            "market".into(),
            format!(
                "{} {} from {} to {}",
                bt.symbol.as_str(),
                bt.timeframe.as_str(),
                bt.from.to_rfc3339(),
                bt.to.to_rfc3339()
            ),
        ),
        ("net PnL".into(), format!("{} USD", money(m.net_pnl))),
        ("profit factor".into(), num(m.profit_factor)),
        ("Sharpe".into(), num(m.sharpe)),
        (
            "max drawdown".into(),
            format!("{}%", num(Some(m.max_drawdown_pct))),
        ),
    ];
    Ok(Material {
        subject_label: format!("backtest {id}"),
        headline,
        input: ReviewInput {
            trades: Some(TradeCount {
                trades: m.trades,
                source: "the backtest".into(),
            }),
            returns,
            walk_forward,
            combinations,
        },
        bot_id: bt.bot_id,
    })
}

async fn sweep_material(pool: &PgPool, id: Uuid) -> Result<Material, ReviewError> {
    let view = match super::sweeps::view(pool, id, None, None).await {
        Ok(v) => v,
        Err(super::sweeps::SweepError::NotFound(_)) => {
            return Err(ReviewError::SweepNotFound(id));
        }
        Err(super::sweeps::SweepError::Backtest(super::backtests::BacktestError::Database(e))) => {
            return Err(e.into());
        }
        Err(e) => {
            return Err(ReviewError::Database(sqlx::Error::Protocol(e.to_string())));
        }
    };
    let sweep = &view.sweep;
    if sweep.status != JobStatus::Succeeded {
        return Err(ReviewError::NotFinished {
            subject: Subject::Sweep,
            id,
            status: sweep.status.as_str().to_owned(),
        });
    }
    let returns = range_returns(
        pool,
        sweep.symbol,
        sweep.timeframe,
        sweep.from,
        sweep.to,
        None,
    )
    .await?;
    // The result one would pick: the first by the objective (the least drawdown first for a
    // drawdown objective, as the walk-forward picks).
    let objective = SortKey::parse(&sweep.objective).unwrap_or(SortKey::NetPnl);
    let mut ranking = view.ranking.clone();
    rank(&mut ranking, objective, objective != SortKey::MaxDrawdown);
    let (trades, walk_forward) = match &view.walk_forward {
        Some(folds) => {
            let is: Vec<Figures> = folds.iter().map(|f| f.in_sample.clone()).collect();
            let wf = Figures::combine(&is).zip(view.walk_forward_out_of_sample.clone());
            let trades = view
                .walk_forward_out_of_sample
                .as_ref()
                .map(|oos| TradeCount {
                    trades: oos.trades,
                    source:
                        "the walk-forward's out-of-sample windows (every fold's chosen combination)"
                            .into(),
                });
            (trades, wf)
        }
        None => {
            let best = ranking
                .iter()
                .find_map(|r| r.in_sample.as_ref())
                .map(|f| TradeCount {
                    trades: f.trades,
                    source: format!("the best combination by {}", sweep.objective),
                });
            (best, None)
        }
    };
    let best = ranking.first();
    let mut headline = vec![
        (
            "strategy".into(),
            format!("{} sweeping {}", sweep.strategy_kind, sweep.space),
        ),
        (
            "market".into(),
            format!(
                "{} {} from {} to {}",
                sweep.symbol.as_str(),
                sweep.timeframe.as_str(),
                sweep.from.to_rfc3339(),
                sweep.to.to_rfc3339()
            ),
        ),
        ("objective".into(), sweep.objective.clone()),
    ];
    if let Some(b) = best {
        headline.push((
            "best combination".into(),
            serde_json::to_string(&b.params).unwrap_or_default(),
        ));
        if let Some(f) = &b.in_sample {
            headline.push(("its net PnL".into(), format!("{} USD", money(f.net_pnl))));
        }
    }
    Ok(Material {
        subject_label: format!("sweep {id}"),
        headline,
        input: ReviewInput {
            trades,
            returns,
            walk_forward,
            combinations: CombinationCount {
                combinations: u64::try_from(sweep.combinations).unwrap_or(0),
                source: "the sweep's valid combinations".into(),
            },
        },
        bot_id: sweep.bot_id,
    })
}

impl RuntimeHandle {
    /// Reviews `id` (a backtest or a sweep): the checks, then the LLM's summary of them.
    pub async fn review_backtest(
        &self,
        pool: &PgPool,
        subject: Subject,
        id: Uuid,
    ) -> Result<BacktestReview, ReviewError> {
        let material = match subject {
            Subject::Backtest => backtest_material(pool, id).await?,
            Subject::Sweep => sweep_material(pool, id).await?,
        };
        let now = self.clock().now();
        let checks = review(&material.input);
        let flagged = flags(&checks);
        let findings = serde_json::json!({ "flags": flagged, "checks": checks });
        let mut prompt = review_prompt(&material.subject_label, &material.headline, &checks);
        let redactor = self.integrations().redactor();
        prompt.system = redactor.redact(&prompt.system);
        prompt.user = redactor.redact(&prompt.user);
        let stored_prompt = truncate(
            &format!("[system]\n{}\n[user]\n{}", prompt.system, prompt.user),
            PROMPT_CAP,
        );
        let ctx = CallContext {
            bot_id: material.bot_id,
            run_id: None,
        };
        let trace_id = TraceId::current().to_string();
        let about = || AiSubject {
            kind: subject.as_str(),
            id,
            findings: &findings,
        };
        match self.generate(ACTION, prompt, ctx).await {
            Ok(answer) => {
                let c = &answer.completion;
                let row = NewAiInteraction {
                    action: ACTION,
                    bot_id: material.bot_id,
                    status: "OK",
                    provider_id: Some(c.provider_id.to_owned()),
                    model: Some(c.model.clone()),
                    error_code: None,
                    prompt: stored_prompt,
                    answer: Some(truncate(&c.text, ANSWER_CAP)),
                    cited_trace_ids: Vec::new(),
                    attempts: serde_json::to_value(&answer.attempts).unwrap_or_default(),
                    input_tokens: i64::try_from(c.input_tokens).ok(),
                    output_tokens: i64::try_from(c.output_tokens).ok(),
                    cost_usd: c.cost,
                    trace_id,
                };
                let interaction_id =
                    ai_interactions::insert_about(pool, &row, Some(about()), now).await?;
                Ok(BacktestReview {
                    subject,
                    subject_id: id,
                    flags: flagged,
                    checks,
                    summary: c.text.clone(),
                    provider_id: c.provider_id.to_owned(),
                    model: c.model.clone(),
                    attempts: answer.attempts,
                    input_tokens: c.input_tokens,
                    output_tokens: c.output_tokens,
                    cost_usd: c.cost,
                    interaction_id,
                    generated_at: now,
                })
            }
            Err(error) => {
                let (code, attempts) = match &error {
                    AiError::Unavailable { attempts, .. } => ("AI_PROVIDER_UNAVAILABLE", attempts),
                    AiError::BudgetExceeded { attempts, .. } => ("AI_BUDGET_EXCEEDED", attempts),
                };
                let row = NewAiInteraction {
                    action: ACTION,
                    bot_id: material.bot_id,
                    status: "REFUSED",
                    provider_id: None,
                    model: None,
                    error_code: Some(code.to_owned()),
                    prompt: stored_prompt,
                    answer: None,
                    cited_trace_ids: Vec::new(),
                    attempts: serde_json::to_value(attempts).unwrap_or_default(),
                    input_tokens: None,
                    output_tokens: None,
                    cost_usd: None,
                    trace_id,
                };
                let interaction_id =
                    ai_interactions::insert_about(pool, &row, Some(about()), now).await?;
                Err(ReviewError::Ai {
                    error,
                    flags: flagged,
                    checks,
                    interaction_id,
                })
            }
        }
    }
}
