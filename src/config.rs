//! One typed configuration from flags, the environment and `.env` (flags win, then the
//! environment, then `.env`, then defaults). Secrets are wrapped so they never print.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, ValueEnum};

use crate::domain::execution::SimParams;

mod values;

pub use values::{Cidr, EncKey, EncKeyBytes, Secret, parse_duration};
use values::{parse_commission, parse_flag};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The settings shared by every subcommand.
#[derive(Args, Clone, Debug)]
pub struct ConfigArgs {
    /// Postgres connection URL. Unset: tradeplane runs a private cluster from the system's
    /// PostgreSQL binaries under the data dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Address the HTTP server listens on (port 0 picks a free port).
    #[arg(
        long,
        env = "TRADEPLANE_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

    /// Folder for local state: the embedded Postgres cluster and the instance lock.
    #[arg(
        long,
        env = "TRADEPLANE_DATA_DIR",
        default_value = "./.tradeplane",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Log line format.
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Folder of the built Observatory web app (its index.html is served at `/`).
    #[arg(
        long,
        env = "TRADEPLANE_WEB_DIR",
        default_value = "web/dist",
        global = true
    )]
    pub web_dir: PathBuf,

    /// `1` drops the `Secure` flag (and the `__Host-` prefix, which requires it) from the
    /// session and CSRF cookies, for plain-http development on localhost and tests.
    #[arg(long, env = "TRADEPLANE_INSECURE_COOKIES", default_value = "0", value_parser = parse_flag, global = true)]
    pub insecure_cookies: bool,

    /// PAPER fills: ticks of slippage against every simulated fill.
    #[arg(
        long,
        env = "TRADEPLANE_PAPER_SLIPPAGE_TICKS",
        default_value_t = 1,
        global = true
    )]
    pub paper_slippage_ticks: u32,

    /// PAPER fills: commission in USD per contract per fill.
    #[arg(long, env = "TRADEPLANE_PAPER_COMMISSION", default_value = "2.25", value_parser = parse_commission, global = true)]
    pub paper_commission: rust_decimal::Decimal,

    /// Most child backtests one sweep may create (combinations × walk-forward windows);
    /// a larger sweep is refused with VALIDATION_FAILED.
    #[arg(long, env = "TRADEPLANE_SWEEP_MAX_BACKTESTS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000), global = true)]
    pub sweep_max_backtests: u64,

    /// PAPER → SHADOW: fewest CME sessions with a closed PAPER trade (and SHADOW → LIVE of
    /// SHADOW trades: each threshold here is asked of both promotions).
    #[arg(
        long,
        env = "TRADEPLANE_SHADOW_MIN_PAPER_SESSIONS",
        default_value_t = 5,
        global = true
    )]
    pub shadow_min_paper_sessions: u64,

    /// PAPER → SHADOW: fewest closed PAPER trades.
    #[arg(
        long,
        env = "TRADEPLANE_SHADOW_MIN_PAPER_TRADES",
        default_value_t = 10,
        global = true
    )]
    pub shadow_min_paper_trades: u64,

    /// PAPER → SHADOW: lowest profit factor of the PAPER trades.
    #[arg(
        long,
        env = "TRADEPLANE_SHADOW_MIN_PROFIT_FACTOR",
        default_value_t = 1.0,
        global = true
    )]
    pub shadow_min_profit_factor: f64,

    /// PAPER → SHADOW: lowest net PnL of the PAPER trades, USD.
    #[arg(
        long,
        env = "TRADEPLANE_SHADOW_MIN_NET_PNL",
        default_value = "0",
        global = true
    )]
    pub shadow_min_net_pnl: rust_decimal::Decimal,

    /// Minutes of inactivity after which a session ends.
    #[arg(
        long,
        env = "TRADEPLANE_SESSION_IDLE_MINUTES",
        default_value_t = 15,
        global = true
    )]
    pub session_idle_minutes: u32,

    /// Hours after login at which a session ends regardless of activity.
    #[arg(
        long,
        env = "TRADEPLANE_SESSION_ABSOLUTE_HOURS",
        default_value_t = 12,
        global = true
    )]
    pub session_absolute_hours: u32,

    /// Minutes a 2FA step-up stays valid for LIVE promotion, the kill switch and the trading switch.
    #[arg(
        long,
        env = "TRADEPLANE_STEP_UP_MINUTES",
        default_value_t = 10,
        global = true
    )]
    pub step_up_minutes: u32,

    /// Reverse proxies (comma-separated CIDRs, e.g. `10.0.0.0/8,::1/128`) whose
    /// `X-Forwarded-For` names the client address. Empty: the direct peer is the client.
    #[arg(
        long,
        env = "TRADEPLANE_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<Cidr>,

    /// Host names (comma-separated, e.g. `desk.example.com`) under which the first admin may
    /// be created, besides IP addresses and `localhost` (DNS rebinding: `auth::hosts`).
    #[arg(
        long,
        env = "TRADEPLANE_ALLOWED_HOSTS",
        value_delimiter = ',',
        global = true
    )]
    pub allowed_hosts: Vec<String>,

    /// Failed sign-in attempts per minute, over all addresses, before every sign-in from an
    /// address not used by that account before is slowed down (2, 4, 8 … s until the minute ends).
    #[arg(
        long,
        env = "TRADEPLANE_LOGIN_FAILURE_BUDGET",
        default_value_t = 60,
        global = true
    )]
    pub login_failure_budget: u32,

    /// This process's node name when several `serve` processes share one database (default
    /// `<host>:<port>`; a restart under the same name takes its bots back at once).
    #[arg(long, env = "TRADEPLANE_NODE_NAME", global = true)]
    pub node_name: Option<String>,

    /// This node's relative share of the bots (a node with 2 takes twice the share of a 1).
    #[arg(long, env = "TRADEPLANE_NODE_CAPACITY", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub node_capacity: u32,

    /// Seconds a bot lease (and a node's liveness) lasts without renewal; another node takes
    /// the bots of a node silent this long.
    #[arg(long, env = "TRADEPLANE_LEASE_TTL_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=3600), global = true)]
    pub lease_ttl_seconds: u64,
    /// How long the first admin (the oldest account) may work without 2FA after its creation,
    /// e.g. `0` (none, the default), `30m`, `24h`, `7d`. Admins and operators without 2FA can
    /// otherwise only enroll; step-up actions need 2FA even inside the grace.
    #[arg(
        long,
        env = "TRADEPLANE_FIRST_ADMIN_2FA_GRACE",
        default_value = "0",
        value_parser = parse_duration,
        global = true
    )]
    pub first_admin_2fa_grace: chrono::Duration,
    /// How long the primary market-data provider must be healthy again before the bar feed
    /// returns to it from the secondary (hysteresis), e.g. `5m` (the default), `90s`.
    #[arg(
        long,
        env = "TRADEPLANE_FEED_FAILBACK_AFTER",
        default_value = "5m",
        value_parser = parse_duration,
        global = true
    )]
    pub feed_failback_after: chrono::Duration,

    /// How long a bar read waits for the primary market-data provider before the secondary
    /// serves that boundary (a hanging vendor), e.g. `5s` (the default).
    #[arg(
        long,
        env = "TRADEPLANE_FEED_PRIMARY_DEADLINE",
        default_value = "5s",
        value_parser = parse_duration,
        global = true
    )]
    pub feed_primary_deadline: chrono::Duration,

    /// Seconds a client may take to send a request's headers once it has started one; then
    /// the connection is closed (slow-loris defence).
    #[arg(long, env = "TRADEPLANE_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    pub header_read_timeout_seconds: u64,

    /// Seconds a connection may stay open with no request in progress (a fresh connection
    /// that sends nothing, or a kept-alive one between requests); then it is closed.
    #[arg(long, env = "TRADEPLANE_IDLE_TIMEOUT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub idle_timeout_seconds: u64,

    /// Open HTTP connections over all clients; one more is answered `RATE_LIMITED` and closed.
    #[arg(long, env = "TRADEPLANE_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000), global = true)]
    pub max_connections: u64,

    /// Open HTTP connections from one address (trusted proxies are exempt: they carry many
    /// clients); one more is answered `RATE_LIMITED` and closed.
    #[arg(long, env = "TRADEPLANE_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1_000_000), global = true)]
    pub max_connections_per_address: u64,

    /// Open `/api/events/stream` connections per session (or service token); one more is
    /// refused with `RATE_LIMITED`.
    #[arg(long, env = "TRADEPLANE_MAX_EVENT_STREAMS_PER_SESSION", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=10_000), global = true)]
    pub max_event_streams_per_session: u64,

    /// `1`: turning the global trading switch off (or a LIVE bot's own switch) also cancels
    /// the working LIVE orders of the bots it stops (`runtime::safety`); `0`: it only stops new
    /// LIVE orders at each bot's next evaluation.
    #[arg(long, env = "TRADEPLANE_TRADING_OFF_CANCELS", default_value = "1", value_parser = parse_flag, global = true)]
    pub trading_off_cancels: bool,

    /// Circuit breakers (SPEC §2; every runner's and provider's): failures within the window
    /// that open one, the window in minutes, and seconds open before a probe is admitted.
    #[arg(long, env = "TRADEPLANE_BREAKER_FAILURES", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1_000), global = true)]
    pub breaker_failures: u32,
    #[arg(long, env = "TRADEPLANE_BREAKER_WINDOW_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=10_080), global = true)]
    pub breaker_window_minutes: u64,
    #[arg(long, env = "TRADEPLANE_BREAKER_COOLDOWN_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub breaker_cooldown_secs: u64,

    /// Seconds between the leader's broker reconciliation runs (each broker account's
    /// positions and working orders against the ledger; `runtime::reconciliation`).
    #[arg(long, env = "TRADEPLANE_RECONCILE_EVERY_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub reconcile_every_secs: u64,

    /// Seconds between a broker session's heartbeats (one cheap vendor read each, counted on
    /// the provider's breaker; `runtime::broker_sessions`).
    #[arg(long, env = "TRADEPLANE_BROKER_HEARTBEAT_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3_600), global = true)]
    pub broker_heartbeat_secs: u64,

    /// Cancel-on-disconnect: a broker session lost for at least this many seconds has its
    /// account's working orders cancelled at reconnect and its LIVE bots held until the account
    /// reconciles clean (`runtime::broker_sessions`).
    #[arg(long, env = "TRADEPLANE_CANCEL_ON_DISCONNECT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub cancel_on_disconnect_secs: u64,

    /// Minutes between the leader's macro-data refreshes (FMP economic calendar, FRED series;
    /// `runtime::macro_data`).
    #[arg(long, env = "TRADEPLANE_MACRO_REFRESH_MINUTES", default_value_t = 180, value_parser = clap::value_parser!(u64).range(1..=10_080), global = true)]
    pub macro_refresh_minutes: u64,

    /// Days ahead each economic-calendar refresh covers.
    #[arg(long, env = "TRADEPLANE_ECONOMIC_CALENDAR_DAYS", default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=90), global = true)]
    pub economic_calendar_days: u32,

    /// Days of usage events kept (whole UTC days; older days are dropped by the leader). The
    /// autonomy scorer reads the last 24 h, so at least 2.
    #[arg(long, env = "TRADEPLANE_USAGE_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(2..=3650), global = true)]
    pub usage_retention_days: u32,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: Option<Secret>,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub web_dir: PathBuf,
    pub enc_key: EncKey,
    pub auth: AuthConfig,
    /// Peers whose `X-Forwarded-For` is believed (`api::client_addr`).
    pub trusted_proxies: Vec<Cidr>,
    /// How PAPER orders are filled.
    pub paper: SimParams,
    /// This process as a node of a cluster on one database.
    pub node: NodeConfig,
    /// Hysteresis of the bar feed's return to the primary provider (`runtime::feed`).
    pub feed_failback_after: chrono::Duration,
    /// How long a read waits for the primary provider before the secondary serves (`runtime::feed`).
    pub feed_primary_deadline: std::time::Duration,
    /// Most child backtests one sweep may create.
    pub sweep_max_backtests: u64,
    /// What PAPER → SHADOW asks of a bot's PAPER trades and SHADOW → LIVE of its SHADOW ones.
    pub shadow_gate: crate::domain::backtest::evidence::ResultsThresholds,
    /// Timeouts and caps of the HTTP accept loop (`api::server`).
    pub connections: ConnectionLimits,
    /// Turning trading off also cancels working LIVE orders (`TRADEPLANE_TRADING_OFF_CANCELS`).
    pub trading_off_cancels: bool,
    /// Every breaker's rule (`TRADEPLANE_BREAKER_*`).
    pub breaker: tradeplane_actors::breaker::BreakerConfig,
    /// The leader's periodic broker reconciliation (`TRADEPLANE_RECONCILE_EVERY_SECS`).
    pub reconcile_every: std::time::Duration,
    /// Broker heartbeats (`TRADEPLANE_BROKER_HEARTBEAT_SECS`) and cancel-on-disconnect
    /// (`TRADEPLANE_CANCEL_ON_DISCONNECT_SECS`).
    pub broker_heartbeat_every: std::time::Duration,
    pub cancel_on_disconnect_after: std::time::Duration,
    /// Between the leader's macro-data refreshes (`TRADEPLANE_MACRO_REFRESH_MINUTES`).
    pub macro_refresh_every: std::time::Duration,
    /// Days ahead a calendar refresh covers (`TRADEPLANE_ECONOMIC_CALENDAR_DAYS`).
    pub economic_calendar_days: u32,
    /// Days of usage events kept (`TRADEPLANE_USAGE_RETENTION_DAYS`).
    pub usage_retention_days: u32,
}

