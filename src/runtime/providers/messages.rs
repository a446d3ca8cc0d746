//! What a provider actor is asked ([`ProviderMsg`]): the requests and the results its callers
//! wait for.

use std::time::Duration;

use ractor::RpcReplyPort;

use super::{BarsRequest, ProviderCallError};
use crate::domain::{ai::Prompt, bars::Bar, news::NewsItem};
use crate::integrations::{
    http::CallContext,
    providers::{
        VerifyReport,
        llm::{Completion, GenerateOptions},
    },
};
use crate::trace::TraceId;
use crate::{
    domain::{economic_calendar::EconomicEvent, strategy_filters::MacroSeries},
    store::macro_data::Observation,
};

pub type VerifyResult = Result<(VerifyReport, Duration), ProviderCallError>;
pub type BarsResult = Result<Vec<Bar>, ProviderCallError>;
pub type GenerateResult = Result<Completion, ProviderCallError>;
pub type NewsResult = Result<Vec<NewsItem>, ProviderCallError>;

/// One market-news page asked of Finnhub's actor (the news gate's poll).
#[derive(Debug, Clone)]
pub struct NewsRequest {
    pub category: String,
    pub min_id: i64,
    pub ctx: CallContext,
}

/// One completion asked of an LLM provider's actor.
pub struct GenerateRequest {
    pub prompt: Prompt,
    pub options: GenerateOptions,
}

/// A macro-data read (`fmp`: the economic calendar; `fred`: a series' newest observations).
#[derive(Debug, Clone)]
pub enum MacroRequest {
    Calendar {
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    },
    Fred {
        series: MacroSeries,
        limit: u32,
    },
}

#[derive(Debug, Clone)]
pub enum MacroData {
    Calendar(Vec<EconomicEvent>),
    Fred(Vec<Observation>),
}

pub type MacroResult = Result<MacroData, ProviderCallError>;

pub enum ProviderMsg {
    Verify(TraceId, RpcReplyPort<VerifyResult>),
    FetchBars(TraceId, Box<BarsRequest>, RpcReplyPort<BarsResult>),
    Generate(TraceId, Box<GenerateRequest>, RpcReplyPort<GenerateResult>),
    /// FMP's economic calendar (`fmp`) or FRED observations (`fred`).
    FetchMacro(TraceId, Box<MacroRequest>, RpcReplyPort<MacroResult>),
    /// Finnhub market news (`finnhub` only).
    FetchNews(TraceId, Box<NewsRequest>, RpcReplyPort<NewsResult>),
    /// Fault injection (tests, drills): the actor fails and is restarted by its supervisor.
    Fail(String),
}
