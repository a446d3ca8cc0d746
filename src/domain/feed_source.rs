//! Which vendor a bar series (root × timeframe) is read from: the one failover rule.
//!
//! The primary serves while it is healthy. It is unhealthy at a boundary when its breaker is
//! not CLOSED, when its read failed (no bar for this boundary), or when a bar was due and its
//! newest bar closed longer ago than the freshness limit. An unhealthy primary moves the series
//! to the secondary at once, so the same boundary is read from the secondary. The series goes
//! back only after the primary has been healthy for the whole hysteresis, so a flapping vendor
//! does not flip the bots between two price sources on every bar.
//!
//! While the market is closed no bar is due: a quiet primary is neither healthy nor late (no
//! failover at every session break), only a failure or an open breaker counts.
//!
//! Time is the bar boundary being evaluated, passed in.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::breaker::BreakerState;
use super::calendar::HolidayCalendar;
use super::contracts::Contract;
use super::timeframe::Timeframe;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Primary,
    Secondary,
}

/// What the primary's read at one boundary showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrimaryReading {
    /// Its breaker's published state after the read.
    pub breaker: BreakerState,
    /// `false`: the read failed (vendor error, time-out, refused).
    pub answered: bool,
    /// When its newest bar before the boundary closed (`None`: it has none).
    pub newest_close: Option<DateTime<Utc>>,
    /// Whether a bar was due in the freshness window (the market was open).
    pub bar_due: bool,
}

/// Why a source was chosen (the `reason` of a switch event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    PrimaryHealthy,
    /// The market is closed: no bar was due, nothing to judge.
    NoBarDue,
    BreakerOpen,
    PrimaryFailed,
    /// The primary's newest bar is older than the freshness limit (`lag_seconds`; `None`:
    /// it has no bar at all).
    PrimaryLate {
        lag_seconds: Option<i64>,
        limit_seconds: i64,
    },
    /// Healthy again, but not yet for the whole hysteresis.
    Recovering {
        healthy_seconds: i64,
        hysteresis_seconds: i64,
    },
    /// Healthy for the whole hysteresis: back to the primary.
    Recovered {
        healthy_seconds: i64,
    },
}

impl Reason {
    pub fn human(&self) -> String {
        match self {
            Reason::PrimaryHealthy => "the primary is healthy".into(),
            Reason::NoBarDue => "the market is closed, no bar was due".into(),
            Reason::BreakerOpen => "the primary's circuit breaker is open".into(),
            Reason::PrimaryFailed => "the primary's bar read failed".into(),
            Reason::PrimaryLate {
                lag_seconds: Some(lag),
                limit_seconds,
            } => format!("the primary's newest bar is {lag} s old (limit {limit_seconds} s)"),
            Reason::PrimaryLate { limit_seconds, .. } => {
                format!("the primary has no bar (limit {limit_seconds} s)")
            }
            Reason::Recovering {
                healthy_seconds,
                hysteresis_seconds,
            } => format!(
                "the primary has been healthy for {healthy_seconds} s of the {hysteresis_seconds} s required"
            ),
            Reason::Recovered { healthy_seconds } => {
                format!("the primary has been healthy for {healthy_seconds} s")
            }
        }
    }
}

/// The rule's decision at one boundary; `switched` when it differs from the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub source: Source,
    pub reason: Reason,
    pub switched: bool,
}

/// One series' source and how long its primary has been healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedSource {
    current: Source,
    /// The first boundary of the primary's current healthy streak (while on the secondary).
    healthy_since: Option<DateTime<Utc>>,
}

impl Default for FeedSource {
    fn default() -> Self {
        FeedSource {
            current: Source::Primary,
            healthy_since: None,
        }
    }
}

impl FeedSource {
    /// A series' state as recorded (by this or another node): `healthy_since` only counts on
    /// the secondary (on the primary there is no streak to keep).
    pub fn restore(current: Source, healthy_since: Option<DateTime<Utc>>) -> FeedSource {
        FeedSource {
            current,
            healthy_since: healthy_since.filter(|_| current == Source::Secondary),
        }
    }

    pub fn current(&self) -> Source {
        self.current
    }

    /// The first boundary of the primary's current healthy streak while on the secondary.
    pub fn healthy_since(&self) -> Option<DateTime<Utc>> {
        self.healthy_since
    }

