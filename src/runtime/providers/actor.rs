//! The provider actor ([`ProviderActor`]): admits each request in order, then runs the vendor
//! call in its own task under the call time box and settles its permit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use sqlx::PgPool;
use tradeplane_actors::Permit;

use super::verdict::{Verdict, verdict_of};
use super::{MacroData, MacroRequest, ProviderCallError, ProviderMsg, ProviderShared};
use crate::integrations::{
    bars::{self, BarsError},
    http::CallContext,
    outcome::{Failure, codes},
    providers::{self, finnhub_news, llm, macro_data},
    registry::Category,
};
use crate::runtime::InjectedFailure;
use crate::store::usage_events::UsageStatus;
use crate::trace::TraceId;

/// The call's permit and reply port, or `None` once the caller has been answered with the
/// breaker's refusal.
async fn admitted_or_refuse<T>(
    trace: TraceId,
    admitted: impl std::future::Future<Output = Result<Permit, ProviderCallError>>,
    reply: RpcReplyPort<Result<T, ProviderCallError>>,
) -> Option<(Permit, RpcReplyPort<Result<T, ProviderCallError>>)> {
    match trace.scope(admitted).await {
        Ok(permit) => Some((permit, reply)),
        Err(e) => {
            let _ = reply.send(Err(e));
            None
        }
    }
}

/// Runs one plain vendor read (no cache, no database) under the call timeout and settles its
/// permit: a vendor failure counts by its outcome, a timeout as a failure.
fn spawn_vendor_read<T: Send + 'static>(
    state: &ProviderArgs,
    trace: TraceId,
    permit: Permit,
    call: impl std::future::Future<Output = Result<T, Failure>> + Send + 'static,
    timeout_message: &'static str,
    reply: RpcReplyPort<Result<T, ProviderCallError>>,
) {
    let (shared, limit) = (state.shared.clone(), state.call_timeout);
    tokio::spawn(trace.scope(async move {
        let (result, verdict, code) = match tokio::time::timeout(limit, call).await {
            Ok(Ok(data)) => (Ok(data), Verdict::Ok, None),
            Ok(Err(f)) => {
                let verdict = verdict_of(f.outcome, Some(f.code));
                let code = (f.code, f.message.clone());
                let provider = shared.id().to_owned();
                (
                    Err(ProviderCallError::Vendor {
                        provider,
                        failure: f,
                    }),
                    verdict,
                    Some(code),
                )
            }
            Err(_) => (
                Err(ProviderCallError::Timeout(shared.id().to_owned())),
                Verdict::Failed,
                Some((codes::TIMEOUT, timeout_message.to_owned())),
            ),
        };
        let error = code.as_ref().map(|(c, m)| (*c, m.as_str()));
        shared.settle(permit, verdict, error, move || {
            let _ = reply.send(result);
        });
    }));
}

pub struct ProviderArgs {
    pub shared: Arc<ProviderShared>,
    pub pool: PgPool,
    pub call_timeout: Duration,
}

pub struct ProviderActor;

