//! The news gate's runtime (issue 19), off the hot path:
//!
//! - **Poller** (leader only, while some running bot has `strategy.filters.news_gate`): every
//!   `TRADEPLANE_NEWS_POLL_SECS` (60) asks Finnhub for market news newer than the newest
//!   stored id (through its provider actor: breaker, usage events), stores new headlines, then
//!   classifies the unclassified ones in batches of at most 20 through the one AI path
//!   ([`RuntimeHandle::generate`], action `news_classify`: failover, budgets, usage, AI Ops; one
//!   `ai_interactions` row per batch). A headline is classified once: a class, once stored, is
//!   never asked for again. Fetch and classification outcomes go to `news_gate_status`.
//! - **Cache** (every node): every `refresh_every` (and when the local poller wrote) reads the
//!   recent risk-off headlines and the status into a [`NewsSnapshot`]; the runners read that
//!   snapshot (an `Arc` clone), never the database, per evaluation. Whether the gate can be
//!   trusted is decided here ([`news::health`]) with the runtime's clock: never fetched, a stale
//!   feed, classification failing while headlines wait, or a headline waiting past the bound
//!   all make the gate fail closed (`NEWS_GATE_UNAVAILABLE`) for new entries.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, watch};

use super::RuntimeHandle;
use super::ai::AiError;
use super::providers::{NewsRequest, ProviderMsg};
use crate::domain::explain::truncate;
use crate::domain::news::{self, BATCH, Headline, NewsBounds, NewsSnapshot};
use crate::integrations::{http::CallContext, registry::EnvMap};
use crate::store::{
    ai_interactions::{self, ANSWER_CAP, NewAiInteraction, PROMPT_CAP},
    news as store,
};
use crate::trace::TraceId;

/// The provider the gate reads.
pub const PROVIDER: &str = "finnhub";
/// The AI action name (usage events' `purpose`, `ai_interactions.action`, AI Ops).
pub const ACTION: &str = "news_classify";
/// Risk-off headlines the cache holds (newest first): far more than a day's worth.
const CACHED_RISK_OFF: i64 = 500;

#[derive(Debug, Clone)]
pub struct NewsConfig {
    /// `TRADEPLANE_NEWS_POLL_SECS` (60).
    pub poll_every: Duration,
    /// How often every node re-reads the gate's state into its cache.
    pub refresh_every: Duration,
    /// Finnhub category polled.
    pub category: String,
    /// The newest successful fetch may be this old (default 5 polls, at least 5 min).
    pub fetch_stale: Duration,
    /// A headline may wait this long for its class (default 3 polls, at least 3 min).
    pub classify_stale: Duration,
}

impl Default for NewsConfig {
    fn default() -> Self {
        NewsConfig::with_poll(Duration::from_secs(60))
    }
}

impl NewsConfig {
    pub fn with_poll(poll_every: Duration) -> Self {
        NewsConfig {
            poll_every,
            refresh_every: Duration::from_secs(2),
            category: "general".into(),
            fetch_stale: (poll_every * 5).max(Duration::from_secs(300)),
            classify_stale: (poll_every * 3).max(Duration::from_secs(180)),
        }
    }

    /// The defaults, with `TRADEPLANE_NEWS_POLL_SECS` from `env` when it is a positive number.
    pub fn from_env(env: &EnvMap) -> Self {
        match env
            .get("TRADEPLANE_NEWS_POLL_SECS")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|s| *s > 0)
        {
            Some(secs) => NewsConfig::with_poll(Duration::from_secs(secs)),
            None => NewsConfig::default(),
        }
    }

    fn bounds(&self) -> NewsBounds {
        let d = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        NewsBounds {
            fetch_stale: d(self.fetch_stale),
            classify_stale: d(self.classify_stale),
        }
    }
}

/// The snapshot the runners read, and a nudge to refresh it now.
pub struct NewsCache {
    snapshot: RwLock<Arc<NewsSnapshot>>,
    wake: Notify,
    /// Held across a refresh's reads and its `set`: two refreshes at once (the loop's and a
    /// woken or explicit one) would otherwise let the one that read first store last, putting
    /// back a state older than the database's.
    refreshing: tokio::sync::Mutex<()>,
}

impl Default for NewsCache {
    fn default() -> Self {
        NewsCache {
            snapshot: RwLock::new(Arc::new(NewsSnapshot::unknown())),
            wake: Notify::new(),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }
}

impl NewsCache {
    /// The current snapshot (cheap: one `Arc` clone under a read lock).
    pub fn snapshot(&self) -> Arc<NewsSnapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set(&self, snap: NewsSnapshot) {
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snap);
    }

