//! Integration tests: the real server on a random port against a fresh Postgres database.

mod auth_2fa;
mod auth_access;
mod auth_sessions;
mod envelope;
mod helpers;
mod openapi;
mod operations;
mod serve;
mod system_events;
