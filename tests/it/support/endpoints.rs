//! One method per endpoint the tests call, named after what it does (`app.create_bot(body)`,
//! `app.start_bot(id)`), each a thin wrapper over [`TestApp::call`] sent with the app's client
//! (`app.as_user(&op).stop_bot(id)` calls as another user). A `query` argument is the query
//! string without its `?` (`""` for none); endpoints whose handler reads no body send none.

use std::fmt::Display;

use serde_json::{Value, json};

use super::{app::TestApp, fixtures::set_stage, requests::Reply};

impl TestApp {
    async fn get_json(&self, path: &str, query: &str) -> Reply {
        if query.is_empty() {
            self.call("GET", path, None).await
        } else {
            self.call("GET", &format!("{path}?{query}"), None).await
        }
    }

    /// Creates a bot from `body` (asserting 201) and returns its id: in LAB, then moved to the
    /// body's `stage` ([`set_stage`]).
    pub async fn new_bot(&self, mut body: Value) -> String {
        let stage = body["stage"].as_str().unwrap_or("LAB").to_owned();
        body["stage"] = json!("LAB");
        let (status, body) = self.create_bot(body).await;
        assert_eq!(status, 201, "{body}");
        let id = body["bot"]["id"].as_str().unwrap().to_owned();
        if stage != "LAB" {
            set_stage(&self.pool, &id, &stage).await;
        }
        id
    }

    // ---- auth ----

    pub async fn register(&self, body: Value) -> Reply {
        self.call("POST", "/api/auth/register", Some(body)).await
    }

    pub async fn login(&self, body: Value) -> Reply {
        self.call("POST", "/api/auth/login", Some(body)).await
    }

    pub async fn me(&self) -> Reply {
        self.call("GET", "/api/auth/me", None).await
    }

    pub async fn setup_2fa(&self, body: Value) -> Reply {
        self.call("POST", "/api/auth/2fa/setup", Some(body)).await
    }

    pub async fn confirm_2fa(&self, body: Value) -> Reply {
        self.call("POST", "/api/auth/2fa/confirm", Some(body)).await
    }

    pub async fn regenerate_backup_codes(&self, body: Value) -> Reply {
        self.call("POST", "/api/auth/2fa/backup-codes", Some(body))
            .await
    }

    pub async fn logout(&self) -> Reply {
        self.call("POST", "/api/auth/logout", None).await
    }

    pub async fn list_sessions(&self) -> Reply {
        self.call("GET", "/api/auth/sessions", None).await
    }

    pub async fn revoke_session(&self, id: impl Display) -> Reply {
        self.call("DELETE", &format!("/api/auth/sessions/{id}"), None)
            .await
    }

    pub async fn revoke_other_sessions(&self) -> Reply {
        self.call("POST", "/api/auth/sessions/revoke-others", None)
            .await
    }

    // ---- users and service tokens ----

    pub async fn list_users(&self, query: &str) -> Reply {
        self.get_json("/api/users", query).await
    }

    pub async fn create_user(&self, body: Value) -> Reply {
        self.call("POST", "/api/users", Some(body)).await
    }

    pub async fn patch_user(&self, id: impl Display, body: Value) -> Reply {
        self.call("PATCH", &format!("/api/users/{id}"), Some(body))
            .await
    }

    pub async fn create_service_token(&self, body: Value) -> Reply {
        self.call("POST", "/api/service-tokens", Some(body)).await
    }

    pub async fn list_service_tokens(&self) -> Reply {
        self.call("GET", "/api/service-tokens", None).await
    }

    pub async fn revoke_service_token(&self, id: impl Display) -> Reply {
        self.call("DELETE", &format!("/api/service-tokens/{id}"), None)
            .await
    }

    // ---- bots ----

    pub async fn create_bot(&self, body: Value) -> Reply {
        self.call("POST", "/api/bots", Some(body)).await
    }

    pub async fn create_starter_set(&self) -> Reply {
        self.call("POST", "/api/bots/starter-set", None).await
    }

    pub async fn list_bots(&self, query: &str) -> Reply {
        self.get_json("/api/bots", query).await
    }

    pub async fn get_bot(&self, id: impl Display) -> Reply {
        self.call("GET", &format!("/api/bots/{id}"), None).await
    }

