//! Fault injection (`POST /_sandbox/faults`): the commanded faults and late bars, what each
//! request consumes of them, and how a Databento outage reaches its live gateway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{SandboxState, live};

/// A fault the market-data endpoints answer with instead of data, set on command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// HTTP 503 in the vendor's shape.
    Outage,
    /// HTTP 429 with `Retry-After: 1`.
    RateLimited,
    /// Massive 403 `NOT_AUTHORIZED` (a plan without the data); Databento 403; an LLM's
    /// bad-key answer.
    NotAuthorized,
    /// No answer for a minute, then the vendor's 5xx (a hanging vendor).
    Timeout,
    /// LLMs: the vendor's content-refusal shape (market data: an outage).
    Refusal,
}

/// `POST /_sandbox/faults`: `{"vendor": "databento"|"polygon"|"fmp"|"fred"|<LLM provider id>, "fault": <Fault>|"late"|null,
/// "count": n, "seconds": n}` (`count` absent: until cleared with `"fault": null`; `seconds`:
/// the delay of a `late` fault, market-data vendors only).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultCommand {
    vendor: String,
    fault: Option<Injected>,
    count: Option<u32>,
    seconds: Option<u32>,
}

/// A live-gateway fault command (`"vendor": "databento_live"`): `None` for any other vendor.
#[allow(clippy::type_complexity)]
pub(super) fn live_fault(
    body: &[u8],
) -> Option<Result<(Option<live::LiveFault>, Option<u32>), String>> {
    #[derive(serde::Deserialize)]
    struct Cmd {
        vendor: String,
        fault: Option<Value>,
        count: Option<u32>,
    }
    let cmd: Cmd = serde_json::from_slice(body).ok()?;
    (cmd.vendor == "databento_live").then(|| {
        let fault = cmd
            .fault
            .map(serde_json::from_value::<live::LiveFault>)
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok((fault, cmd.count))
    })
}

/// What a fault command sets: an answer instead of data, or late data.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(untagged)]
enum Injected {
    Answer(Fault),
    Late(LateTag),
}

#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum LateTag {
    Late,
}

/// The vendors whose bars can be late.
const LATE_VENDORS: [&str; 2] = ["databento", "polygon"];

/// Most a `late` fault delays bars: a day.
const MAX_LATE_SECONDS: u32 = 86_400;

/// vendor → (fault, requests left; `None` = until cleared).
pub(super) type Faults = Arc<Mutex<HashMap<String, (Fault, Option<u32>)>>>;

/// vendor → (delay in seconds, requests left; `None` = until cleared).
pub(super) type Late = Arc<Mutex<HashMap<String, (u32, Option<u32>)>>>;

