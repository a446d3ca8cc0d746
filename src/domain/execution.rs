//! Execution by stage: the engine's execution adapter. PAPER fills at the next bar's open moved
//! against the order by `slippage_ticks`, pays commission per contract, and never fills outside
//! the session. SHADOW is the same fill model on the same live bars, as a hypothetical fill: its
//! order is recorded (stage SHADOW in the ledger), never sent, and the SHADOW book (position,
//! trades, PnL) is built from those fills exactly like PAPER's, so a held signal enters once and
//! exits once. LIVE is sent to the broker session when one is logged in and refused otherwise:
//! a LIVE order is never silently simulated. The engine never asks which stage it runs: this
//! module decides.

use super::bars::Bar;
use super::calendar::{HolidayCalendar, SessionState};
use super::instruments::{ContractSpec, Symbol};
use super::risk::Stage;
use super::side::Side;
use crate::error_code::ErrorCode;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimParams {
    pub slippage_ticks: u32,
    /// USD per contract per fill.
    pub commission_per_contract: Decimal,
}

impl Default for SimParams {
    /// One tick of slippage, $2.25 per contract (a typical E-mini all-in retail rate).
    fn default() -> Self {
        SimParams {
            slippage_ticks: 1,
            commission_per_contract: Decimal::new(225, 2),
        }
    }
}

/// A market order the bot decided on for the bar that closed at `bar_ts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderIntent {
    pub bot_id: Uuid,
    pub symbol: Symbol,
    pub side: Side,
    pub quantity: u32,
    /// Last close when decided (what the collar checked).
    pub reference_price: Decimal,
    /// `ts_open` of the bar the decision was made on.
    pub bar_ts: DateTime<Utc>,
    pub idempotency_key: String,
}

/// Deterministic key: the same bot, bar and side always give the same key, so a restarted
/// runner re-deriving the decision cannot book or send it twice (the orders table has it unique).
pub fn idempotency_key(bot_id: Uuid, bar_ts: DateTime<Utc>, side: Side) -> String {
    key_of(bot_id, bar_ts, side, &[])
}

/// The roll exit's key (`domain::roll_exit`): per bot, contract left, evaluation instant and
/// side, apart from every strategy decision's key (a roll exit tried again at a later bar,
/// after a refusal, is a new order; the same evaluation re-derived is the same one).
pub fn roll_exit_key(
    bot_id: Uuid,
    from: super::contracts::Contract,
    now: DateTime<Utc>,
    side: Side,
) -> String {
    key_of(
        bot_id,
        now,
        side,
        format!("roll:{}", from.code()).as_bytes(),
    )
}

fn key_of(bot_id: Uuid, at: DateTime<Utc>, side: Side, kind: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(bot_id.as_bytes());
    h.update(at.timestamp_micros().to_be_bytes());
    h.update(side.as_str().as_bytes());
    h.update(kind);
    // The first 16 bytes in lowercase hex (only those are encoded), the same shape for every
    // key (it travels as the broker's client id where the vendor has one). Written into one
    // buffer of the key's length: no formatter, no intermediate string.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = h.finalize();
    let mut key = String::with_capacity(4 + 32);
    key.push_str("tp1-");
    for b in &digest[..16] {
        key.push(char::from(HEX[usize::from(b >> 4)]));
        key.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    key
}

impl OrderIntent {
    pub fn new(
        bot_id: Uuid,
        symbol: Symbol,
        side: Side,
        quantity: u32,
        reference_price: Decimal,
        bar_ts: DateTime<Utc>,
    ) -> Self {
        OrderIntent {
            bot_id,
            symbol,
            side,
            quantity,
            reference_price,
            bar_ts,
            idempotency_key: idempotency_key(bot_id, bar_ts, side),
        }
    }
}

/// How an order is priced. The runners place MARKET orders only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderType {
    Market,
    Limit,
    Stop,
}

impl OrderType {
    pub const ALL: [OrderType; 3] = [OrderType::Market, OrderType::Limit, OrderType::Stop];

    pub const fn as_str(self) -> &'static str {
        match self {
            OrderType::Market => "MARKET",
            OrderType::Limit => "LIMIT",
            OrderType::Stop => "STOP",
        }
    }
}