    pub async fn patch_bot(&self, id: impl Display, body: Value) -> Reply {
        self.call("PATCH", &format!("/api/bots/{id}"), Some(body))
            .await
    }

    pub async fn start_bot(&self, id: impl Display) -> Reply {
        self.call("POST", &format!("/api/bots/{id}/start"), None)
            .await
    }

    pub async fn stop_bot(&self, id: impl Display) -> Reply {
        self.call("POST", &format!("/api/bots/{id}/stop"), None)
            .await
    }

    pub async fn restart_bot(&self, id: impl Display) -> Reply {
        self.call("POST", &format!("/api/bots/{id}/restart"), None)
            .await
    }

    pub async fn kill_bot(&self, id: impl Display, body: Value) -> Reply {
        self.call("POST", &format!("/api/bots/{id}/kill"), Some(body))
            .await
    }

    pub async fn acknowledge_exposure(&self, id: impl Display) -> Reply {
        self.call(
            "POST",
            &format!("/api/bots/{id}/acknowledge-exposure"),
            None,
        )
        .await
    }

    pub async fn rearm_bot(&self, id: impl Display) -> Reply {
        self.call("POST", &format!("/api/bots/{id}/rearm"), None)
            .await
    }

    pub async fn promote_bot(&self, id: impl Display, body: Value) -> Reply {
        self.call("POST", &format!("/api/bots/{id}/promote"), Some(body))
            .await
    }

    pub async fn explain_bot(&self, id: impl Display) -> Reply {
        self.call("POST", &format!("/api/bots/{id}/explain"), None)
            .await
    }

    pub async fn autonomy_score(&self, id: impl Display) -> Reply {
        self.call("GET", &format!("/api/bots/{id}/autonomy-score"), None)
            .await
    }

    pub async fn rescore_bot(&self, id: impl Display) -> Reply {
        self.call("POST", &format!("/api/bots/{id}/autonomy-score"), None)
            .await
    }

    pub async fn bot_position(&self, id: impl Display) -> Reply {
        self.call("GET", &format!("/api/bots/{id}/position"), None)
            .await
    }

    pub async fn bot_orders(&self, id: impl Display, query: &str) -> Reply {
        self.get_json(&format!("/api/bots/{id}/orders"), query)
            .await
    }

    pub async fn bot_trades(&self, id: impl Display, query: &str) -> Reply {
        self.get_json(&format!("/api/bots/{id}/trades"), query)
            .await
    }

    pub async fn bot_trade(&self, id: impl Display, trade: impl Display) -> Reply {
        self.call("GET", &format!("/api/bots/{id}/trades/{trade}"), None)
            .await
    }

    // ---- traces ----

    pub async fn write_decision_trace(&self, id: impl Display, body: Value) -> Reply {
        self.call(
            "POST",
            &format!("/api/bots/{id}/decision-traces"),
            Some(body),
        )
        .await
    }

    pub async fn decision_traces(&self, id: impl Display, query: &str) -> Reply {
        self.get_json(&format!("/api/bots/{id}/decision-traces"), query)
            .await
    }

    pub async fn decision_trace(&self, id: impl Display, trace: impl Display) -> Reply {
        self.call(
            "GET",
            &format!("/api/bots/{id}/decision-traces/{trace}"),
            None,
        )
        .await
    }

    pub async fn write_no_trade_trace(&self, id: impl Display, body: Value) -> Reply {
        self.call(
            "POST",
            &format!("/api/bots/{id}/no-trade-traces"),
            Some(body),
        )
        .await
    }

    pub async fn no_trade_traces(&self, id: impl Display, query: &str) -> Reply {
        self.get_json(&format!("/api/bots/{id}/no-trade-traces"), query)
            .await
    }

    pub async fn no_trade_trace(&self, id: impl Display, trace: impl Display) -> Reply {
        self.call(
            "GET",
            &format!("/api/bots/{id}/no-trade-traces/{trace}"),
            None,
        )
        .await
    }

    // ---- system ----

    pub async fn kill_switch(&self) -> Reply {
        self.call("GET", "/api/system/kill-switch", None).await
    }

    pub async fn set_kill_switch(&self, body: Value) -> Reply {
        self.call("POST", "/api/system/kill-switch", Some(body))
            .await
    }

