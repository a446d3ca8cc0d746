//! The command line: `serve`, `migrate`, `doctor`, `db`, `error-codes`.

mod admin;
mod db;
mod doctor;
mod node;
mod sandbox;
mod serve;

use std::io::Write;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::{
    config::{Config, ConfigArgs},
    error_code,
};

const ENV_HELP: &str = "\
Environment (also read from ./.env; flags win over the environment):
  DATABASE_URL          Postgres URL; unset → embedded cluster under TRADEPLANE_DATA_DIR
  TRADEPLANE_BIND       listen address (default 127.0.0.1:8080)
  TRADEPLANE_DATA_DIR   local state folder (default ./.tradeplane)
  TRADEPLANE_WEB_DIR    built web app folder (default web/dist)
  LOG_FORMAT            text | json (default text); RUST_LOG sets levels
  APP_ENC_KEY           32 bytes (base64 or hex) encrypting 2FA secrets; env only, never a flag
  TRADEPLANE_PG_BIN     folder with initdb/pg_ctl (default: newest /usr/lib/postgresql/N/bin, then PATH)
  TRADEPLANE_INSECURE_COOKIES  1 drops Secure/__Host- from auth cookies (plain-http dev only; default 0)
  TRADEPLANE_SESSION_IDLE_MINUTES / TRADEPLANE_SESSION_ABSOLUTE_HOURS / TRADEPLANE_STEP_UP_MINUTES
                        session idle (30) and absolute (12 h) timeouts, step-up window (10)
  TRADEPLANE_FIRST_ADMIN_2FA_GRACE  how long the first admin may work without 2FA after its
                        creation: 0 (default), 30m, 24h, 7d; other admins/operators never
  TRADEPLANE_TRUSTED_PROXIES  CIDRs of reverse proxies whose X-Forwarded-For is believed (default none)
  TRADEPLANE_LOGIN_FAILURE_BUDGET  failed sign-ins per minute before new addresses are slowed (60)
  TRADEPLANE_FEED_FAILBACK_AFTER  how long the primary bars vendor must be healthy before the
                        feed returns to it from the secondary: 5m (default), 90s, …
  TRADEPLANE_PG_USER    unprivileged owner of the embedded cluster when run as root (default postgres)
  TRADEPLANE_CLOCK_START  test stacks only (`serve`, `sandbox`): the clock starts at this RFC 3339
                        instant and runs at wall speed; `serve` refuses it while any provider
                        reaches a real vendor
  Provider keys         e.g. DATABENTO_API_KEY, POLYGON_API_KEY, OPENAI_API_KEY (`doctor` lists all);
                        <ID>_BASE_URL points a provider elsewhere (sandbox); see .env.sandbox";

#[derive(Parser, Debug)]
#[command(
    name = "tradeplane",
    version,
    about = "Control plane for a fleet of autonomous trading bots",
    after_help = ENV_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run migrations and serve the API and the Observatory until SIGINT/SIGTERM.
    Serve {
        #[command(flatten)]
        clock: ClockArgs,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Report which configuration is present or missing (never secret values) and check the database.
    Doctor,
    /// Manage the embedded Postgres cluster under the data dir.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// Serve a local simulator of every provider endpoint (see .env.sandbox); no keys needed.
    Sandbox {
        /// HTTP address of the vendor simulator.
        #[arg(long, default_value = "127.0.0.1:9400")]
        listen: std::net::SocketAddr,
        /// Address of the Redis (RESP) simulator.
        #[arg(long, default_value = "127.0.0.1:9401")]
        redis_listen: std::net::SocketAddr,
        /// Address of Databento's live gateway simulator (raw TCP, CRAM, DBN).
        #[arg(long, default_value = "127.0.0.1:9402")]
        live_listen: std::net::SocketAddr,
        #[command(flatten)]
        clock: ClockArgs,
    },
    /// Manage user accounts from the shell (bootstrap the first admin).
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Act on the nodes sharing this database.
    Node {
        #[command(subcommand)]
        action: NodeAction,
    },
    /// Print the error-code catalog.
    ErrorCodes {
        /// Markdown table (the source of docs/error-codes.md) instead of JSON.
        #[arg(long)]
        markdown: bool,
    },
    /// Print the OpenAPI document of /api/openapi.json, with default cookie settings (the web
    /// app's API types are generated from it).
    Openapi,
}