    /// Refreshes the snapshot from the database now.
    pub async fn refresh(
        &self,
        pool: &PgPool,
        bounds: NewsBounds,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), sqlx::Error> {
        let _one_at_a_time = self.refreshing.lock().await;
        let status = store::status(pool).await?;
        let risk_off = store::recent_risk_off(pool, CACHED_RISK_OFF).await?;
        self.set(NewsSnapshot::new(
            risk_off,
            news::health(&status, bounds, now),
            Some(now),
        ));
        Ok(())
    }
}

/// Re-reads the gate's state every `refresh_every` (or when woken) until `stop`. A failed read
/// keeps the last snapshot only while it is younger than the fetch bound; then the gate closes.
pub async fn run_cache(
    cache: Arc<NewsCache>,
    pool: PgPool,
    clock: crate::clock::Clock,
    config: NewsConfig,
    mut stop: watch::Receiver<bool>,
) {
    let bounds = config.bounds();
    loop {
        let now = clock.now();
        if let Err(e) = cache.refresh(&pool, bounds, now).await {
            tracing::warn!(error = %e, "news gate cache refresh failed");
            let old = cache.snapshot();
            let too_old = old
                .refreshed_at
                .is_none_or(|at| now - at > bounds.fetch_stale);
            if too_old && old.unavailable.is_none() {
                cache.set(NewsSnapshot {
                    unavailable: Some(format!("the news gate state cannot be read ({e})")),
                    ..(*old).clone()
                });
            }
        }
        tokio::select! {
            () = tokio::time::sleep(config.refresh_every) => {}
            () = cache.wake.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// Whether some running bot has the news gate (the poller costs LLM tokens only then).
async fn gated_bots(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM bots WHERE status NOT IN ('STOPPED', 'KILLED') \
         AND strategy -> 'filters' -> 'news_gate' IS NOT NULL \
         AND jsonb_typeof(strategy -> 'filters' -> 'news_gate') = 'object')",
    )
    .fetch_one(pool)
    .await
}

/// The leader's poll: fetch (when due), then classify what waits. Returns whether it polled.
pub async fn poll_once(rt: &RuntimeHandle, pool: &PgPool, config: &NewsConfig) -> bool {
    if rt.integrations().client(PROVIDER).is_none() {
        return false;
    }
    let trace = TraceId::generate();
    trace
        .clone()
        .scope(async {
            fetch(rt, pool, config).await;
            classify_pending(rt, pool).await;
        })
        .await;
    true
}

async fn fetch(rt: &RuntimeHandle, pool: &PgPool, config: &NewsConfig) {
    let min_id = match store::max_id(pool, PROVIDER).await {
        Ok(id) => id.unwrap_or(0),
        Err(e) => {
            tracing::warn!(error = %e, "news: reading the newest headline id failed");
            return;
        }
    };
    let request = NewsRequest {
        category: config.category.clone(),
        min_id,
        ctx: CallContext::default(),
    };
    let trace = TraceId::current();
    let result = rt
        .provider_call(PROVIDER, move |reply| {
            ProviderMsg::FetchNews(trace, Box::new(request), reply)
        })
        .await;
    let now = rt.clock().now();
    let outcome = match result {
        Ok(items) => match store::insert_items(pool, PROVIDER, &items, now).await {
            Ok(_) => store::record_fetch(pool, now, None).await,
            Err(e) => Err(e),
        },
        Err(e) => {
            let why = format!("{}: {e}", e.code());
            tracing::warn!(error = %why, "news: the Finnhub fetch failed");
            store::record_fetch(pool, now, Some(&why)).await
        }
    };
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "news: storing the fetch failed");
    }
}

/// Classifies unclassified headlines, a batch per LLM call, until none wait or a call fails.
pub async fn classify_pending(rt: &RuntimeHandle, pool: &PgPool) {
    // Bounded: a batch whose ids the model left out is asked again at the next poll.
    for _ in 0..10 {
        let batch = match store::unclassified(pool, PROVIDER, BATCH as i64).await {
            Ok(b) if b.is_empty() => return,
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "news: reading unclassified headlines failed");
                return;
            }
        };
        match classify_batch(rt, pool, &batch).await {
            Ok(set) if set > 0 => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "news: classification failed");
                return;
            }
        }
    }
}

