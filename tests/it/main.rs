//! Integration tests: the real server on a random port against a fresh Postgres database.

mod ai_ops;
mod alerts;
mod auth_2fa;
mod auth_access;
mod auth_sessions;
mod bot_limits;
mod bot_summary;
mod bots;
mod envelope;
mod events_stream;
mod helpers;
mod integrations;
mod integrations_verify;
mod ledger;
mod observatory;
mod openapi;
mod operations;
mod providers;
mod runtime;
mod sandbox;
mod serve;
mod system_events;
mod telemetry;
mod trace_lookups;
mod trading;
mod usage_events;