    /// Judges the primary's reading at boundary `at` (freshness `limit`, `hysteresis` before a
    /// return) and says which source serves this boundary.
    pub fn observe(
        &mut self,
        at: DateTime<Utc>,
        primary: PrimaryReading,
        limit: Duration,
        hysteresis: Duration,
    ) -> Choice {
        let verdict = judge(at, primary, limit);
        let before = self.current;
        let reason = match (self.current, verdict) {
            (Source::Primary, Some(unhealthy)) => {
                self.current = Source::Secondary;
                self.healthy_since = None;
                unhealthy
            }
            (Source::Primary, None) if primary.bar_due => Reason::PrimaryHealthy,
            (Source::Primary, None) => Reason::NoBarDue,
            (Source::Secondary, Some(unhealthy)) => {
                self.healthy_since = None;
                unhealthy
            }
            // Quiet market: the streak neither grows nor breaks.
            (Source::Secondary, None) if !primary.bar_due => Reason::NoBarDue,
            (Source::Secondary, None) => {
                let since = *self.healthy_since.get_or_insert(at);
                let healthy_seconds = (at - since).num_seconds();
                if at - since >= hysteresis {
                    self.current = Source::Primary;
                    self.healthy_since = None;
                    Reason::Recovered { healthy_seconds }
                } else {
                    Reason::Recovering {
                        healthy_seconds,
                        hysteresis_seconds: hysteresis.num_seconds(),
                    }
                }
            }
        };
        Choice {
            source: self.current,
            reason,
            switched: self.current != before,
        }
    }
}

/// Why the primary is unhealthy at `at`, or `None` when it is not.
fn judge(at: DateTime<Utc>, p: PrimaryReading, limit: Duration) -> Option<Reason> {
    if p.breaker != BreakerState::Closed {
        return Some(Reason::BreakerOpen);
    }
    if !p.answered {
        return Some(Reason::PrimaryFailed);
    }
    if !p.bar_due {
        return None;
    }
    let lag = p.newest_close.map(|c| at - c);
    match lag {
        Some(lag) if lag <= limit => None,
        _ => Some(Reason::PrimaryLate {
            lag_seconds: lag.map(|l| l.num_seconds()),
            limit_seconds: limit.num_seconds(),
        }),
    }
}

/// Whether bars of `timeframe` were due over the freshness window before `at`: the market was
/// open for the bar that just closed and at the start of the window (a session that opened
/// inside the window has not had time to be late).
pub fn bar_due(
    calendar: &HolidayCalendar,
    at: DateTime<Utc>,
    timeframe: Timeframe,
    limit: Duration,
) -> bool {
    calendar.is_open(at - timeframe.duration()).is_open() && calendar.is_open(at - limit).is_open()
}

/// Where one bar of an indicator window came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarOrigin {
    pub provider: &'static str,
    pub contract: Contract,
}

/// What a trace shows of its window's origins (its variables `bar_source`, `bar_contract`,
/// `mixed_sources`, `mixed_contracts`, and `rolled_from` at a roll).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowOrigin {
    /// The newest bar's vendor and contract.
    pub bar_source: &'static str,
    /// Stored as its code (`ESZ26`), as is `rolled_from`.
    #[serde(serialize_with = "contract_code")]
    pub bar_contract: Contract,
    /// The window also holds bars of another vendor / another contract.
    pub mixed_sources: bool,
    pub mixed_contracts: bool,
    /// The roll marker: the contract the previous evaluation read, when it was another one
    /// (this evaluation is the first on `bar_contract`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_contract_code"
    )]
    pub rolled_from: Option<Contract>,
}

fn contract_code<S: serde::Serializer>(c: &Contract, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&c.code())
}

fn optional_contract_code<S: serde::Serializer>(
    c: &Option<Contract>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => contract_code(c, s),
        None => s.serialize_none(),
    }
}

impl WindowOrigin {
    /// Marks a roll when the previous evaluation read `previous`, another contract.
    pub fn mark_roll(&mut self, previous: Option<Contract>) {
        self.rolled_from = previous.filter(|p| *p != self.bar_contract);
    }
}

/// The origin of a window from its bars' origins (oldest first); `None` for an empty window.
pub fn window_origin<'a>(origins: impl IntoIterator<Item = &'a BarOrigin>) -> Option<WindowOrigin> {
    // One pass: every origin is the newest's iff each equals the one before it.
    let mut origins = origins.into_iter();
    let mut newest = origins.next()?;
    let (mut mixed_sources, mut mixed_contracts) = (false, false);
    for o in origins {
        mixed_sources |= o.provider != newest.provider;
        mixed_contracts |= o.contract != newest.contract;
        newest = o;
    }
    Some(WindowOrigin {
        bar_source: newest.provider,
        bar_contract: newest.contract,
        mixed_sources,
        mixed_contracts,
        rolled_from: None,
    })
}