async fn classify_batch(
    rt: &RuntimeHandle,
    pool: &PgPool,
    batch: &[Headline],
) -> Result<u64, sqlx::Error> {
    let prompt = news::classify_prompt(batch);
    let stored_prompt = truncate(
        &format!("[system]\n{}\n[user]\n{}", prompt.system, prompt.user),
        PROMPT_CAP,
    );
    let trace_id = TraceId::current().to_string();
    let now = rt.clock().now();
    let answer = rt.generate(ACTION, prompt, CallContext::default()).await;
    let (row, result) = match answer {
        Ok(answer) => {
            let c = &answer.completion;
            let parsed = news::parse_classes(&c.text, batch);
            let row = NewAiInteraction {
                action: ACTION,
                bot_id: None,
                status: if parsed.is_ok() { "OK" } else { "REFUSED" },
                provider_id: Some(c.provider_id.to_owned()),
                model: Some(c.model.clone()),
                error_code: parsed
                    .as_ref()
                    .err()
                    .map(|_| "NEWS_CLASSIFY_UNPARSEABLE".into()),
                prompt: stored_prompt,
                answer: Some(truncate(&c.text, ANSWER_CAP)),
                cited_trace_ids: Vec::new(),
                attempts: serde_json::to_value(&answer.attempts).unwrap_or_default(),
                input_tokens: i64::try_from(c.input_tokens).ok(),
                output_tokens: i64::try_from(c.output_tokens).ok(),
                cost_usd: c.cost,
                trace_id: trace_id.clone(),
            };
            let model = format!("{}/{}", c.provider_id, c.model);
            (row, parsed.map(|classes| (classes, model)))
        }
        Err(err) => {
            let (code, attempts) = match &err {
                AiError::Unavailable { attempts, .. } => ("AI_PROVIDER_UNAVAILABLE", attempts),
                AiError::BudgetExceeded { attempts, .. } => ("AI_BUDGET_EXCEEDED", attempts),
            };
            let row = NewAiInteraction {
                action: ACTION,
                bot_id: None,
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
                trace_id: trace_id.clone(),
            };
            let failed = news::UnparseableAnswer(format!("{code}: {err}"));
            (row, Err(failed))
        }
    };
    ai_interactions::insert(pool, &row, now).await?;
    match result {
        Ok((classes, model)) => {
            let set = store::set_classes(pool, PROVIDER, &classes, now, &model, &trace_id).await?;
            store::record_classify(pool, now, None).await?;
            Ok(set)
        }
        Err(news::UnparseableAnswer(why)) => {
            let code = row.error_code.as_deref().unwrap_or("NEWS_CLASSIFY_FAILED");
            store::record_classify(pool, now, Some((code, &why))).await?;
            tracing::warn!(code, error = %why, "news: a classification batch failed");
            Ok(0)
        }
    }
}

/// The leader-only poll loop: wakes every `min(poll_every, 5 s)`, polls when a running bot has
/// the gate and the last poll is `poll_every` old, then nudges the local cache.
pub async fn run_poller(
    rt: RuntimeHandle,
    pool: PgPool,
    config: NewsConfig,
    cache: Arc<NewsCache>,
    mut stop: watch::Receiver<bool>,
) {
    let leadership = rt.leadership();
    let tick = config.poll_every.min(Duration::from_secs(5));
    let mut last: Option<tokio::time::Instant> = None;
    loop {
        let due = last.is_none_or(|t| t.elapsed() >= config.poll_every);
        if due && leadership.is_leader() {
            match gated_bots(&pool).await {
                Ok(true) => {
                    if poll_once(&rt, &pool, &config).await {
                        last = Some(tokio::time::Instant::now());
                        cache.wake.notify_one();
                    }
                }
                Ok(false) => last = None,
                Err(e) => tracing::warn!(error = %e, "news: reading the gated bots failed"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
    }
}

impl RuntimeHandle {
    /// The news gate's current snapshot (what the runners read).
    pub fn news_snapshot(&self) -> Arc<NewsSnapshot> {
        self.inner.news.snapshot()
    }

    /// How old the newest fetch may be before the gate is unavailable (a backtest's replay
    /// holds its range to the same bound).
    pub fn news_fetch_stale(&self) -> chrono::Duration {
        self.inner.news_config.bounds().fetch_stale
    }

    /// Refreshes this node's news snapshot from the database now (tests, drills).
    pub async fn refresh_news(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        self.inner
            .news
            .refresh(pool, self.inner.news_config.bounds(), self.clock().now())
            .await
    }
}
