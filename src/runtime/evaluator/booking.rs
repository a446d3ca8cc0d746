//! What an evaluation writes: a simulated fill booked to the ledger, a decision's order
//! and its trace (once per idempotency key; LIVE through the account's write-ahead and the
//! send), and no-trade traces queued to the batch writer (a new row, or a fold into the
//! previous one).

use serde_json::{Value, json};
use uuid::Uuid;

use super::origin::{origin_matches, origin_of_parts, variables_with_origin};
use super::{BotEvaluator, Outcome, Trading, working_order};
use crate::bus::{TraceKind, TraceSummary};
use crate::domain::{
    engine::{Event, OrderUpdate},
    evaluation::{Decision, NoTrade, TraceBlocker},
    execution::{ExecutionOutcome, OrderStatus, SimFill},
};
use crate::runtime::{account_risk, trace_writer::NoTradeOp};
use crate::store::{
    bot_leases::Fence,
    fills,
    orders::{BrokerRoute, NewOrder, Placed},
    paper_batch::{PaperFill, PaperPlace},
    traces::{DecisionTrace, NewDecisionTrace, NoTradeTrace},
};
use crate::trace::TraceId;

impl BotEvaluator {
    /// Books a simulated fill of the working order; the engine applies it once it is booked.
    pub(super) async fn book_fill(
        &mut self,
        trading: &Trading,
        order_id: Uuid,
        fill: SimFill,
        fence: &Fence,
    ) -> Result<(), sqlx::Error> {
        let Some(order) = self.working.take().filter(|o| o.id == order_id) else {
            tracing::error!(bot = %self.bot_id, %order_id, "fill for an order the runner does not hold");
            return Ok(());
        };
        let (before, after, realized) = self.engine.preview_fill(&fill);
        let booked = trading
            .paper
            .fill(PaperFill {
                fence: fence.clone(),
                order,
                fill: fill.clone(),
                before,
                after,
                realized,
            })
            .await?;
        if let fills::Booked::Filled { .. } = booked {
            self.engine.handle(Event::Fill(fill));
        }
        Ok(())
    }

    /// Places the decision's order with its decision trace (once per idempotency key).
    pub(super) async fn place(
        &mut self,
        trading: &Trading,
        d: Box<Decision>,
        trace: &TraceId,
        fence: &Fence,
    ) -> Result<(Outcome, OrderUpdate), sqlx::Error> {
        // The decision's stamp (the order's `created_at`): taken as the engine's effect is
        // performed, so a LIVE order's decision → wire time (docs/benchmarks.md) counts
        // everything of ours, the write-ahead included.
        let now = trading.clock.now();
        let s = self.engine.settings();
        let status = match d.execution {
            ExecutionOutcome::Send { .. } => OrderStatus::Sending,
            // The engine evaluates without a next bar: PAPER and SHADOW (hypothetically) await it.
            ExecutionOutcome::AwaitingNextBar
            | ExecutionOutcome::Filled(_)
            | ExecutionOutcome::NoFill { .. } => OrderStatus::Working,
        };
        let mut risk_snapshot = d.risk_snapshot();
        if let Value::Object(m) = &mut risk_snapshot {
            m.insert("execution".into(), json!(d.execution));
            m.insert("tier".into(), json!(self.tier.as_str()));
        }
        let key = d.order.idempotency_key.clone();
        let (side, quantity) = (d.order.side, d.order.quantity);
        let order = NewOrder {
            run_id: Some(self.run_id),
            decision_bar_at: Some(d.order.bar_ts),
            reference_price: Some(d.order.reference_price),
            ..NewOrder::market(
                self.bot_id,
                s.spec.symbol,
                key,
                side,
                quantity,
                s.stage,
                status,
            )
        };
        let decision = NewDecisionTrace {
            bot_id: self.bot_id,
            run_id: Some(self.run_id),
            trade_log_id: None,
            decision_type: d.decision_type,
            reason_human: d.reason_human.clone(),
            reason_code: d.reason_code.clone(),
            signals: d.signals.to_json(),
            variables_snapshot: self.variables_json(&d.variables_snapshot),
            confidence: d.confidence,
            expected_value: d.expected_value,
            risk_snapshot,
            trace_id: trace.clone(),
        };
        let live = status == OrderStatus::Sending;
        let session = trading.brokers.for_live();
        let account = session
            .as_ref()
            .and_then(|s| s.account())
            .map(|a| a.id)
            .unwrap_or_default();
        let route = session.as_ref().filter(|_| live).map(|s| BrokerRoute {
            broker: s.vendor().id(),
            account: &account,
        });
        let placed = match route {
            // LIVE: the account check again and the write-ahead, under the account's lock.
            Some(route) => {
                match account_risk::place_live(
                    &trading.live_lane,
                    fence,
                    order,
                    decision,
                    route,
                    now,
                )
                .await?
                {
                    account_risk::LivePlaced::Placed(p) => *p,
                    account_risk::LivePlaced::Refused(blockers) => {
                        let update = OrderUpdate::Refused {
                            blocked_by: blockers.iter().map(TraceBlocker::from).collect(),
                            decision: d,
                        };
                        let gate_blocked = true;
                        return Ok((Outcome::Suppressed { gate_blocked }, update));
                    }
                }
            }
            None => {
                let fence = fence.clone();
                let p = PaperPlace {
                    fence,
                    order,
                    trace: decision,
                    now,
                };
                trading.paper.place(p).await?
            }
        };
        match placed {
            Placed::New { order, trace: row } if order.status == OrderStatus::Sending => {
                self.decided(trading, &row);
                let working = match session {
                    Some(session) => self.send_live(trading, &session, order, fence).await?,
                    // The session went away between the tick and the send: never sent.
                    None => {
                        let why = "no logged-in broker session at send time";
                        self.refused(trading, fence, &order, why, super::live::UNAVAILABLE)
                            .await?;
                        None
                    }
                };
                Ok((Outcome::Decided, OrderUpdate::Placed { working }))
            }
            Placed::New { order, trace: row } => {
                self.decided(trading, &row);
                let working = (order.status == OrderStatus::Working).then(|| working_order(&order));
                if working.is_some() {
                    self.working = Some(order);
                }
                Ok((Outcome::Decided, OrderUpdate::Placed { working }))
            }
            Placed::Existing(order) => {
                let working = (matches!(order.status, OrderStatus::Working | OrderStatus::Sending)
                    && self.working.is_none())
                .then(|| working_order(&order));
                if working.is_some() {
                    self.working = Some(order.clone());
                }
                let update = OrderUpdate::AlreadyPlaced {
                    decision: d,
                    order_id: order.id,
                    status: order.status,
                    working,
                };
                Ok((
                    Outcome::Suppressed {
                        gate_blocked: false,
                    },
                    update,
                ))
            }
        }
    }

