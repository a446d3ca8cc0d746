//! Alert routing (issue 20 part 3): which system events are posted to Discord. An operator
//! picks the severities; kills (every way a bot or all of them get killed) may be posted
//! whatever their severity. The alerts task applies [`AlertRouting::routes`] (its poll's SQL
//! the same rule) to every event it reads.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The severities, most severe first (the names `system_events.severity` stores).
pub const SEVERITIES: [&str; 4] = ["SEV-1", "SEV-2", "SEV-3", "INFO"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AlertRouting {
    /// Severities posted to Discord, most severe first (may be empty: only kills, or nothing).
    pub severities: Vec<String>,
    /// Post kills (`BOT_KILLED`, `RISK_KILL_TRIGGER`, `SUPERVISION_KILL_TRIGGER`,
    /// `KILL_SWITCH_ACTIVATED`) whatever their severity.
    pub kills: bool,
}

impl Default for AlertRouting {
    /// What was posted before routing existed: SEV-1 and kills.
    fn default() -> Self {
        AlertRouting {
            severities: vec!["SEV-1".to_owned()],
            kills: true,
        }
    }
}

impl AlertRouting {
    /// A routing from what an operator sent: each severity one of [`SEVERITIES`] (repeats
    /// dropped, put in severity order).
    pub fn new(severities: &[String], kills: bool) -> Result<Self, String> {
        if let Some(bad) = severities
            .iter()
            .find(|s| !SEVERITIES.contains(&s.as_str()))
        {
            return Err(format!(
                "`{bad}` is not a severity; use SEV-1, SEV-2, SEV-3 or INFO"
            ));
        }
        Ok(AlertRouting {
            severities: SEVERITIES
                .iter()
                .filter(|s| severities.iter().any(|x| x == *s))
                .map(|s| (*s).to_owned())
                .collect(),
            kills,
        })
    }

    /// Whether an event of `severity` (a kill or not) is posted.
    pub fn routes(&self, severity: &str, is_kill: bool) -> bool {
        self.severities.iter().any(|s| s == severity) || (self.kills && is_kill)
    }

    /// One line for people: "SEV-1, SEV-2 and kills".
    pub fn describe(&self) -> String {
        let mut parts = self.severities.clone();
        if self.kills {
            parts.push("kills of any severity".to_owned());
        }
        if parts.is_empty() {
            "nothing (alerts are routed nowhere)".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn severities_are_checked_deduplicated_and_ordered() {
        let r = AlertRouting::new(&s(&["INFO", "SEV-2", "SEV-2"]), false).unwrap();
        assert_eq!(r.severities, s(&["SEV-2", "INFO"]));
        let err = AlertRouting::new(&s(&["SEV-1", "sev-9"]), true).unwrap_err();
        assert!(err.contains("sev-9"), "{err}");
        assert!(AlertRouting::new(&[], false).unwrap().severities.is_empty());
    }

    #[test]
    fn routing_posts_chosen_severities_and_kills_when_asked() {
        let default = AlertRouting::default();
        assert!(default.routes("SEV-1", false));
        assert!(!default.routes("SEV-2", false));
        assert!(default.routes("SEV-2", true));
        let quiet = AlertRouting::new(&s(&["SEV-2"]), false).unwrap();
        assert!(!quiet.routes("SEV-1", false));
        assert!(!quiet.routes("INFO", true));
        assert!(quiet.routes("SEV-2", false));
        assert_eq!(default.describe(), "SEV-1, kills of any severity");
        assert_eq!(
            AlertRouting::new(&[], false).unwrap().describe(),
            "nothing (alerts are routed nowhere)"
        );
    }
}