/// Where an order stands. PAPER and SHADOW orders are WORKING until the next bar fills them
/// (SHADOW: hypothetically, never sent) or they are cancelled; LIVE orders are SENDING (written
/// ahead, the broker's answer not yet had) until the broker acknowledges them (WORKING) or
/// refuses them. `RECORDED` is what SHADOW orders were before the SHADOW book (rows written
/// then keep it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    New,
    Recorded,
    Sending,
    Working,
    PartiallyFilled,
    Filled,
    Cancelled,
    Rejected,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::New,
        OrderStatus::Recorded,
        OrderStatus::Sending,
        OrderStatus::Working,
        OrderStatus::PartiallyFilled,
        OrderStatus::Filled,
        OrderStatus::Cancelled,
        OrderStatus::Rejected,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "NEW",
            OrderStatus::Recorded => "RECORDED",
            OrderStatus::Sending => "SENDING",
            OrderStatus::Working => "WORKING",
            OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
            OrderStatus::Filled => "FILLED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Rejected => "REJECTED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimFill {
    pub idempotency_key: String,
    pub side: Side,
    pub quantity: u32,
    pub price: Decimal,
    /// USD, total for the fill.
    pub commission: Decimal,
    pub filled_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionOutcome {
    /// PAPER, SHADOW (hypothetical): filled on the next bar's open.
    Filled(SimFill),
    /// PAPER, SHADOW: the next bar has not arrived yet; fill on the next tick with the same
    /// intent.
    AwaitingNextBar,
    /// PAPER, SHADOW: the next bar opens outside the session; the order is not filled.
    NoFill {
        reason: String,
        session: SessionState,
    },
    /// LIVE: send to the broker session (written ahead as SENDING first).
    Send { decided_at: DateTime<Utc> },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionError {
    #[error("LIVE execution needs a logged-in broker session, and none is available now")]
    LiveRefused,
    #[error("stage {0:?} does not execute orders")]
    StageCannotTrade(Stage),
}

impl ExecutionError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ExecutionError::LiveRefused => ErrorCode::ExecutionBrokerUnavailable,
            ExecutionError::StageCannotTrade(_) => ErrorCode::PromotionGateFailed,
        }
    }
}

/// PAPER fill price: next open moved `slippage_ticks` against the order.
pub fn paper_fill_price(
    side: Side,
    next_open: Decimal,
    spec: &ContractSpec,
    p: &SimParams,
) -> Decimal {
    next_open + Decimal::from(side.sign()) * spec.tick_size * Decimal::from(p.slippage_ticks)
}