/// How long connections may dawdle and how many may be open (see docs/architecture.md,
/// "Connection limits").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From a request's first byte to the end of its headers.
    pub header_read_timeout: std::time::Duration,
    /// With no request in progress (before the first, between kept-alive ones).
    pub idle_timeout: std::time::Duration,
    pub max_connections: usize,
    /// Per direct peer address; trusted proxies are exempt.
    pub max_per_address: usize,
    /// Open event streams per session or service token (`api::stream_slots`).
    pub max_event_streams: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(60),
            max_connections: 1024,
            max_per_address: 64,
            max_event_streams: 4,
        }
    }
}

/// Name, capacity and lease TTL of this node (see `runtime::ownership`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// `None`: `<host>:<port of the bind address>`.
    pub name: Option<String>,
    pub capacity: u32,
    pub lease_ttl: std::time::Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            name: None,
            capacity: 1,
            lease_ttl: std::time::Duration::from_secs(10),
        }
    }
}

/// Session and cookie policy (see docs/architecture.md, "Auth").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    pub insecure_cookies: bool,
    pub session_idle: chrono::Duration,
    pub session_absolute: chrono::Duration,
    pub step_up_window: chrono::Duration,
    /// Failed sign-ins per minute from unknown addresses before delays (`auth::throttle`).
    pub login_failure_budget: u32,
    /// How long after its creation the first admin may work without 2FA (`auth::policy`).
    pub first_admin_2fa_grace: chrono::Duration,
    /// Host names besides IP addresses and `localhost` that may create the first admin
    /// (`auth::hosts`).
    pub allowed_hosts: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            insecure_cookies: false,
            session_idle: chrono::Duration::minutes(15),
            session_absolute: chrono::Duration::hours(12),
            step_up_window: chrono::Duration::minutes(10),
            login_failure_budget: 60,
            first_admin_2fa_grace: chrono::Duration::zero(),
            allowed_hosts: Vec::new(),
        }
    }
}

