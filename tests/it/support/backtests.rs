//! Backtests through the API: queue one, wait for its job to end, and give a bot the evidence
//! the LAB → PAPER promotion gate asks for.

use std::time::Duration;

use serde_json::{Value, json};

use super::app::TestApp;

/// A week of ES 5-minute bars from the sandbox (Mon 16 – Sat 21 Nov 2026).
pub const WEEK_FROM: &str = "2026-11-16T00:00:00Z";
pub const WEEK_TO: &str = "2026-11-21T00:00:00Z";

/// The body of `POST /api/backtests` for an SMA crossover on ES 5m over `[from, to)`, with
/// loss limits wide enough that no kill trigger ends it early.
pub fn sma_backtest(from: &str, to: &str) -> Value {
    json!({
        "strategy": {"kind": "sma_crossover", "params": {"fast": 5, "slow": 20}},
        "symbol": "ES", "timeframe": "5m", "from": from, "to": to,
        "fill": {"slippage_ticks": 1, "commission_per_side": "2.25"},
        "starting_capital": "100000",
        "risk": {"daily_loss_limit": 50000, "max_drawdown": 50000}
    })
}

impl TestApp {
    /// Queues `body` (asserting 202) and returns the backtest's id and its job's id.
    pub async fn queue_backtest(&self, body: Value) -> (String, String) {
        let (status, reply) = self.create_backtest(body).await;
        assert_eq!(status, 202, "{reply}");
        assert_eq!(reply["job"]["status"], "QUEUED", "{reply}");
        assert_eq!(reply["job"]["kind"], "backtest", "{reply}");
        (
            reply["backtest"]["id"].as_str().unwrap().to_owned(),
            reply["job"]["id"].as_str().unwrap().to_owned(),
        )
    }

    /// `GET /api/backtests/{id}` until its status is `want` (panics after 60 s).
    pub async fn wait_for_backtest(&self, id: &str, want: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..1200 {
            let (status, body) = self.get_backtest(id).await;
            assert_eq!(status, 200, "{body}");
            if body["backtest"]["status"] == want {
                return body;
            }
            last = body;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("backtest {id} never became {want}: {last}");
    }

    /// Runs a backtest of `bot` as it is now over `[from, to)` through the API and waits for it
    /// to succeed: the evidence LAB → PAPER needs (if it meets the thresholds).
    pub async fn backtest_bot(&self, bot: &str, from: &str, to: &str) -> Value {
        let (id, _) = self
            .queue_backtest(json!({ "bot_id": bot, "from": from, "to": to }))
            .await;
        self.wait_for_backtest(&id, "SUCCEEDED").await
    }
}