/// Executes `intent` for `stage`. `next_bar` is the bar after the decision bar, if known;
/// `now` is the instant of execution (the simulated stages fill at the next bar's open and do
/// not read it); `broker_ready`: a LIVE order has a logged-in broker session to go to (without
/// one LIVE is refused: a LIVE order is never silently simulated).
#[allow(clippy::too_many_arguments)]
pub fn execute(
    stage: Stage,
    intent: &OrderIntent,
    next_bar: Option<&Bar>,
    spec: &ContractSpec,
    calendar: &HolidayCalendar,
    params: &SimParams,
    now: DateTime<Utc>,
    broker_ready: bool,
) -> Result<ExecutionOutcome, ExecutionError> {
    match stage {
        Stage::Lab => Err(ExecutionError::StageCannotTrade(stage)),
        Stage::Live if broker_ready => Ok(ExecutionOutcome::Send { decided_at: now }),
        Stage::Live => Err(ExecutionError::LiveRefused),
        // SHADOW: the PAPER fill model on the same live bars, booked as a hypothetical fill.
        Stage::Paper | Stage::Shadow => {
            let Some(bar) = next_bar else {
                return Ok(ExecutionOutcome::AwaitingNextBar);
            };
            let session = calendar.is_open(bar.ts_open);
            if !session.is_open() {
                return Ok(ExecutionOutcome::NoFill {
                    reason: format!(
                        "next bar at {} is outside the session",
                        bar.ts_open.to_rfc3339()
                    ),
                    session,
                });
            }
            Ok(ExecutionOutcome::Filled(SimFill {
                idempotency_key: intent.idempotency_key.clone(),
                side: intent.side,
                quantity: intent.quantity,
                price: paper_fill_price(intent.side, bar.open, spec, params),
                commission: params.commission_per_contract * Decimal::from(intent.quantity),
                filled_at: bar.ts_open,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn bar(ts: DateTime<Utc>, open: Decimal) -> Bar {
        Bar {
            ts_open: ts,
            open,
            high: open,
            low: open,
            close: open,
            volume: 1,
        }
    }

    fn setup() -> (
        OrderIntent,
        ContractSpec,
        HolidayCalendar,
        SimParams,
        DateTime<Utc>,
    ) {
        let ts = Utc.with_ymd_and_hms(2026, 11, 24, 16, 0, 0).unwrap(); // Tue 10:00 CT
        let bot = Uuid::from_u128(42);
        (
            OrderIntent::new(bot, Symbol::Es, Side::Buy, 2, dec!(5000), ts),
            Symbol::Es.spec(),
            HolidayCalendar::cme_equity_fixture(),
            SimParams {
                slippage_ticks: 1,
                commission_per_contract: dec!(2.25),
            },
            ts,
        )
    }

    #[test]
    fn paper_fills_next_open_with_adverse_slippage_and_commission() {
        let (mut intent, spec, cal, p, ts) = setup();
        let next = bar(ts + chrono::Duration::minutes(1), dec!(5001.50));
        let out = execute(
            Stage::Paper,
            &intent,
            Some(&next),
            &spec,
            &cal,
            &p,
            ts,
            false,
        )
        .unwrap();
        let ExecutionOutcome::Filled(fill) = out else {
            panic!("{out:?}")
        };
        assert_eq!(fill.price, dec!(5001.75)); // buy: +1 tick
        assert_eq!(fill.commission, dec!(4.50));
        assert_eq!(fill.filled_at, next.ts_open);
        intent.side = Side::Sell;
        let out = execute(
            Stage::Paper,
            &intent,
            Some(&next),
            &spec,
            &cal,
            &p,
            ts,
            false,
        )
        .unwrap();
        let ExecutionOutcome::Filled(fill) = out else {
            panic!("{out:?}")
        };
        assert_eq!(fill.price, dec!(5001.25)); // sell: -1 tick
    }

    #[test]
    fn paper_never_fills_outside_the_session() {
        let (intent, spec, cal, p, ts) = setup();
        let halt = Utc.with_ymd_and_hms(2026, 11, 24, 22, 0, 0).unwrap(); // 16:00 CT
        let out = execute(
            Stage::Paper,
            &intent,
            Some(&bar(halt, dec!(5000))),
            &spec,
            &cal,
            &p,
            ts,
            false,
        )
        .unwrap();
        assert!(matches!(
            out,
            ExecutionOutcome::NoFill {
                session: SessionState::DailyHalt,
                ..
            }
        ));
        assert_eq!(
            execute(Stage::Paper, &intent, None, &spec, &cal, &p, ts, false).unwrap(),
            ExecutionOutcome::AwaitingNextBar
        );
    }

    #[test]
    fn shadow_fills_hypothetically_like_paper_even_with_a_broker_and_live_needs_one() {
        let (intent, spec, cal, p, ts) = setup();
        let next = bar(ts + chrono::Duration::minutes(1), dec!(5000));
        assert_eq!(
            execute(
                Stage::Shadow,
                &intent,
                Some(&next),
                &spec,
                &cal,
                &p,
                ts,
                true
            )
            .unwrap(),
            execute(
                Stage::Paper,
                &intent,
                Some(&next),
                &spec,
                &cal,
                &p,
                ts,
                false
            )
            .unwrap(),
        );
        assert_eq!(
            execute(Stage::Shadow, &intent, None, &spec, &cal, &p, ts, true).unwrap(),
            ExecutionOutcome::AwaitingNextBar
        );
        let err = execute(
            Stage::Live,
            &intent,
            Some(&next),
            &spec,
            &cal,
            &p,
            ts,
            false,
        )
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::ExecutionBrokerUnavailable);
        assert_eq!(
            execute(Stage::Live, &intent, Some(&next), &spec, &cal, &p, ts, true).unwrap(),
            ExecutionOutcome::Send { decided_at: ts }
        );
        assert!(execute(Stage::Lab, &intent, Some(&next), &spec, &cal, &p, ts, true).is_err());
    }

    #[test]
    fn idempotency_key_is_deterministic_and_distinct() {
        let ts = Utc.with_ymd_and_hms(2026, 11, 24, 16, 0, 0).unwrap();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let k = idempotency_key(a, ts, Side::Buy);
        assert_eq!(k, idempotency_key(a, ts, Side::Buy));
        assert_eq!(k.len(), 4 + 32);
        // Keys already stored stay the same: the first 128 bits of SHA-256 in lowercase hex.
        let mut h = Sha256::new();
        h.update(a.as_bytes());
        h.update(ts.timestamp_micros().to_be_bytes());
        h.update(b"BUY");
        assert_eq!(k, format!("tp1-{}", &hex::encode(h.finalize())[..32]));
        assert_ne!(k, idempotency_key(b, ts, Side::Buy));
        assert_ne!(k, idempotency_key(a, ts, Side::Sell));
        assert_ne!(
            k,
            idempotency_key(a, ts + chrono::Duration::seconds(1), Side::Buy)
        );
    }

    #[test]
    fn every_key_is_tp1_and_the_digests_first_half_in_lowercase_hex() {
        let reference = |bot: Uuid, at: DateTime<Utc>, side: Side, kind: &[u8]| {
            let mut h = Sha256::new();
            h.update(bot.as_bytes());
            h.update(at.timestamp_micros().to_be_bytes());
            h.update(side.as_str().as_bytes());
            h.update(kind);
            format!("tp1-{}", hex::encode(&h.finalize()[..16]))
        };
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut digits = std::collections::BTreeSet::new();
        for i in 0..500u32 {
            let bot = Uuid::from_u128(u128::from(i) * 0x9E37_79B9_7F4A_7C15_F39C);
            let at = t0 + chrono::Duration::seconds(i64::from(i) * 61);
            for side in [Side::Buy, Side::Sell] {
                for kind in [&b""[..], b"roll", b"\x00\xff"] {
                    let k = key_of(bot, at, side, kind);
                    assert_eq!(k, reference(bot, at, side, kind));
                    digits.extend(k[4..].chars());
                }
            }
        }
        // Every hex digit occurred, so each was checked against the reference.
        assert_eq!(digits.len(), 16);
    }
}