impl Config {
    /// Builds the config from parsed flags; `APP_ENC_KEY` is read from the environment only
    /// (a secret on the command line would show in `ps`).
    pub fn from_args(args: ConfigArgs) -> Self {
        Config {
            database_url: args
                .database_url
                .filter(|s| !s.trim().is_empty())
                .map(Secret::new),
            bind: args.bind,
            data_dir: args.data_dir,
            log_format: args.log_format,
            web_dir: args.web_dir,
            enc_key: EncKey::parse(std::env::var("APP_ENC_KEY").ok().as_deref()),
            auth: AuthConfig {
                insecure_cookies: args.insecure_cookies,
                session_idle: chrono::Duration::minutes(i64::from(
                    args.session_idle_minutes.max(1),
                )),
                session_absolute: chrono::Duration::hours(i64::from(
                    args.session_absolute_hours.max(1),
                )),
                step_up_window: chrono::Duration::minutes(i64::from(args.step_up_minutes.max(1))),
                login_failure_budget: args.login_failure_budget.max(1),
                first_admin_2fa_grace: args.first_admin_2fa_grace,
                allowed_hosts: args
                    .allowed_hosts
                    .into_iter()
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
                    .collect(),
            },
            trusted_proxies: args.trusted_proxies,
            paper: SimParams {
                slippage_ticks: args.paper_slippage_ticks,
                commission_per_contract: args.paper_commission,
            },
            node: NodeConfig {
                name: args
                    .node_name
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty()),
                capacity: args.node_capacity,
                lease_ttl: std::time::Duration::from_secs(args.lease_ttl_seconds),
            },
            feed_failback_after: args.feed_failback_after,
            feed_primary_deadline: args
                .feed_primary_deadline
                .to_std()
                .unwrap_or_default()
                .max(std::time::Duration::from_millis(100)),
            trading_off_cancels: args.trading_off_cancels,
            breaker: tradeplane_actors::breaker::BreakerConfig {
                failure_threshold: args.breaker_failures,
                window: std::time::Duration::from_secs(args.breaker_window_minutes * 60),
                cool_down: std::time::Duration::from_secs(args.breaker_cooldown_secs),
                ..Default::default()
            },
            reconcile_every: std::time::Duration::from_secs(args.reconcile_every_secs),
            broker_heartbeat_every: std::time::Duration::from_secs(args.broker_heartbeat_secs),
            cancel_on_disconnect_after: std::time::Duration::from_secs(
                args.cancel_on_disconnect_secs,
            ),
            macro_refresh_every: std::time::Duration::from_secs(args.macro_refresh_minutes * 60),
            economic_calendar_days: args.economic_calendar_days,
            usage_retention_days: args.usage_retention_days,
            sweep_max_backtests: args.sweep_max_backtests,
            shadow_gate: crate::domain::backtest::evidence::ResultsThresholds {
                min_sessions: args.shadow_min_paper_sessions,
                min_trades: args.shadow_min_paper_trades,
                min_profit_factor: args.shadow_min_profit_factor,
                min_net_pnl: args.shadow_min_net_pnl,
            },
            connections: ConnectionLimits {
                header_read_timeout: std::time::Duration::from_secs(
                    args.header_read_timeout_seconds,
                ),
                idle_timeout: std::time::Duration::from_secs(args.idle_timeout_seconds),
                max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
                max_per_address: usize::try_from(args.max_connections_per_address)
                    .unwrap_or(usize::MAX),
                max_event_streams: usize::try_from(args.max_event_streams_per_session)
                    .unwrap_or(usize::MAX),
            },
        }
    }
}

