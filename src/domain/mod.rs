//! Pure trading logic: no IO, no async, no clock reads (time is passed in). The backtester and
//! the live runner call the same code, so they cannot diverge.

pub mod access;
pub mod account_risk;
pub mod ai;
pub mod alert_routing;
pub mod attention;
pub mod autonomy;
pub mod backtest;
pub mod backtest_metrics;
pub mod backtest_review;
pub mod bars;
pub mod bot;
pub mod breaker;
pub mod calendar;
pub mod contracts;
pub mod economic_calendar;
pub mod engine;
pub mod evaluation;
pub mod execution;
pub mod explain;
pub mod feed_source;
pub mod holiday_rules;
pub mod indicators;
pub mod instruments;
pub mod market_hours;
pub mod news;
pub mod positions;
pub mod provider;
pub mod reconciliation;
pub mod risk;
pub mod side;
pub mod starter_bots;
pub mod strategies;
pub mod strategy_config;
pub mod strategy_filters;
pub mod timeframe;
