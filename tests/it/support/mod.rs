//! The integration tests' harness: one [`TestApp`] (the real server on a random port over a
//! fresh Postgres database) with endpoint-named methods, the one request helper, and the
//! fixtures the case files share. Case files import this module only, never each other
//! (`architecture::case_files_import_only_the_support_module` enforces it).
//!
//! - [`app`]: spawning the app (`spawn_app` and its variants) and the [`TestApp`] handle.
//! - [`requests`]: the one request helper ([`TestApp::call`]) and the envelope checks.
//! - [`endpoints`]: one method per endpoint the tests call (`app.create_bot(..)`, `app.start_bot(id)`).
//! - [`session`]: signing in, users with roles, 2FA enrollment, service tokens.
//! - [`fixtures`]: configurations, provider environments, bots and orders written straight to
//!   the store, the sandbox, waiting for a condition.
//! - [`paper`]: a PAPER bot on the sandbox with replayed bar ticks.
//! - [`live`]: LIVE bots on the broker simulator (one runtime, one demo account per vendor).
//! - [`sse`]: a Server-Sent Events reader.
//! - [`backtests`]: queueing backtests, waiting for them, evidence for a bot's promotion.
//! - [`db_proxy`]: a TCP proxy in front of Postgres a test can cut (a database outage).
//! - [`cluster`]: `tradeplane serve` processes as nodes on one test database, each behind its
//!   own proxy (kill -9 and restart, SIGSTOP/SIGCONT, cut): the fault driver's cluster.
//! - [`invariants`]: what must hold in the database after node faults (stale writes, bars
//!   evaluated by two nodes, duplicate orders).
//! - [`raw`]: raw TCP connections that dawdle, trickle or count against the connection caps.

pub mod app;
pub mod backtests;
pub mod cluster;
pub mod db_proxy;
pub mod endpoints;
pub mod fixtures;
pub mod golden;
pub mod invariants;
pub mod live;
pub mod paper;
pub mod raw;
pub mod requests;
pub mod session;
pub mod sse;

pub use app::{
    TestApp, now, serve_state, spawn_admin_app, spawn_app, spawn_app_with, spawn_app_with_env,
    spawn_app_with_runtime, spawn_app_with_runtime_config,
};
pub use fixtures::{ADMIN_EMAIL, ADMIN_PASSWORD, FAKE_KEY, env_for, test_config};
pub use requests::{Reply, envelope, error_code, missed_gates};
pub use session::{SessionCookies, Signed, code_from_url, secret_from_url};
