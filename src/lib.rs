//! tradeplane: the control plane for a fleet of autonomous trading bots.
//!
//! Arrows point one way: `api → runtime → {domain, integrations, store}`; see
//! `docs/architecture.md`.

/// The allocator of every binary built on this crate (the server, its examples and tests):
/// the trading loop allocates and frees small objects at every evaluation, which glibc's
/// malloc served at ≈ 18 % of the process's CPU (docs/benchmarks.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod api;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error_code;
pub mod integrations;
pub mod logging;
pub mod observability;
pub mod runtime;
pub mod sandbox;
pub mod store;
pub mod trace;