impl Default for Config {
    /// The documented defaults, with no database URL and no key.
    fn default() -> Self {
        Config {
            database_url: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./.tradeplane"),
            log_format: LogFormat::Text,
            web_dir: PathBuf::from("web/dist"),
            enc_key: EncKey::Missing,
            auth: AuthConfig::default(),
            trusted_proxies: Vec::new(),
            paper: SimParams::default(),
            node: NodeConfig::default(),
            feed_failback_after: chrono::Duration::minutes(5),
            feed_primary_deadline: std::time::Duration::from_secs(5),
            trading_off_cancels: true,
            breaker: Default::default(),
            reconcile_every: std::time::Duration::from_secs(60),
            broker_heartbeat_every: std::time::Duration::from_secs(15),
            cancel_on_disconnect_after: std::time::Duration::from_secs(30),
            macro_refresh_every: std::time::Duration::from_secs(180 * 60),
            economic_calendar_days: 14,
            usage_retention_days: 30,
            sweep_max_backtests: 1000,
            shadow_gate: crate::domain::backtest::evidence::ResultsThresholds::default(),
            connections: ConnectionLimits::default(),
        }
    }
}

/// A Postgres URL with its password masked, for logs and `doctor`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    // Query parameters may carry a password too (`?password=…`).
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
