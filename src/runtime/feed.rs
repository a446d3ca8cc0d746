//! The bar feed runners read from: one in-memory window per (provider, contract, timeframe).
//!
//! A runner reads the front contract of its root at the boundary (`domain::contracts`, the one
//! roll rule). At a roll it moves to the new contract's window, which the vendor fills with
//! that contract's own history, so an indicator window never splices two contracts' prices
//! (no fake jump at the roll; prices stay unadjusted).
//!
//! The first runner that needs bars up to a boundary fetches them through the provider's
//! ProviderActor (one vendor call, its usage event carries that bot's `bot_id`/`run_id`); the
//! runners that ask for the same boundary meanwhile wait on the window's lock and read what it
//! fetched. Every read is a usage event of the reading bot (`metadata.cached` says which were
//! served from the window), so each bot's proof of use is its own and vendor calls stay one per
//! symbol and bar, not one per bot.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::RuntimeHandle;
use super::providers::{BarsRequest, ProviderCallError};
use crate::domain::{bars::Bar, contracts::Contract, instruments::Symbol, timeframe::Timeframe};
use crate::integrations::http::CallContext;
use crate::store::usage_events::{UsageEvent, UsageStatus};

type Key = (String, Contract, Timeframe);

#[derive(Default)]
struct Window {
    bars: VecDeque<Bar>,
    /// `[from, until)` already asked of the vendor.
    covered: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// One runner's read: `need` bars of `timeframe` before `until`, from `provider`.
#[derive(Debug, Clone, Copy)]
pub struct FeedRequest<'a> {
    pub provider: &'a str,
    pub instrument: Symbol,
    pub timeframe: Timeframe,
    pub until: DateTime<Utc>,
    pub need: usize,
    pub ctx: CallContext,
}

#[derive(Default)]
pub struct BarFeed {
    windows: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<Window>>>>,
}

/// Most bars one window keeps (the longest strategy lookback is far below this).
const CAPACITY: usize = 2_000;

impl BarFeed {
    fn window(&self, key: Key) -> Arc<tokio::sync::Mutex<Window>> {
        let mut w = match self.windows.lock() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        };
        w.entry(key).or_default().clone()
    }

    /// The last `need` bars that opened before `until`, oldest first (fewer when the vendor
    /// has fewer, e.g. across a session halt).
    pub async fn read(
        &self,
        rt: &RuntimeHandle,
        r: &FeedRequest<'_>,
    ) -> Result<Vec<Bar>, ProviderCallError> {
        let FeedRequest {
            provider,
            instrument,
            timeframe,
            until,
            need,
            ctx,
        } = *r;
        let symbol = instrument.as_str();
        let contract = Contract::front_at(instrument, until);
        let window = self.window((provider.to_owned(), contract, timeframe));
        let mut w = window.lock().await;
        let tf = timeframe.duration();
        // Twice the bars needed, in time: room for a halt inside the lookback.
        let span = tf * i32::try_from(need.max(1) * 2).unwrap_or(i32::MAX);
        let want_from = until - span;
        let fetch = match w.covered {
            Some((from, to)) if from <= want_from && to >= until => None,
            // Contiguous with what we hold: only the new part.
            Some((from, to)) if from <= want_from && to >= want_from => Some((to, until)),
            _ => {
                w.bars.clear();
                w.covered = None;
                Some((want_from, until))
            }
        };
        let cached = fetch.is_none();
        if let Some((from, to)) = fetch {
            let request = BarsRequest {
                instrument,
                contract: Some(contract),
                timeframe,
                from,
                to,
                ctx,
            };
            let fetched = rt.fetch_bars(provider, request).await?;
            let newest = w.bars.back().map(|b| b.ts_open);
            for bar in fetched {
                if newest.is_none_or(|n| bar.ts_open > n) {
                    w.bars.push_back(bar);
                }
            }
            while w.bars.len() > CAPACITY {
                w.bars.pop_front();
            }
            let start = w.covered.map_or(from, |(f, _)| f.min(from));
            w.covered = Some((
                start.max(until - tf * i32::try_from(CAPACITY).unwrap_or(0)),
                to,
            ));
        }
        let out: Vec<Bar> = {
            let before: Vec<&Bar> = w.bars.iter().filter(|b| b.ts_open < until).collect();
            before[before.len().saturating_sub(need)..]
                .iter()
                .map(|b| (*b).clone())
                .collect()
        };
        drop(w);
        if cached {
            let mut event =
                UsageEvent::new(provider, "bars.fetch", UsageStatus::Ok, 0, rt.clock().now());
            event.bot_id = ctx.bot_id;
            event.run_id = ctx.run_id;
            event.metadata = json!({
                "cached": true, "symbol": symbol, "contract": contract.code(),
                "timeframe": timeframe.as_str(), "bars": out.len(),
            });
            rt.telemetry().usage(event);
        }
        Ok(out)
    }
}
