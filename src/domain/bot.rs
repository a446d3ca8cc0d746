//! A bot's lifecycle status (SPEC §2): what the runtime, the `bots` table and the API share.

use serde::{Deserialize, Serialize};

/// SPEC §2 bot status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BotStatus {
    Stopped,
    Starting,
    Running,
    Suspended,
    Restarting,
    Killed,
    Error,
}

impl BotStatus {
    pub const ALL: [BotStatus; 7] = [
        BotStatus::Stopped,
        BotStatus::Starting,
        BotStatus::Running,
        BotStatus::Suspended,
        BotStatus::Restarting,
        BotStatus::Killed,
        BotStatus::Error,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            BotStatus::Stopped => "STOPPED",
            BotStatus::Starting => "STARTING",
            BotStatus::Running => "RUNNING",
            BotStatus::Suspended => "SUSPENDED",
            BotStatus::Restarting => "RESTARTING",
            BotStatus::Killed => "KILLED",
            BotStatus::Error => "ERROR",
        }
    }

    pub fn parse(raw: &str) -> Option<BotStatus> {
        BotStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// A runner instance exists or is about to.
    pub const fn is_live(self) -> bool {
        matches!(
            self,
            BotStatus::Starting | BotStatus::Running | BotStatus::Restarting | BotStatus::Suspended
        )
    }
}

impl std::fmt::Display for BotStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
