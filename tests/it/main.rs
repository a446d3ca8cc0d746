//! Integration tests: the real server on a random port against a fresh Postgres database.
//! Case files use `support` (the harness) only, never each other.

mod support;

mod ai_ops;
mod alerts;
mod architecture;
mod auth_2fa;
mod auth_2fa_required;
mod auth_access;
mod auth_sessions;
mod auth_throttle;
mod backtests;
mod bot_limits;
mod bot_summary;
mod bots;
mod connection_limits;
mod engine_parity;
mod envelope;
mod events_stream;
mod failover;
mod hygiene;
mod integrations;
mod integrations_verify;
mod job_workers;
mod ledger;
mod llm;
mod market_data;
mod node_faults;
mod node_figures;
mod nodes;
mod observatory;
mod openapi;
mod operations;
mod providers;
mod restart_storms;
mod runtime;
mod sandbox;
mod security_headers;
mod serve;
mod system_events;
mod system_truth;
mod telemetry;
mod trace_lookups;
mod trading;
mod usage_events;
mod vendor_requests;