/// The variables [`WindowOrigin`] adds to a snapshot.
pub const ORIGIN_KEYS: [&str; 5] = [
    "bar_source",
    "bar_contract",
    "mixed_sources",
    "mixed_contracts",
    "rolled_from",
];

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        // Tuesday 2026-11-17 09:00 CT: an ordinary session.
        Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0).unwrap() + Duration::minutes(min)
    }

    const LIMIT: Duration = Duration::seconds(125);
    const HYST: Duration = Duration::minutes(5);

    fn healthy(at: DateTime<Utc>) -> PrimaryReading {
        PrimaryReading {
            breaker: BreakerState::Closed,
            answered: true,
            newest_close: Some(at),
            bar_due: true,
        }
    }

    #[test]
    fn a_healthy_primary_serves() {
        let mut s = FeedSource::default();
        let c = s.observe(t(1), healthy(t(1)), LIMIT, HYST);
        assert_eq!(
            (c.source, c.reason, c.switched),
            (Source::Primary, Reason::PrimaryHealthy, false)
        );
    }

    #[test]
    fn an_open_breaker_moves_the_same_boundary_to_the_secondary() {
        for breaker in [BreakerState::Open, BreakerState::HalfOpen] {
            let mut s = FeedSource::default();
            let reading = PrimaryReading {
                breaker,
                ..healthy(t(1))
            };
            let c = s.observe(t(1), reading, LIMIT, HYST);
            assert_eq!(
                (c.source, c.reason, c.switched),
                (Source::Secondary, Reason::BreakerOpen, true)
            );
        }
    }

    #[test]
    fn a_failed_read_moves_to_the_secondary() {
        let mut s = FeedSource::default();
        let reading = PrimaryReading {
            answered: false,
            ..healthy(t(1))
        };
        let c = s.observe(t(1), reading, LIMIT, HYST);
        assert_eq!(
            (c.source, c.reason),
            (Source::Secondary, Reason::PrimaryFailed)
        );
    }

    #[test]
    fn a_bar_late_past_the_freshness_limit_moves_to_the_secondary() {
        let mut s = FeedSource::default();
        // Within the limit: stays.
        let c = s.observe(t(10), healthy(t(10) - LIMIT), LIMIT, HYST);
        assert_eq!(c.source, Source::Primary);
        // One second past it: switches.
        let c = s.observe(
            t(10),
            healthy(t(10) - LIMIT - Duration::seconds(1)),
            LIMIT,
            HYST,
        );
        assert_eq!(
            (c.source, c.reason, c.switched),
            (
                Source::Secondary,
                Reason::PrimaryLate {
                    lag_seconds: Some(126),
                    limit_seconds: 125
                },
                true
            )
        );
        // No bar at all while one is due is late too.
        let mut s = FeedSource::default();
        let none = PrimaryReading {
            newest_close: None,
            ..healthy(t(1))
        };
        assert_eq!(s.observe(t(1), none, LIMIT, HYST).source, Source::Secondary);
    }

    #[test]
    fn a_quiet_market_is_not_late() {
        let mut s = FeedSource::default();
        let closed = PrimaryReading {
            newest_close: Some(t(-600)),
            bar_due: false,
            ..healthy(t(1))
        };
        let c = s.observe(t(1), closed, LIMIT, HYST);
        assert_eq!((c.source, c.reason), (Source::Primary, Reason::NoBarDue));
    }

    #[test]
    fn recovered_but_not_healthy_long_enough_stays_then_returns_after_the_hysteresis() {
        let mut s = FeedSource::default();
        let down = PrimaryReading {
            answered: false,
            ..healthy(t(0))
        };
        assert!(s.observe(t(0), down, LIMIT, HYST).switched);
        // Healthy from minute 1: minutes 1..5 stay on the secondary.
        for m in 1..6 {
            let c = s.observe(t(m), healthy(t(m)), LIMIT, HYST);
            assert_eq!(
                (c.source, c.switched),
                (Source::Secondary, false),
                "minute {m}"
            );
            assert_eq!(
                c.reason,
                Reason::Recovering {
                    healthy_seconds: (m - 1) * 60,
                    hysteresis_seconds: 300
                }
            );
        }
        let c = s.observe(t(6), healthy(t(6)), LIMIT, HYST);
        assert_eq!(
            (c.source, c.reason, c.switched),
            (
                Source::Primary,
                Reason::Recovered {
                    healthy_seconds: 300
                },
                true
            )
        );
    }

    #[test]
    fn a_relapse_restarts_the_healthy_streak() {
        let mut s = FeedSource::default();
        let down = PrimaryReading {
            answered: false,
            ..healthy(t(0))
        };
        s.observe(t(0), down, LIMIT, HYST);
        s.observe(t(1), healthy(t(1)), LIMIT, HYST);
        s.observe(t(4), down, LIMIT, HYST);
        // Healthy again at 5: 6 minutes after the first healthy read, but only 1 of the streak.
        assert_eq!(
            s.observe(t(5), healthy(t(5)), LIMIT, HYST).source,
            Source::Secondary
        );
        assert_eq!(
            s.observe(t(9), healthy(t(9)), LIMIT, HYST).source,
            Source::Secondary
        );
        assert_eq!(
            s.observe(t(10), healthy(t(10)), LIMIT, HYST).source,
            Source::Primary
        );
    }

    #[test]
    fn a_restored_state_continues_the_streak_it_was_recorded_with() {
        // Failed over at 0, healthy from 1: recorded, then a restarted node restores it.
        let mut s = FeedSource::default();
        let down = PrimaryReading {
            answered: false,
            ..healthy(t(0))
        };
        s.observe(t(0), down, LIMIT, HYST);
        s.observe(t(1), healthy(t(1)), LIMIT, HYST);
        let mut restored = FeedSource::restore(s.current(), s.healthy_since());
        assert_eq!(restored, s);
        // The streak carries over: back at 6, not 5 minutes after the restart.
        assert_eq!(
            restored.observe(t(5), healthy(t(5)), LIMIT, HYST).source,
            Source::Secondary
        );
        let c = restored.observe(t(6), healthy(t(6)), LIMIT, HYST);
        assert_eq!((c.source, c.switched), (Source::Primary, true));
        // On the primary a recorded streak means nothing.
        assert_eq!(
            FeedSource::restore(Source::Primary, Some(t(1))),
            FeedSource::default()
        );
    }

    #[test]
    fn bars_are_due_only_in_an_open_session() {
        let cal = HolidayCalendar::default();
        assert!(bar_due(&cal, t(10), Timeframe::M1, LIMIT));
        // 16:00–17:00 CT daily halt: 16:30 CT is 22:30 UTC on 2026-11-17.
        let halt = Utc.with_ymd_and_hms(2026, 11, 17, 22, 30, 0).unwrap();
        assert!(!bar_due(&cal, halt, Timeframe::M1, LIMIT));
        // One minute after the reopen the window still reaches into the halt.
        let reopen = Utc.with_ymd_and_hms(2026, 11, 17, 23, 1, 0).unwrap();
        assert!(!bar_due(&cal, reopen, Timeframe::M1, LIMIT));
    }

    #[test]
    fn the_window_origin_names_the_newest_bar_and_marks_mixes() {
        let o = |p: &'static str, c: &str| BarOrigin {
            provider: p,
            contract: Contract::parse(c).unwrap(),
        };
        assert_eq!(window_origin(&[]), None);
        let same = [o("databento", "ESZ26"), o("databento", "ESZ26")];
        assert_eq!(
            window_origin(&same),
            Some(WindowOrigin {
                bar_source: "databento",
                bar_contract: Contract::parse("ESZ26").unwrap(),
                mixed_sources: false,
                mixed_contracts: false,
                rolled_from: None,
            })
        );
        let mixed = [o("databento", "ESZ26"), o("polygon", "ESZ26")];
        let v = window_origin(&mixed).unwrap();
        assert_eq!(v.bar_source, "polygon");
        assert!(v.mixed_sources && !v.mixed_contracts);
        let rolled = [o("databento", "ESZ26"), o("databento", "ESH27")];
        assert!(window_origin(&rolled).unwrap().mixed_contracts);
        // A mix in the middle of the window counts as much as one at either end.
        let between = [
            o("databento", "ESZ26"),
            o("polygon", "ESH27"),
            o("databento", "ESZ26"),
        ];
        let v = window_origin(&between).unwrap();
        assert!(v.mixed_sources && v.mixed_contracts);
        assert_eq!(v.bar_source, "databento");
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(
            json["bar_contract"], "ESZ26",
            "stored as the contract's code"
        );
    }

    #[test]
    fn a_roll_is_marked_on_the_first_evaluation_of_the_new_contract() {
        let c = |code: &str| Contract::parse(code).unwrap();
        let o = |code: &str| BarOrigin {
            provider: "databento",
            contract: c(code),
        };
        let mut v = window_origin(&[o("ESH27"), o("ESH27")]).unwrap();
        v.mark_roll(Some(c("ESZ26")));
        assert_eq!(v.rolled_from, Some(c("ESZ26")));
        assert!(!v.mixed_contracts, "the new contract's own window");
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["rolled_from"], "ESZ26");
        for previous in [Some(c("ESH27")), None] {
            v.mark_roll(previous);
            assert_eq!(v.rolled_from, None);
            assert!(
                serde_json::to_value(&v)
                    .unwrap()
                    .get("rolled_from")
                    .is_none()
            );
        }
    }
}
