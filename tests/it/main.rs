//! Integration tests: the real server on a random port against a fresh Postgres database.

mod envelope;
mod helpers;
mod openapi;
mod operations;
mod runtime;
mod serve;
mod system_events;
mod telemetry;