    /// A decision's trace is stored: it goes live, and the next no-trade starts a new row.
    fn decided(&mut self, trading: &Trading, row: &DecisionTrace) {
        trading.bus.publish_trace(TraceSummary {
            bot_id: self.bot_id,
            run_id: Some(self.run_id),
            kind: TraceKind::Decision,
            reason_code: row.reason_code.clone(),
            blocked_codes: Vec::new(),
            trace_id: row.trace_id.clone(),
            at: row.created_at,
        });
        self.fold_id = None;
    }

    /// A trace's variables as stored: the strategy's, plus where the window's bars came from.
    fn variables_json(&self, variables: &impl serde::Serialize) -> Value {
        variables_with_origin(self.origin.as_ref(), variables)
    }

    pub(super) async fn suppress(
        &mut self,
        trading: &Trading,
        n: &NoTrade,
        folded: bool,
        trace: &TraceId,
        fence: &Fence,
    ) {
        let at = trading.clock.now();
        // A fold keeps the first row's variables: a new bar source or contract gets its own row.
        // (Only a new row needs the whole snapshot as JSON; a fold compares the origin.)
        let same_origin = self
            .fold_origin
            .as_ref()
            .is_some_and(|o| origin_matches(o, self.origin.as_ref(), &n.variables_snapshot));
        let op = match self.fold_id {
            Some(id) if folded && same_origin => NoTradeOp::Fold {
                id,
                at,
                fence: fence.clone(),
            },
            _ => {
                let id = Uuid::now_v7();
                self.fold_id = Some(id);
                self.fold_origin =
                    Some(origin_of_parts(self.origin.as_ref(), &n.variables_snapshot));
                // Only new suppressions go live: folds repeat on every bar.
                trading.bus.publish_trace(TraceSummary {
                    bot_id: self.bot_id,
                    run_id: Some(self.run_id),
                    kind: TraceKind::NoTrade,
                    reason_code: n.reason_code.to_string(),
                    blocked_codes: n.blocked_by.iter().map(|b| b.code.to_string()).collect(),
                    trace_id: trace.as_str().to_owned(),
                    at,
                });
                let variables = self.variables_json(&n.variables_snapshot);
                NoTradeOp::Insert(Box::new(NoTradeTrace {
                    id,
                    bot_id: self.bot_id,
                    run_id: Some(self.run_id),
                    created_at: at,
                    last_seen_at: at,
                    count: 1,
                    suppression_type: n.suppression_type.to_string(),
                    suppression_decision: n.suppression_decision.to_string(),
                    reason_human: n.reason_human.clone(),
                    reason_code: n.reason_code.to_string(),
                    blocked_by: serde_json::to_value(&n.blocked_by).unwrap_or_default(),
                    signals: n.signals.to_json(),
                    variables_snapshot: variables,
                    trace_id: trace.as_str().to_owned(),
                    node_id: Some(fence.node.to_string()),
                    lease_epoch: Some(fence.epoch),
                }))
            }
        };
        if !trading.traces.send(op).await {
            tracing::error!(bot = %self.bot_id, "no-trade trace writer is gone");
        }
    }
}
