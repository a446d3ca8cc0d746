//! The error-code catalog (SPEC §3): one enum, one HTTP status, message and suggested fix per code.
//! `GET /api/errors` serves it and `docs/error-codes.md` is generated from it.

use axum::http::StatusCode;
use serde::Serialize;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{ObjectBuilder, RefOr, Schema, Type},
};

macro_rules! catalog {
    ($($variant:ident = $name:literal, $status:literal, $message:literal, $fix:literal;)+) => {
        /// Every error the product can answer with. Serialized as its SCREAMING_SNAKE_CASE name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub enum ErrorCode {
            $(#[serde(rename = $name)] $variant,)+
        }

        impl ErrorCode {
            /// All codes, in catalog order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)+ }
            }

            pub fn status(self) -> StatusCode {
                let code = match self { $(ErrorCode::$variant => $status,)+ };
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }

            /// The default human message; call sites may give a more specific one.
            pub const fn message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $message,)+ }
            }

            /// What the operator should do about it.
            pub const fn suggested_fix(self) -> &'static str {
                match self { $(ErrorCode::$variant => $fix,)+ }
            }
        }
    };
}

// By hand rather than derived: the derive does not see the `serde(rename)`s the macro writes, and
// would list the Rust variant names instead of the codes the API sends.
impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("An error code from the catalog (GET /api/errors)."))
            .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
            .into()
    }
}

impl ToSchema for ErrorCode {}