    pub async fn trading_switch(&self) -> Reply {
        self.call("GET", "/api/system/trading-switch", None).await
    }

    pub async fn set_trading_switch(&self, body: Value) -> Reply {
        self.call("POST", "/api/system/trading-switch", Some(body))
            .await
    }

    pub async fn system_events(&self, query: &str) -> Reply {
        self.get_json("/api/system/events", query).await
    }

    pub async fn system_status(&self) -> Reply {
        self.call("GET", "/api/system/status", None).await
    }

    pub async fn runtime_status(&self) -> Reply {
        self.call("GET", "/api/runtime/status", None).await
    }

    pub async fn list_nodes(&self) -> Reply {
        self.call("GET", "/api/nodes", None).await
    }

    pub async fn drain_node(&self, name: &str) -> Reply {
        self.call("POST", &format!("/api/nodes/{name}/drain"), None)
            .await
    }

    pub async fn list_jobs(&self, query: &str) -> Reply {
        self.get_json("/api/jobs", query).await
    }

    pub async fn get_job(&self, id: impl Display) -> Reply {
        self.call("GET", &format!("/api/jobs/{id}"), None).await
    }

    pub async fn cancel_job(&self, id: impl Display) -> Reply {
        self.call("POST", &format!("/api/jobs/{id}/cancel"), None)
            .await
    }

    // ---- backtests ----

    pub async fn create_backtest(&self, body: Value) -> Reply {
        self.call("POST", "/api/backtests", Some(body)).await
    }

    pub async fn list_backtests(&self, query: &str) -> Reply {
        self.get_json("/api/backtests", query).await
    }

    pub async fn get_backtest(&self, id: impl Display) -> Reply {
        self.call("GET", &format!("/api/backtests/{id}"), None)
            .await
    }

    /// `GET /api/backtests/{id}/bars?<query>`.
    pub async fn backtest_bars(&self, id: impl Display, query: &str) -> Reply {
        self.call("GET", &format!("/api/backtests/{id}/bars?{query}"), None)
            .await
    }

    pub async fn audit_log(&self, query: &str) -> Reply {
        self.get_json("/api/audit", query).await
    }

    pub async fn error_catalog(&self) -> Reply {
        self.call("GET", "/api/errors", None).await
    }

    pub async fn healthz(&self) -> Reply {
        self.call("GET", "/healthz", None).await
    }

    pub async fn readyz(&self) -> Reply {
        self.call("GET", "/readyz", None).await
    }

    // ---- integrations and usage ----

    pub async fn integrations_status(&self) -> Reply {
        self.call("GET", "/api/integrations/status", None).await
    }

    pub async fn verify_integration(&self, provider: &str) -> Reply {
        self.call(
            "POST",
            "/api/integrations/verify",
            Some(json!({ "provider_id": provider })),
        )
        .await
    }

    pub async fn integration_events(&self, id: impl Display, query: &str) -> Reply {
        self.get_json(&format!("/api/integrations/{id}/events"), query)
            .await
    }

    pub async fn integration_latency(&self, id: impl Display, query: &str) -> Reply {
        self.get_json(&format!("/api/integrations/{id}/latency"), query)
            .await
    }

    pub async fn reset_breaker(&self, id: impl Display) -> Reply {
        self.call(
            "POST",
            &format!("/api/integrations/{id}/breaker/reset"),
            None,
        )
        .await
    }

    pub async fn profit_variables(&self, query: &str) -> Reply {
        self.get_json("/api/profit-variables", query).await
    }

    pub async fn usage_events(&self, query: &str) -> Reply {
        self.get_json("/api/usage-events", query).await
    }

    pub async fn usage_series(&self, query: &str) -> Reply {
        self.get_json("/api/usage-events/series", query).await
    }

    pub async fn ai_ops_summary(&self, query: &str) -> Reply {
        self.get_json("/api/ai-ops/summary", query).await
    }

    pub async fn ai_ops_series(&self, query: &str) -> Reply {
        self.get_json("/api/ai-ops/series", query).await
    }

    pub async fn market_bars(&self, query: &str) -> Reply {
        self.get_json("/api/market-data/bars", query).await
    }

    pub async fn market_hours(&self, query: &str) -> Reply {
        self.get_json("/api/market-hours", query).await
    }
}
