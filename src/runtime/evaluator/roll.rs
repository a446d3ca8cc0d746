//! The runner's side of a quarterly roll (the engine's is `domain::roll_exit`): a position
//! restored from its fills after its contract rolled is priced by that contract's own last
//! stored bar, and a position left past its roll is named by a system event (and stays in the
//! needs-attention queue, `domain::attention`, until it is flat).

use chrono::Duration;
use serde_json::json;

use super::{BotEvaluator, Trading};
use crate::domain::{contracts::Contract, risk::Stage};
use crate::error_code::ErrorCode;
use crate::runtime::RuntimeHandle;
use crate::store::{
    bot_leases::Fence,
    market_bars,
    system_events::{NewSystemEvent, Severity},
};
use crate::trace::TraceId;

impl BotEvaluator {
    /// A position restored on a contract the feed has rolled away from (`front`; the runner
    /// was down across the roll): that contract's own last stored bar before the roll marks it
    /// and prices its roll exit, never the fill it started from nor the new contract's bars.
    /// Handed in before the new contract's window; looked up once per contract (without one,
    /// the engine refuses a simulated exit and a LIVE one is priced by its broker).
    pub(super) async fn price_restored_position(
        &mut self,
        trading: &Trading,
        front: Contract,
        trace: &TraceId,
        fence: &Fence,
    ) -> Result<(), sqlx::Error> {
        let Some(held) = self.engine.unpriced_position_contract() else {
            return Ok(());
        };
        if held == front || self.stored_price_read == Some(held) {
            return Ok(());
        }
        self.stored_price_read = Some(held);
        let timeframe = self.engine.settings().timeframe;
        // Before the roll instant: a LIVE exit's decision bar names the contract.
        let before_roll = held.rolls_at() - Duration::seconds(1);
        let last = market_bars::latest_at(&trading.pool, held, timeframe, before_roll).await?;
        if let Some(last) = last {
            self.feed_bar(trading, last.bar, held, trace, fence).await?;
        }
        Ok(())
    }

    /// A position still on a contract the window rolled away from after an evaluation that
    /// did not close it and with no order of the bot working (its roll exit blocked by a gate,
    /// or refused): one system event per contract — SEV-1 for LIVE (real exposure in a
    /// contract heading for expiry), SEV-2 otherwise — naming the bot, the contract, the
    /// quantity and the expiry. The trace says which gate holds the exit.
    pub(super) fn name_position_past_roll(&mut self, rt: &RuntimeHandle) {
        let (Some(held), Some(front)) = (self.engine.position_contract(), self.engine.contract())
        else {
            return;
        };
        let quantity = self.engine.position().quantity;
        let in_flight = self.engine.working().is_some();
        if held == front || quantity == 0 || in_flight || self.past_roll_named == Some(held) {
            return;
        }
        self.past_roll_named = Some(held);
        let live = self.engine.settings().stage == Stage::Live;
        let severity = if live { Severity::Sev1 } else { Severity::Sev2 };
        let expires = held.last_trade_date();
        rt.telemetry().system_event(
            NewSystemEvent::new(
                severity,
                ErrorCode::PositionPastRoll.as_str(),
                format!(
                    "bot {}: {quantity} {} held past its roll to {} (last trade day {expires}); its roll exit has not gone through: see the bot's latest trace for the gate holding it",
                    self.bot_id,
                    held.code(),
                    front.code()
                ),
            )
            .bot(self.bot_id)
            .metadata(json!({
                "contract": held.code(),
                "front": front.code(),
                "quantity": quantity,
                "last_trade_date": expires,
            })),
        );
    }
}