catalog! {
    IntegrationKeyMissing = "INTEGRATION_KEY_MISSING", 409,
        "A required integration is not configured.",
        "Set the provider's environment variables listed in `missing_env_vars`, restart tradeplane, then verify the provider on the Connections page.";
    IntegrationVerifyFailed = "INTEGRATION_VERIFY_FAILED", 502,
        "The provider rejected or failed the verification call.",
        "Check the credentials and plan with the vendor, then run verify again; the event log shows the vendor's answer.";
    IntegrationUnknownProvider = "INTEGRATION_UNKNOWN_PROVIDER", 404,
        "No provider with this id exists.",
        "Use one of the provider ids listed by GET /api/integrations/status.";
    DataUnavailable = "DATA_UNAVAILABLE", 503,
        "Market data is not available.",
        "Configure and verify `databento` or `polygon` (DATABENTO_API_KEY or POLYGON_API_KEY), then retry.";
    DataStale = "DATA_STALE", 503,
        "The latest market data is older than allowed.",
        "Check the market-data provider's health and the scheduler; trading resumes when fresh bars arrive.";
    ExecutionBrokerUnavailable = "EXECUTION_BROKER_UNAVAILABLE", 503,
        "No connected broker can take this order.",
        "Configure and verify a broker (`ironbeam` or `tradovate`) on its official endpoint.";
    AccountPositionLimit = "ACCOUNT_POSITION_LIMIT", 409,
        "The order would take the broker account's gross or net position in the contract past its account risk limit (all bots on the account counted).",
        "Wait for other bots on the account to reduce, or raise the account's max_gross_contracts / max_net_contracts (PUT /api/account-risk/{broker}/{account}); exits are never blocked by it.";
    AccountDailyLossLatched = "ACCOUNT_DAILY_LOSS_LATCHED", 409,
        "The broker account's daily loss limit was reached: it is latched and no bot on it may raise exposure (exits pass).",
        "Review the account's trades (GET /api/account-risk), then a human re-arms it (POST /api/account-risk/{broker}/{account}/rearm); the day roll does not clear it.";
    AccountOrderRate = "ACCOUNT_ORDER_RATE", 409,
        "The broker account's orders in the last minute reached its max_orders_per_minute (all bots on the account counted).",
        "Wait for the one-minute window to pass; look for a bot churning orders, or raise the account's max_orders_per_minute.";
    AccountRiskUnavailable = "ACCOUNT_RISK_UNAVAILABLE", 503,
        "The broker account's positions, PnL or order rate could not be read: orders that raise exposure wait (exits pass).",
        "Check Postgres health (GET /api/system/status); the gate reopens on the next evaluation that reads the account.";
    AccountNotLatched = "ACCOUNT_NOT_LATCHED", 409,
        "The broker account is not latched: there is nothing to re-arm.",
        "GET /api/account-risk shows which accounts are latched; re-arm only those.";
    ReconciliationMismatch = "RECONCILIATION_MISMATCH", 409,
        "The broker's positions or working orders differ from our ledger: the affected LIVE bots send no new orders.",
        "Compare both sides in GET /api/reconciliation, then resolve per bot with POST /api/bots/{id}/reconcile: `adopt` books the broker's state into the ledger, `flatten` cancels the orders and closes the position at the broker.";
    ReconciliationOverdue = "RECONCILIATION_OVERDUE", 503,
        "A broker account's latest reconciliation failed or is overdue while LIVE bots run: the ledger is not proven to match the broker now.",
        "Check the broker session on Connections (a session that is not ready is not reconciled) and that a leader node runs; Reconciliation shows each account's last run.";
    BrokerOrderRejected = "BROKER_ORDER_REJECTED", 422,
        "The broker refused the order (margin, closed market, unknown contract, or another vendor reason).",
        "Read the broker's reason in the order's `reject_reason` and the decision trace; fix the account (margin), wait for the session, or correct the contract. The order was not resent.";
    LiveTradingDisabled = "LIVE_TRADING_DISABLED", 409,
        "Live trading is switched off.",
        "An admin must turn on the global trading switch and the bot's `is_trading_enabled`.";
    AiProviderUnavailable = "AI_PROVIDER_UNAVAILABLE", 503,
        "No LLM provider is available for this AI-dependent action.",
        "Configure and verify one LLM provider (e.g. OPENAI_API_KEY or ANTHROPIC_API_KEY).";
    AiBudgetExceeded = "AI_BUDGET_EXCEEDED", 429,
        "A daily LLM token or cost budget is used up, so AI-dependent actions are paused until the next UTC day.",
        "Wait for the next UTC day, or raise TRADEPLANE_LLM_DAILY_TOKENS / TRADEPLANE_LLM_DAILY_COST (the total or the provider's) and restart; AI Ops shows what was spent.";
    NewsRiskOff = "NEWS_RISK_OFF", 409,
        "The bot's news gate blocks new entries: a headline classified risk-off was published within its window (exits stay allowed).",
        "Read the named headline; entries resume on their own when the window (strategy.filters.news_gate.window_minutes) after it passes. Shorten the window or drop the gate if this news should not stop the bot.";
    NewsGateUnavailable = "NEWS_GATE_UNAVAILABLE", 503,
        "The bot's news gate cannot be trusted (news not fetched recently, or headlines waiting for an LLM classification that is failing), so it blocks new entries (exits stay allowed).",
        "Check Finnhub (FINNHUB_API_KEY, its breaker on Connections) and the LLM providers on AI Ops; entries resume once headlines are fetched and classified again.";
    NewsHistoryIncomplete = "NEWS_HISTORY_INCOMPLETE", 503,
        "A backtest of a news-gated strategy cannot replay the stored headlines: news was not fetched throughout its range (the gate's staleness bound) or headlines in it have no classification yet.",
        "Backtest a range the news gate was polling (GET /api/news-gate shows the last fetch; headlines are fetched only while a news-gated bot runs) once its headlines are classified, or remove strategy.filters.news_gate to backtest without it.";
    RiskLimitBreached = "RISK_LIMIT_BREACHED", 409,
        "A risk limit forbids this action.",
        "Review the bot's risk limits and current exposure; a latched daily-loss limit needs a human re-arm.";
    KillSwitchActive = "KILL_SWITCH_ACTIVE", 409,
        "The kill switch is active.",
        "An admin must release the kill switch (POST /api/system/kill-switch {\"active\": false}) after resolving its cause.";
    CircuitBreakerOpen = "CIRCUIT_BREAKER_OPEN", 409,
        "A circuit breaker is open after repeated failures.",
        "Find the failing component in the system events; the breaker half-opens after its cool-down or can be reset by an operator.";
    MarketClosed = "MARKET_CLOSED", 409,
        "The market is closed.",
        "Wait for the next session open (CME Globex, America/Chicago); see the session calendar.";
    CalendarUnverified = "CALENDAR_UNVERIFIED", 409,
        "The session calendar for this date is generated from the holiday rules, not verified against CME's notice.",
        "Add that year's CME Globex equity holidays from CME's holiday notice to cme_holidays (a migration, or by hand), then re-check the date.";
    AutonomyTierInsufficient = "AUTONOMY_TIER_INSUFFICIENT", 409,
        "The bot's autonomy tier does not allow this action.",
        "Open the bot's autonomy breakdown and fix the failing gates to raise its tier.";
    PromotionGateFailed = "PROMOTION_GATE_FAILED", 409,
        "One or more promotion gates failed.",
        "Fix each failed gate listed in `details`, then promote again.";
    BotKilled = "BOT_KILLED", 409,
        "The bot is KILLED (a risk trigger or an operator) and does not trade until a human re-arms it.",
        "Read the kill reason in the system events (RISK_KILL_TRIGGER or BOT_KILLED), make sure the bot holds no position or working order, then re-arm it (POST /api/bots/{id}/rearm).";
    KilledWithExposure = "KILLED_WITH_EXPOSURE", 409,
        "A KILLED bot still holds a position or a working order: no runner manages that exposure.",
        "Kill it again with flatten (POST /api/bots/{id}/kill {\"flatten\": true}; LIVE needs a 2FA step-up) to cancel its orders and close the position, or, if the exposure is intended, acknowledge it (POST /api/bots/{id}/acknowledge-exposure) to keep it visible as SEV-2.";
    PositionPastRoll = "POSITION_PAST_ROLL", 409,
        "A bot holds a position on a contract past its roll date: its roll exit has not gone through, and that contract heads for expiry.",
        "Open the bot: its latest trace names the gate holding the roll exit; clear that gate, or close the position (Close position on the bot's desk; LIVE needs a 2FA step-up) before the contract's last trade day.";
    BotSuspended = "BOT_SUSPENDED", 409,
        "The bot runs but its evaluations are blocked by a gate (SUSPENDED): it places no orders.",
        "Open the bot's latest no-trade trace: each blocking gate names its code and fix (a risk limit, the autonomy tier, a breaker, the trading switch).";
    BotFailed = "BOT_FAILED", 409,
        "The bot is in ERROR: its runner kept failing and its restarts were refused, so it is not evaluating.",
        "Read the bot's last error and the SUPERVISION_* system events under its trace ids, fix the cause, then start the bot again (POST /api/bots/{id}/start) after its breaker's cool-down.";
    ProviderFailing = "PROVIDER_FAILING", 503,
        "A provider's recent calls mostly fail (or its breaker is probing), so what depends on it is unreliable.",
        "Open Connections for the provider's last error and success rate; fix the key, plan or outage, then verify it again.";
    JobFailed = "JOB_FAILED", 409,
        "A job ended FAILED or TIMEOUT: its result was not produced.",
        "Open Jobs for the job's error code and events; fix the cause (data range, provider, timeout) and submit it again.";
    InvalidStateTransition = "INVALID_STATE_TRANSITION", 409,
        "This state transition is not allowed.",
        "Check the current state; see the state machines in the docs for allowed transitions.";
    BotNotFound = "BOT_NOT_FOUND", 404,
        "No bot with this id exists.",
        "Use an id listed by GET /api/bots.";
    JobNotFound = "JOB_NOT_FOUND", 404,
        "No job with this id exists.",
        "Use an id listed by GET /api/jobs.";
    JobWorkerCrashed = "JOB_WORKER_CRASHED", 500,
        "The worker running this job crashed; the job was failed, not left running.",
        "Submit the job again; if it fails the same way, read the server log lines under the job's trace id.";
    BacktestNotFound = "BACKTEST_NOT_FOUND", 404,
        "No backtest with this id exists.",
        "Use an id listed by GET /api/backtests.";
    BacktestEvidenceMissing = "BACKTEST_EVIDENCE_MISSING", 409,
        "Promotion to PAPER needs a recent SUCCEEDED backtest of the bot's current strategy and params that meets the desk's thresholds.",
        "Run a backtest of the bot as it is now (POST /api/backtests with its bot_id), wait for it to succeed, check the gates listed in `details` (trades, profit factor, drawdown, age), then promote again.";
    SweepNotFound = "SWEEP_NOT_FOUND", 404,
        "No backtest sweep with this id exists.",
        "Use an id listed by GET /api/backtests/sweeps.";
    BacktestNotFinished = "BACKTEST_NOT_FINISHED", 409,
        "The backtest or sweep has no results to review: it has not SUCCEEDED (queued, running, failed or cancelled).",
        "Wait for it to succeed (GET /api/backtests/{id} or /api/backtests/sweeps/{id} shows its status), or run it again if it failed, then ask for the review again.";
    PaperEvidenceMissing = "PAPER_EVIDENCE_MISSING", 409,
        "Promotion to SHADOW needs enough PAPER sessions whose closed trades meet the desk's thresholds.",
        "Let the bot trade PAPER for more sessions (it needs the sessions, trades, profit factor and net PnL listed in `details`), then promote again.";
    ShadowEvidenceMissing = "SHADOW_EVIDENCE_MISSING", 409,
        "Promotion to LIVE needs enough SHADOW sessions whose closed (hypothetical) trades meet the desk's thresholds.",
        "Let the bot run SHADOW for more sessions (it needs the sessions, trades, profit factor and net PnL listed in `details`), then promote again.";
    TraceNotFound = "TRACE_NOT_FOUND", 404,
        "No trace with this id exists for this bot.",
        "Use a row id or W3C trace id listed by GET /api/bots/{id}/decision-traces or /no-trade-traces for the same bot; a trace of another bot is not found under this one.";
    TradeNotFound = "TRADE_NOT_FOUND", 404,
        "No trade with this id exists for this bot.",
        "Use a trade id listed by GET /api/bots/{id}/trades (or a decision trace's `trade_log_id`) for the same bot.";
    ValidationFailed = "VALIDATION_FAILED", 422,
        "The request is not valid.",
        "Correct the fields named in `details` and send the request again.";
    MalformedJson = "MALFORMED_JSON", 400,
        "The request body is not valid JSON.",
        "Send a well-formed JSON object with `Content-Type: application/json`.";
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE", 415,
        "The request body has an unsupported content type.",
        "Send the body as JSON with the header `Content-Type: application/json`.";
    MalformedRequest = "MALFORMED_REQUEST", 400,
        "The request line or a header could not be parsed (for example a control byte in a header value, or a malformed method or version).",
        "Send a valid HTTP/1.1 request: header names as tokens, header values of visible ASCII without control bytes.";
    HeadersTooLarge = "HEADERS_TOO_LARGE", 431,
        "The request's headers are larger than allowed.",
        "Send fewer or smaller headers (large cookies from other sites on this host are a common cause).";
    UriTooLong = "URI_TOO_LONG", 414,
        "The request's path and query are longer than allowed.",
        "Send a shorter URL; put large inputs in a JSON body instead of the query.";
    PayloadTooLarge = "PAYLOAD_TOO_LARGE", 413,
        "The request body is larger than allowed.",
        "Send a smaller body; the limit is given in `details`.";
    RouteNotFound = "ROUTE_NOT_FOUND", 404,
        "No endpoint exists at this path.",
        "Check the path against the API reference at /api/docs.";
    MethodNotAllowed = "METHOD_NOT_ALLOWED", 405,
        "This endpoint does not accept this HTTP method.",
        "Use one of the methods in the `Allow` header; see /api/docs.";
    RequestTimeout = "REQUEST_TIMEOUT", 408,
        "The request took longer than allowed.",
        "Retry later; if it keeps happening, check system status for a slow dependency.";
    Unauthenticated = "UNAUTHENTICATED", 401,
        "You are not signed in, or your session has expired.",
        "Sign in again.";
    Forbidden = "FORBIDDEN", 403,
        "Your role does not allow this action.",
        "Ask an admin for a role that allows it.";
    TwoFactorRequired = "TWO_FACTOR_REQUIRED", 401,
        "This action needs two-factor verification.",
        "Enter a code from your authenticator app (or a backup code).";
    TwoFactorInvalid = "TWO_FACTOR_INVALID", 401,
        "The two-factor code is wrong, expired or already used.",
        "Enter the current code from your authenticator app; check the device clock; a used backup code cannot be reused.";
    TwoFactorAlreadyEnabled = "TWO_FACTOR_ALREADY_ENABLED", 409,
        "Two-factor authentication is already enabled.",
        "To enroll a new device, have an admin reset your 2FA (PATCH /api/users/{id} with reset_two_factor), then enroll again.";
    RateLimited = "RATE_LIMITED", 429,
        "Too many attempts.",
        "Wait for the time in the `Retry-After` header, then try again.";
    EncryptionKeyMissing = "ENCRYPTION_KEY_MISSING", 503,
        "The server has no valid encryption key.",
        "Set APP_ENC_KEY to 32 random bytes (base64 or hex), e.g. `openssl rand -base64 32`, and restart.";
    DatabaseUnavailable = "DATABASE_UNAVAILABLE", 503,
        "The database is unreachable.",
        "Check that Postgres is running and DATABASE_URL is correct; run `tradeplane doctor`.";
    SchedulerStalled = "SCHEDULER_STALLED", 503,
        "The bar clock is not ticking on time, so bots are not evaluating.",
        "Check the scheduler in system status (loop health, last tick) and the process's CPU; restart tradeplane if it stays stalled.";
    TelemetryDegraded = "TELEMETRY_DEGRADED", 503,
        "Telemetry is dropping or failing to write events, so proof of use and the audit trail are incomplete.",
        "Check Postgres health and the telemetry counters in /api/runtime/status; events resume once writes succeed.";
    RuntimeUnavailable = "RUNTIME_UNAVAILABLE", 503,
        "The supervision runtime is not running in this process.",
        "Start tradeplane with `serve` (which runs the supervision tree); check system status for a runtime meltdown.";
    StaleLease = "STALE_LEASE", 409,
        "This node does not hold the bot's lease (another node owns it, or this node's lease expired); the write was refused.",
        "Nothing to undo: the bot runs on the node named in GET /api/nodes. Act on that node, or wait for the lease TTL if that node is dead.";
    NodeNotFound = "NODE_NOT_FOUND", 404,
        "No running node has this name.",
        "List the nodes with GET /api/nodes and use the name of one whose state is ALIVE.";
    BotUnowned = "BOT_UNOWNED", 503,
        "A bot that should run has had no owning node for longer than the lease TTL: nobody evaluates it or manages its exposure.",
        "Check GET /api/nodes: start a node (tradeplane serve on this database) or fix the live nodes' database connection; a live node takes the bot within one renewal.";
    EconomicEventWindow = "ECONOMIC_EVENT_WINDOW", 409,
        "A scheduled economic event (the bot's economic_calendar filter) is within its no-entry window: new entries are blocked, exits and reductions are allowed.",
        "Wait for the window to pass (the bot resumes on its own), or narrow the filter (strategy.filters.economic_calendar: minutes_before, minutes_after, impacts, countries) while the bot is STOPPED.";
    EconomicCalendarStale = "ECONOMIC_CALENDAR_STALE", 503,
        "The stored economic calendar is missing or older than the filter allows (or does not cover the time in question): new entries are blocked until it is refreshed.",
        "Check the `fmp` integration (FMP_API_KEY) on the Connections page and its system events; the calendar refreshes on its own every TRADEPLANE_MACRO_REFRESH_MINUTES.";
    MacroFilterBlocked = "MACRO_FILTER_BLOCKED", 409,
        "The bot's macro_filter series is beyond its block_above/block_below threshold: new entries are blocked, exits and reductions are allowed.",
        "Wait for the series to move back inside the thresholds, or change strategy.filters.macro_filter while the bot is STOPPED.";
    MacroDataStale = "MACRO_DATA_STALE", 503,
        "The bot's macro_filter series has no stored observation, or its newest one is older than max_age_days (or the filter cannot be replayed in a backtest): new entries are blocked.",
        "Check the `fred` integration (FRED_API_KEY) on the Connections page; observations refresh on their own every TRADEPLANE_MACRO_REFRESH_MINUTES. Backtests: remove macro_filter from the strategy.";
    NotImplemented = "NOT_IMPLEMENTED", 501,
        "This feature is not available yet.",
        "Nothing to fix on your side; the feature is not built yet.";
    Internal = "INTERNAL", 500,
        "An internal error occurred.",
        "Retry; if it persists, report the trace id to the operators (it is in the server logs).";
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The catalog as Markdown; `docs/error-codes.md` must equal this (a test checks it).
pub fn catalog_markdown() -> String {
    let mut out = String::from(
        "# Error codes\n\n\
         Generated from `src/error_code.rs` by `tradeplane error-codes --markdown`; do not edit by hand.\n\
         Every error response is `{\"success\": false, \"trace_id\": \"…\", \"error\": {\"code\", \"message\", \"suggested_fix\", \"details\"?}}`.\n\n\
         | code | HTTP | meaning | suggested fix |\n|---|---|---|---|\n",
    );
    for code in ErrorCode::ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            code.as_str(),
            code.status().as_u16(),
            code.message().replace('|', "\\|"),
            code.suggested_fix().replace('|', "\\|"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The codes SPEC §3 fixes; the catalog may add more but never drop one.
    const SPEC_CODES: &[&str] = &[
        "INTEGRATION_KEY_MISSING",
        "INTEGRATION_VERIFY_FAILED",
        "INTEGRATION_UNKNOWN_PROVIDER",
        "DATA_UNAVAILABLE",
        "DATA_STALE",
        "EXECUTION_BROKER_UNAVAILABLE",
        "LIVE_TRADING_DISABLED",
        "AI_PROVIDER_UNAVAILABLE",
        "RISK_LIMIT_BREACHED",
        "KILL_SWITCH_ACTIVE",
        "CIRCUIT_BREAKER_OPEN",
        "MARKET_CLOSED",
        "AUTONOMY_TIER_INSUFFICIENT",
        "PROMOTION_GATE_FAILED",
        "INVALID_STATE_TRANSITION",
        "BOT_NOT_FOUND",
        "JOB_NOT_FOUND",
        "VALIDATION_FAILED",
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "TWO_FACTOR_REQUIRED",
        "TWO_FACTOR_INVALID",
        "TWO_FACTOR_ALREADY_ENABLED",
        "RATE_LIMITED",
        "ENCRYPTION_KEY_MISSING",
        "DATABASE_UNAVAILABLE",
        "NOT_IMPLEMENTED",
        "INTERNAL",
    ];

    #[test]
    fn every_spec_code_is_in_the_catalog() {
        let names: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        for code in SPEC_CODES {
            assert!(names.contains(code), "{code} missing from the catalog");
        }
    }

    #[test]
    fn codes_are_unique_errors_with_a_message_and_fix() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} listed twice");
            let status = code.status();
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code} has non-error status {status}"
            );
            assert!(!code.message().is_empty() && !code.suggested_fix().is_empty());
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }

    #[test]
    fn error_codes_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/error-codes.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == catalog_markdown(),
            "docs/error-codes.md is stale: run `make docs` (tradeplane error-codes --markdown > docs/error-codes.md)"
        );
    }
}