impl SandboxState {
    /// The fault `vendor`'s next bars request gets, if any (consumes one of a counted fault).
    pub(super) fn take_fault(&self, vendor: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let (fault, left) = faults.get_mut(vendor)?;
        let fault = *fault;
        match left {
            Some(0) => {
                faults.remove(vendor);
                return None;
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(fault)
    }

    /// The newest bar end `vendor`'s next bars request may serve, when its bars are late
    /// (consumes one request of a counted `late` fault): the clock's now less the delay.
    pub(super) fn take_late(&self, vendor: &str) -> Option<DateTime<Utc>> {
        let mut late = self.late.lock().unwrap_or_else(|p| p.into_inner());
        let (seconds, left) = late.get_mut(vendor)?;
        let seconds = *seconds;
        match left {
            Some(0) => {
                late.remove(vendor);
                return None;
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(self.clock.now() - chrono::Duration::seconds(i64::from(seconds)))
    }

    pub(super) fn command(&self, cmd: FaultCommand) -> Result<(), String> {
        if cmd.vendor == "databento" {
            self.databento_down_everywhere(&cmd);
        }
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let mut late = self.late.lock().unwrap_or_else(|p| p.into_inner());
        match (cmd.fault, cmd.seconds) {
            (None, _) => {
                faults.remove(&cmd.vendor);
                late.remove(&cmd.vendor);
            }
            (Some(Injected::Answer(f)), None) => {
                faults.insert(cmd.vendor, (f, cmd.count));
            }
            (Some(Injected::Answer(_)), Some(_)) => {
                return Err("seconds is for a late fault only".into());
            }
            (Some(Injected::Late(_)), _) if !LATE_VENDORS.contains(&cmd.vendor.as_str()) => {
                return Err(format!(
                    "late bars are for {}, not {}",
                    LATE_VENDORS.join(" and "),
                    cmd.vendor
                ));
            }
            (Some(Injected::Late(_)), Some(s)) if (1..=MAX_LATE_SECONDS).contains(&s) => {
                late.insert(cmd.vendor, (s, cmd.count));
            }
            (Some(Injected::Late(_)), _) => {
                return Err(format!(
                    "a late fault needs seconds between 1 and {MAX_LATE_SECONDS}"
                ));
            }
        }
        Ok(())
    }
}

impl SandboxState {
    /// Databento down is down for both of its doors: an outage of its historical API
    /// (`outage`, `timeout`, `refusal`) also takes its live gateway down (open sessions
    /// closed, new connections dropped: [`live::LiveFault::Disconnect`]), until cleared or, for
    /// a counted fault, for that many connections; clearing Databento's fault clears the
    /// gateway's disconnect too. A late, rate-limited or plan-refused historical API leaves
    /// the gateway streaming (they are the HTTP API's answers, not an outage).
    fn databento_down_everywhere(&self, cmd: &FaultCommand) {
        match cmd.fault {
            Some(Injected::Answer(Fault::Outage | Fault::Timeout | Fault::Refusal))
                if cmd.seconds.is_none() =>
            {
                self.live.set(Some(live::LiveFault::Disconnect), cmd.count);
            }
            None => self.live.clear_if(live::LiveFault::Disconnect),
            _ => {}
        }
    }
}

/// A `timeout` fault hangs for a minute before its answer, as a vendor that stopped
/// answering does (callers time out first).
pub(crate) async fn stall(fault: Fault) {
    if fault == Fault::Timeout {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}

/// The end of a bars range a late vendor serves: only bars of `len` seconds that ended by
/// `late_until` (`None`: not late, the range's own end).
pub(super) fn late_end(
    end: DateTime<Utc>,
    len: i64,
    late_until: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let Some(until) = late_until else { return end };
    let len = len.clamp(1, 86_400);
    // Bars start on multiples of their length: the last served one ends at or before `until`.
    let cut = DateTime::from_timestamp(until.timestamp().div_euclid(len) * len, 0).unwrap_or(end);
    end.min(cut)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::clock::Clock;
    use crate::sandbox::broker;

    #[test]
    fn a_late_vendor_serves_only_bars_that_ended_by_its_delay() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let end = t("2026-11-17T15:10:00Z");
        assert_eq!(late_end(end, 60, None), end);
        // Now 15:10:05 less 180 s = 15:07:05: the 15:06 minute (ends 15:07) is the last.
        let until = Some(t("2026-11-17T15:07:05Z"));
        assert_eq!(late_end(end, 60, until), t("2026-11-17T15:07:00Z"));
        assert_eq!(late_end(end, 300, until), t("2026-11-17T15:05:00Z"));
        assert_eq!(late_end(end, 1, until), t("2026-11-17T15:07:05Z"));
        // Never past the range's own end.
        assert_eq!(
            late_end(t("2026-11-17T15:03:00Z"), 60, until),
            t("2026-11-17T15:03:00Z")
        );
    }

    /// A sandbox on a manual clock with no fault set.
    fn test_state() -> SandboxState {
        SandboxState {
            clock: Clock::manual("2026-11-17T15:10:05Z".parse().unwrap()),
            faults: Arc::default(),
            late: Arc::default(),
            brokers: broker::BrokerSim::default(),
            news: Arc::default(),
            live: live::LiveControl::default(),
        }
    }

    #[test]
    fn a_databento_outage_takes_its_live_gateway_down_too() {
        let state = test_state();
        let cmd = |v: Value| state.command(serde_json::from_value(v).unwrap());
        cmd(json!({"vendor": "databento", "fault": "outage"})).unwrap();
        assert_eq!(state.take_fault("databento"), Some(Fault::Outage));
        assert_eq!(state.live.current(), Some(live::LiveFault::Disconnect));
        cmd(json!({"vendor": "databento", "fault": null})).unwrap();
        assert_eq!(state.take_fault("databento"), None);
        assert_eq!(state.live.current(), None);
        // Not an outage: the gateway streams on. Another vendor's outage is not Databento's.
        for v in [
            json!({"vendor": "databento", "fault": "rate_limited"}),
            json!({"vendor": "databento", "fault": "late", "seconds": 60}),
            json!({"vendor": "polygon", "fault": "outage"}),
        ] {
            cmd(v).unwrap();
            assert_eq!(state.live.current(), None);
        }
        // Clearing Databento leaves a gateway fault commanded on its own in force.
        state.live.set(Some(live::LiveFault::Silence), None);
        cmd(json!({"vendor": "databento", "fault": null})).unwrap();
        assert_eq!(state.live.current(), Some(live::LiveFault::Silence));
    }

    #[test]
    fn late_faults_are_for_market_data_with_a_bounded_delay() {
        let state = test_state();
        let cmd = |v: Value| state.command(serde_json::from_value(v).unwrap());
        assert!(cmd(json!({"vendor": "openai", "fault": "late", "seconds": 60})).is_err());
        assert!(cmd(json!({"vendor": "databento", "fault": "late"})).is_err());
        assert!(cmd(json!({"vendor": "databento", "fault": "late", "seconds": 0})).is_err());
        assert!(cmd(json!({"vendor": "databento", "fault": "outage", "seconds": 5})).is_err());
        assert!(
            serde_json::from_value::<FaultCommand>(json!({"vendor": "polygon", "fault": "early"}))
                .is_err()
        );
        cmd(json!({"vendor": "databento", "fault": "late", "seconds": 180, "count": 1})).unwrap();
        assert_eq!(state.take_late("polygon"), None);
        assert_eq!(
            state.take_late("databento"),
            Some("2026-11-17T15:07:05Z".parse().unwrap())
        );
        // Counted: spent after one request.
        assert_eq!(state.take_late("databento"), None);
        cmd(json!({"vendor": "polygon", "fault": "late", "seconds": 30})).unwrap();
        cmd(json!({"vendor": "polygon", "fault": null})).unwrap();
        assert_eq!(state.take_late("polygon"), None);
    }
}