impl Actor for ProviderActor {
    type Msg = ProviderMsg;
    type State = ProviderArgs;
    type Arguments = ProviderArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ProviderArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Admission happens here, in order; the call itself runs in its own task so one slow
        // vendor request does not hold up the next one (the call path's limiter paces them).
        match msg {
            ProviderMsg::Verify(trace, reply) => {
                let permit = match trace
                    .clone()
                    .scope(state.shared.admit(
                        "verify",
                        UsageStatus::Verify,
                        CallContext::default(),
                    ))
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return Ok(());
                    }
                };
                let (shared, limit) = (state.shared.clone(), state.call_timeout);
                tokio::spawn(trace.scope(async move {
                    let started = Instant::now();
                    match tokio::time::timeout(limit, providers::verify(&shared.client)).await {
                        Ok(report) => {
                            let verdict = verdict_of(report.outcome, report.error_code.as_deref());
                            let error = report
                                .error_code
                                .clone()
                                .map(|c| (c, report.message.clone()));
                            let took = started.elapsed();
                            let error = error.as_ref().map(|(c, m)| (c.as_str(), m.as_str()));
                            shared.settle(permit, verdict, error, move || {
                                let _ = reply.send(Ok((report, took)));
                            });
                        }
                        Err(_) => {
                            let id = shared.id().to_owned();
                            shared.settle(
                                permit,
                                Verdict::Failed,
                                Some((codes::TIMEOUT, "the verify did not finish in time")),
                                move || {
                                    let _ = reply.send(Err(ProviderCallError::Timeout(id)));
                                },
                            );
                        }
                    }
                }));
            }
            ProviderMsg::FetchBars(trace, req, reply) => {
                if !bars::supports(state.shared.id()) {
                    let _ =
                        reply.send(Err(BarsError::Unsupported(state.shared.id().into()).into()));
                    return Ok(());
                }
                let permit = match trace
                    .clone()
                    .scope(
                        state
                            .shared
                            .admit("bars.fetch", UsageStatus::Error, req.ctx),
                    )
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return Ok(());
                    }
                };
                let (shared, pool, limit) =
                    (state.shared.clone(), state.pool.clone(), state.call_timeout);
                tokio::spawn(trace.scope(async move {
                    let fetch = bars::fetch_bars(&shared.client, &pool, &req);
                    let result = match tokio::time::timeout(limit, fetch).await {
                        Ok(r) => r.map_err(ProviderCallError::from),
                        Err(_) => Err(ProviderCallError::Timeout(shared.id().to_owned())),
                    };
                    let (verdict, error) = match &result {
                        Ok(_) => (Verdict::Ok, None),
                        Err(ProviderCallError::Bars(BarsError::Provider(f))) => (
                            verdict_of(f.outcome, Some(f.code)),
                            Some((f.code, f.message.clone())),
                        ),
                        Err(ProviderCallError::Timeout(_)) => (
                            Verdict::Failed,
                            Some((
                                codes::TIMEOUT,
                                "the bars fetch did not finish in time".into(),
                            )),
                        ),
                        // The vendor answered; our own database failed.
                        Err(_) => (Verdict::Neutral, None),
                    };
                    let error = error.as_ref().map(|(c, m)| (*c, m.as_str()));
                    shared.settle(permit, verdict, error, move || {
                        let _ = reply.send(result);
                    });
                }));
            }
            ProviderMsg::Generate(trace, req, reply) => {
                if state.shared.client.config.spec.category != Category::Llm {
                    let _ = reply.send(Err(ProviderCallError::NotAnLlm(state.shared.id().into())));
                    return Ok(());
                }
                let permit = match trace
                    .clone()
                    .scope(
                        state
                            .shared
                            .admit("generate", UsageStatus::Error, req.options.ctx),
                    )
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return Ok(());
                    }
                };
                let (shared, limit) = (state.shared.clone(), state.call_timeout);
                tokio::spawn(trace.scope(async move {
                    let call = llm::generate(&shared.client, &req.prompt, &req.options);
                    let (result, verdict, code) = match tokio::time::timeout(limit, call).await {
                        Ok(Ok(done)) => (Ok(done), Verdict::Ok, None),
                        // A refusal is about the prompt, not the provider's health.
                        Ok(Err(f)) if f.code == codes::CONTENT_REFUSED => {
                            let code = (f.code, f.message.clone());
                            let provider = shared.id().to_owned();
                            (
                                Err(ProviderCallError::Vendor {
                                    provider,
                                    failure: f,
                                }),
                                Verdict::Neutral,
                                Some(code),
                            )
                        }
                        Ok(Err(f)) => {
                            let (verdict, code) = (
                                verdict_of(f.outcome, Some(f.code)),
                                (f.code, f.message.clone()),
                            );
                            let provider = shared.id().to_owned();
                            (
                                Err(ProviderCallError::Vendor {
                                    provider,
                                    failure: f,
                                }),
                                verdict,
                                Some(code),
                            )
                        }
                        Err(_) => (
                            Err(ProviderCallError::Timeout(shared.id().to_owned())),
                            Verdict::Failed,
                            Some((codes::TIMEOUT, "the LLM did not answer in time".to_owned())),
                        ),
                    };
                    let error = code.as_ref().map(|(c, m)| (*c, m.as_str()));
                    shared.settle(permit, verdict, error, move || {
                        let _ = reply.send(result);
                    });
                }));
            }
            ProviderMsg::FetchMacro(trace, req, reply) => {
                let id = state.shared.id();
                let action = match (&*req, id) {
                    (MacroRequest::Calendar { .. }, "fmp") => "macro.economic_calendar",
                    (MacroRequest::Fred { .. }, "fred") => "macro.fred_observations",
                    _ => {
                        let _ = reply.send(Err(ProviderCallError::NotMacro(id.into())));
                        return Ok(());
                    }
                };
                let admitted =
                    state
                        .shared
                        .admit(action, UsageStatus::Error, CallContext::default());
                let Some((permit, reply)) =
                    admitted_or_refuse(trace.clone(), admitted, reply).await
                else {
                    return Ok(());
                };
                let shared = state.shared.clone();
                let call = async move {
                    let (client, ctx) = (&shared.client, CallContext::default());
                    match *req {
                        MacroRequest::Calendar { from, to } => {
                            macro_data::fetch_fmp_calendar(client, from, to, ctx)
                                .await
                                .map(MacroData::Calendar)
                        }
                        MacroRequest::Fred { series, limit } => {
                            macro_data::fetch_fred_observations(client, series, limit, ctx)
                                .await
                                .map(MacroData::Fred)
                        }
                    }
                };
                spawn_vendor_read(
                    state,
                    trace,
                    permit,
                    call,
                    "the macro-data read did not finish in time",
                    reply,
                );
            }
            ProviderMsg::FetchNews(trace, req, reply) => {
                if state.shared.id() != "finnhub" {
                    let _ = reply.send(Err(ProviderCallError::NotConfigured(format!(
                        "market news on {}",
                        state.shared.id()
                    ))));
                    return Ok(());
                }
                let admitted =
                    state
                        .shared
                        .admit(finnhub_news::ACTION, UsageStatus::Error, req.ctx);
                let Some((permit, reply)) =
                    admitted_or_refuse(trace.clone(), admitted, reply).await
                else {
                    return Ok(());
                };
                let shared = state.shared.clone();
                let call = async move {
                    finnhub_news::market_news(&shared.client, &req.category, req.min_id, req.ctx)
                        .await
                };
                spawn_vendor_read(
                    state,
                    trace,
                    permit,
                    call,
                    "the news fetch did not finish in time",
                    reply,
                );
            }
            ProviderMsg::Fail(reason) => return Err(Box::new(InjectedFailure(reason))),
        }
        Ok(())
    }
}