/// Where a test stack's time starts (a server and its sandbox take the same).
#[derive(Args, Debug, Clone, Copy)]
pub struct ClockArgs {
    /// Test stacks only: start the clock at this instant (RFC 3339, e.g.
    /// 2026-11-28T12:00:00Z) and run it at wall speed from there. `serve` refuses it while any
    /// configured provider reaches a real vendor.
    #[arg(long, env = "TRADEPLANE_CLOCK_START", value_name = "RFC3339")]
    pub clock_start: Option<DateTime<Utc>>,
    /// Test stacks only: run the clock this many milliseconds ahead of (or, negative, behind)
    /// wall time. Unlike `--clock-start`, processes started at different moments with one
    /// offset read the same time (a cluster of nodes). Same refusal as `--clock-start`.
    #[arg(
        long,
        env = "TRADEPLANE_CLOCK_OFFSET_MS",
        value_name = "MS",
        conflicts_with = "clock_start",
        allow_hyphen_values = true
    )]
    pub clock_offset_ms: Option<i64>,
}

impl ClockArgs {
    /// The system clock, or one shifted by `--clock-start` or `--clock-offset-ms`.
    pub fn clock(self) -> crate::clock::Clock {
        match (self.clock_start, self.clock_offset_ms) {
            (Some(start), _) => crate::clock::Clock::starting_at(start),
            (None, Some(ms)) => crate::clock::Clock::offset(chrono::TimeDelta::milliseconds(ms)),
            (None, None) => crate::clock::Clock::system(),
        }
    }

    /// How the clock is shifted, for the warnings and the `CLOCK_SHIFTED` event (`None`: real
    /// time).
    pub fn shifted(self) -> Option<String> {
        match (self.clock_start, self.clock_offset_ms) {
            (Some(start), _) => Some(format!("started at {}", start.to_rfc3339())),
            (None, Some(ms)) => Some(format!("offset by {ms} ms from wall time")),
            (None, None) => None,
        }
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum AdminAction {
    /// Create a user (default role admin). The password is prompted for on a terminal, or
    /// read as the first line of stdin otherwise (`echo "$PW" | tradeplane admin create …`).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "admin", value_parser = ["viewer", "operator", "admin"])]
        role: String,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum NodeAction {
    /// Hand the node's bots to the other nodes (before stopping it for an upgrade); it claims
    /// none until it restarts.
    Drain {
        /// The node's name, as GET /api/nodes lists it.
        name: String,
    },
}

#[derive(Subcommand, Debug, Clone, Copy)]
pub enum DbAction {
    /// Start (creating on first use) the cluster and print its DATABASE_URL; it keeps running.
    Start,
    /// Stop the cluster.
    Stop,
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::from_args(cli.config);
    match cli.command {
        Command::Serve { clock } => serve::run(config, clock).await.map(|()| ExitCode::SUCCESS),
        Command::Migrate => serve::migrate_only(config)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Doctor => doctor::run(&config).await,
        Command::Admin { action } => admin::run(config, action).await.map(|()| ExitCode::SUCCESS),
        Command::Node { action } => node::run(config, action).await.map(|()| ExitCode::SUCCESS),
        Command::Db { action } => db::run(&config, action).await.map(|()| ExitCode::SUCCESS),
        Command::Sandbox {
            listen,
            redis_listen,
            live_listen,
            clock,
        } => sandbox::run(listen, redis_listen, live_listen, clock)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Openapi => {
            // Default cookie settings, so the generated web types never depend on the shell.
            let spec = crate::api::openapi_document(&crate::config::AuthConfig::default());
            // An error, not a panic, when stdout closes early (`tradeplane openapi | head`).
            writeln!(std::io::stdout().lock(), "{}", spec.to_pretty_json()?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ErrorCodes { markdown } => {
            if markdown {
                print!("{}", error_code::catalog_markdown());
            } else {
                let codes: Vec<_> = error_code::ErrorCode::ALL
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "code": c.as_str(),
                            "http_status": c.status().as_u16(),
                            "message": c.message(),
                            "suggested_fix": c.suggested_fix(),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&codes)?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
