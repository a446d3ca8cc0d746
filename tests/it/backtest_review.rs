//! Review a backtest or sweep (issue 19, the `backtest_review` AI action) end to end on the
//! sandbox: the overfitting checks come from the stored results and bars (the same figures
//! the backtest API shows), the LLM only summarizes them, the review is stored for audit with
//! its subject and checks, and without an LLM it is refused with `AI_PROVIDER_UNAVAILABLE`
//! while the checks still come back in `details`.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use tradeplane::integrations::registry::EnvMap;
use tradeplane::runtime::{JobsConfig, RuntimeConfig};

use crate::support::{
    TestApp,
    backtests::{WEEK_FROM, WEEK_TO, sma_backtest},
    error_code,
    fixtures::{runtime_config, start_sandbox},
    spawn_app_with_runtime_config,
};

const LLM_VARS: [&str; 6] = [
    "OPENAI_",
    "ANTHROPIC_",
    "GEMINI_",
    "GOOGLE_GEMINI_",
    "GROQ_",
    "XAI_",
];

/// The sandbox's providers (with or without its LLMs), two fast job workers, as the admin.
async fn lab(pool: PgPool, with_llm: bool) -> TestApp {
    let mut env: EnvMap = start_sandbox().await;
    if !with_llm {
        env.retain(|k, _| {
            !LLM_VARS.iter().any(|p| k.starts_with(p)) && !k.starts_with("OPENROUTER_")
        });
    }
    let config = RuntimeConfig {
        provider_env: env,
        jobs: JobsConfig {
            workers: 2,
            poll_every: Duration::from_millis(50),
            heartbeat_every: Duration::from_millis(50),
        },
        ..runtime_config()
    };
    spawn_app_with_runtime_config(pool, config)
        .await
        .signed_in_as_admin()
        .await
}

/// `ai_interactions`: action, status, subject kind and id, findings, prompt, answer.
type AuditRow = (
    String,
    String,
    Option<String>,
    Option<Uuid>,
    Option<Value>,
    String,
    Option<String>,
);

async fn review(app: &TestApp, path: &str) -> (u16, Value) {
    app.call("POST", path, None).await
}

fn check<'a>(checks: &'a Value, code: &str) -> &'a Value {
    checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {checks}"))
}

/// The flagged codes, from the checks.
fn flagged(checks: &Value) -> Vec<Value> {
    checks
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "FLAGGED")
        .map(|c| c["code"].clone())
        .collect()
}

async fn wait_for_sweep(app: &TestApp, id: &str) -> Value {
    for _ in 0..2400 {
        let (status, body) = app
            .call("GET", &format!("/api/backtests/sweeps/{id}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        if body["sweep"]["status"] == "SUCCEEDED" {
            return body;
        }
        assert!(
            !["FAILED", "CANCELLED", "TIMEOUT"]
                .contains(&body["sweep"]["status"].as_str().unwrap()),
            "{body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("sweep {id} never succeeded");
}

async fn queue_sweep(app: &TestApp, body: Value) -> String {
    let (status, reply) = app.call("POST", "/api/backtests/sweeps", Some(body)).await;
    assert_eq!(status, 202, "{reply}");
    reply["sweep"]["id"].as_str().unwrap().to_owned()
}

#[sqlx::test]
async fn a_backtest_review_flags_from_stored_results_and_the_llm_only_summarizes(pool: PgPool) {
    let app = lab(pool.clone(), true).await;
    let (id, _) = app.queue_backtest(sma_backtest(WEEK_FROM, WEEK_TO)).await;
    let done = app.wait_for_backtest(&id, "SUCCEEDED").await;
    let bt = &done["backtest"];
    let trades = bt["metrics"]["trades"].as_u64().unwrap();
    let bars = bt["bars"].as_u64().unwrap();

    let (status, body) = review(&app, &format!("/api/backtests/{id}/review")).await;
    assert_eq!(status, 200, "{body}");
    let r = &body["review"];
    assert_eq!(r["subject"], "backtest");
    assert_eq!(r["subject_id"], id.as_str());
    let checks = &r["checks"];
    assert_eq!(checks.as_array().unwrap().len(), 4, "{checks}");
    // FEW_TRADES from the backtest's own trade count.
    let few = check(checks, "FEW_TRADES");
    assert_eq!(few["figures"]["trades"], trades, "{few}");
    assert_eq!(few["figures"]["min_trades"], 30);
    assert_eq!(
        few["outcome"],
        if trades < 30 { "FLAGGED" } else { "PASSED" },
        "{few}"
    );
    // ONE_REGIME from the very bars the run read: one contract all week, so one return
    // between each pair of bars.
    let regime = check(checks, "ONE_REGIME");
    assert_eq!(regime["figures"]["returns"], bars - 1, "{regime}");
    assert_ne!(regime["outcome"], "NOT_APPLICABLE", "{regime}");
    assert_eq!(regime["figures"]["trends"].as_array().unwrap().len(), 4);
    // A backtest of its own has no out-of-sample window.
    assert_eq!(check(checks, "IS_OOS_GAP")["outcome"], "NOT_APPLICABLE");
    // One parameter set of sma_crossover on ES 5m tried so far.
    let many = check(checks, "MANY_COMBINATIONS");
    assert_eq!(many["figures"]["combinations"], 1, "{many}");
    assert_eq!(many["outcome"], "PASSED");
    assert_eq!(r["flags"], json!(flagged(checks)));
    // The LLM wrote the summary (the sandbox names itself), from the checks.
    assert!(
        r["summary"]
            .as_str()
            .unwrap()
            .starts_with("Sandbox answer from openai"),
        "{r}"
    );
    assert_eq!(r["provider_id"], "openai");
    assert!(r["input_tokens"].as_u64().unwrap() > 0);

    // Stored for audit: the subject, the checks, the prompt carrying them, the answer.
    let interaction: Uuid = r["interaction_id"].as_str().unwrap().parse().unwrap();
    let (action, state, kind, subject, findings, prompt, answer): AuditRow = sqlx::query_as(
        "SELECT action, status, subject_kind, subject_id, findings, prompt, answer \
         FROM ai_interactions WHERE id = $1",
    )
    .bind(interaction)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((action.as_str(), state.as_str()), ("backtest_review", "OK"));
    assert_eq!(kind.as_deref(), Some("backtest"));
    assert_eq!(subject, Some(id.parse().unwrap()));
    let findings = findings.unwrap();
    assert_eq!(findings["flags"], r["flags"]);
    assert_eq!(&findings["checks"], checks);
    assert!(prompt.contains("FEW_TRADES"), "{prompt}");
    assert!(
        prompt.contains(&format!("{trades} closed trades")),
        "{prompt}"
    );
    assert_eq!(answer.as_deref(), r["summary"].as_str());
    // Who asked is audited; AI Ops counts the action.
    let (outcome,): (String,) = sqlx::query_as(
        "SELECT outcome FROM audit_log WHERE action = 'backtest.review' AND target = $1",
    )
    .bind(format!("backtest:{id}"))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(outcome, "SUCCESS");
    let (_, ops) = app.ai_ops_summary("window=1h").await;
    let action = ops["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "backtest_review")
        .unwrap_or_else(|| panic!("{ops}"));
    assert_eq!(
        (action["calls"].as_i64(), action["ok"].as_i64()),
        (Some(1), Some(1))
    );
}

#[sqlx::test]
async fn without_an_llm_the_review_is_refused_with_the_checks_still_given(pool: PgPool) {
    let app = lab(pool.clone(), false).await;
    let (id, _) = app.queue_backtest(sma_backtest(WEEK_FROM, WEEK_TO)).await;
    let done = app.wait_for_backtest(&id, "SUCCEEDED").await;
    let trades = done["backtest"]["metrics"]["trades"].as_u64().unwrap();

    let (status, body) = review(&app, &format!("/api/backtests/{id}/review")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_code(&body), "AI_PROVIDER_UNAVAILABLE");
    assert!(
        body["error"]["suggested_fix"]
            .as_str()
            .unwrap()
            .contains("LLM")
    );
    assert!(
        body["trace_id"].as_str().is_some_and(|t| t.len() == 32),
        "{body}"
    );
    let details = &body["error"]["details"];
    let checks = &details["checks"];
    assert_eq!(check(checks, "FEW_TRADES")["figures"]["trades"], trades);
    assert_eq!(details["flags"], json!(flagged(checks)));
    // The refusal is on record with the checks; nothing else changed.
    let (state, code, findings): (String, Option<String>, Option<Value>) = sqlx::query_as(
        "SELECT status, error_code, findings FROM ai_interactions WHERE subject_id = $1",
    )
    .bind(id.parse::<Uuid>().unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (state.as_str(), code.as_deref()),
        ("REFUSED", Some("AI_PROVIDER_UNAVAILABLE"))
    );
    assert_eq!(&findings.unwrap()["checks"], checks);
    let (status, again) = app.get_backtest(&id).await;
    assert_eq!(status, 200);
    assert_eq!(
        again["backtest"]["results_hash"],
        done["backtest"]["results_hash"]
    );
}

#[sqlx::test]
async fn a_sweep_of_twenty_combinations_is_flagged_and_its_children_say_so_too(pool: PgPool) {
    let app = lab(pool.clone(), true).await;
    let mut body = sma_backtest(WEEK_FROM, WEEK_TO);
    body["strategy"]["params"] = json!({"fast": 5, "slow": 40});
    body["params"] = json!({"fast": {"min": 2, "max": 21, "step": 1}});
    let id = queue_sweep(&app, body).await;
    let done = wait_for_sweep(&app, &id).await;
    assert_eq!(done["sweep"]["combinations"], 20, "{}", done["sweep"]);

    let (status, reply) = review(&app, &format!("/api/backtests/sweeps/{id}/review")).await;
    assert_eq!(status, 200, "{reply}");
    let r = &reply["review"];
    assert_eq!(r["subject"], "sweep");
    let many = check(&r["checks"], "MANY_COMBINATIONS");
    assert_eq!(many["outcome"], "FLAGGED", "{many}");
    assert_eq!(many["figures"]["combinations"], 20);
    assert!(
        r["flags"]
            .as_array()
            .unwrap()
            .contains(&json!("MANY_COMBINATIONS"))
    );
    // FEW_TRADES counts the combination the ranking puts first.
    let best = &done["ranking"][0]["in_sample"];
    let few = check(&r["checks"], "FEW_TRADES");
    assert_eq!(few["figures"]["trades"], best["trades"], "{few} vs {best}");
    assert_eq!(
        check(&r["checks"], "IS_OOS_GAP")["outcome"],
        "NOT_APPLICABLE"
    );

    // One of its children is reviewed with the sweep's count of combinations.
    let child = done["ranking"][0]["backtest_ids"][0].as_str().unwrap();
    let (status, reply) = review(&app, &format!("/api/backtests/{child}/review")).await;
    assert_eq!(status, 200, "{reply}");
    let many = check(&reply["review"]["checks"], "MANY_COMBINATIONS");
    assert_eq!(
        (&many["outcome"], &many["figures"]["combinations"]),
        (&json!("FLAGGED"), &json!(20))
    );
}

#[sqlx::test]
async fn a_walk_forward_review_compares_in_sample_with_out_of_sample(pool: PgPool) {
    let app = lab(pool.clone(), true).await;
    let mut body = sma_backtest(WEEK_FROM, WEEK_TO);
    body["params"] = json!({"fast": {"values": [3, 5]}});
    body["walk_forward"] = json!({"folds": 2, "out_of_sample_pct": 25});
    let id = queue_sweep(&app, body).await;
    let done = wait_for_sweep(&app, &id).await;

    let (status, reply) = review(&app, &format!("/api/backtests/sweeps/{id}/review")).await;
    assert_eq!(status, 200, "{reply}");
    let gap = check(&reply["review"]["checks"], "IS_OOS_GAP");
    assert_ne!(gap["outcome"], "NOT_APPLICABLE", "{gap}");
    // The figures are the sweep's own: the folds' chosen in-sample results summed, and the
    // combined out-of-sample result.
    let dec = |v: &Value| v.as_str().unwrap().parse::<Decimal>().unwrap();
    let oos = &done["walk_forward_out_of_sample"];
    assert_eq!(
        dec(&gap["figures"]["out_of_sample_net_pnl"]),
        dec(&oos["net_pnl"])
    );
    let is: Decimal = done["walk_forward"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| dec(&f["in_sample"]["net_pnl"]))
        .sum();
    assert_eq!(dec(&gap["figures"]["in_sample_net_pnl"]), is);
    // The outcome follows the stated rule from those figures.
    let sharpe = |k: &str| gap["figures"][k].as_f64();
    let lost = is > Decimal::ZERO && dec(&oos["net_pnl"]) <= Decimal::ZERO;
    let collapsed = matches!(
        (sharpe("in_sample_sharpe"), sharpe("out_of_sample_sharpe")),
        (Some(i), Some(o)) if i > 0.0 && o < 0.5 * i
    );
    assert_eq!(
        gap["outcome"],
        if lost || collapsed {
            "FLAGGED"
        } else {
            "PASSED"
        },
        "{gap}"
    );
    assert_eq!(
        check(&reply["review"]["checks"], "FEW_TRADES")["figures"]["trades"],
        oos["trades"]
    );

    // An out-of-sample child is compared with its own in-sample window.
    let fold = &done["walk_forward"][0];
    let oos_child = fold["out_of_sample_backtest_id"].as_str().unwrap();
    let (status, reply) = review(&app, &format!("/api/backtests/{oos_child}/review")).await;
    assert_eq!(status, 200, "{reply}");
    let gap = check(&reply["review"]["checks"], "IS_OOS_GAP");
    assert_eq!(
        dec(&gap["figures"]["in_sample_net_pnl"]),
        dec(&fold["in_sample"]["net_pnl"]),
        "{gap}"
    );
    assert_eq!(
        dec(&gap["figures"]["out_of_sample_net_pnl"]),
        dec(&fold["out_of_sample"]["net_pnl"])
    );
}

#[sqlx::test]
async fn reviews_of_unknown_or_unfinished_runs_are_refused_by_code(pool: PgPool) {
    let app = lab(pool.clone(), true).await;
    let missing = Uuid::now_v7();
    let (status, body) = review(&app, &format!("/api/backtests/{missing}/review")).await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "BACKTEST_NOT_FOUND"),
        "{body}"
    );
    let (status, body) = review(&app, &format!("/api/backtests/sweeps/{missing}/review")).await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "SWEEP_NOT_FOUND"),
        "{body}"
    );
    let (status, body) = review(&app, "/api/backtests/not-a-uuid/review").await;
    assert_eq!(status, 422, "{body}");
    // A range without bars (Saturday: Globex closed) fails its job: nothing to review.
    let (id, _) = app
        .queue_backtest(sma_backtest("2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z"))
        .await;
    app.wait_for_backtest(&id, "FAILED").await;
    let (status, body) = review(&app, &format!("/api/backtests/{id}/review")).await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "BACKTEST_NOT_FINISHED"),
        "{body}"
    );
    assert!(body["error"]["suggested_fix"].as_str().is_some());
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM ai_interactions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "a refused review asks no LLM and stores nothing");
}

#[sqlx::test]
async fn a_drawdown_objective_reviews_the_combination_with_the_least_drawdown(pool: PgPool) {
    let app = lab(pool.clone(), true).await;
    let mut body = sma_backtest(WEEK_FROM, WEEK_TO);
    body["params"] = json!({"fast": {"values": [2, 3, 5, 8]}});
    body["objective"] = json!("max_drawdown");
    let id = queue_sweep(&app, body).await;
    wait_for_sweep(&app, &id).await;
    let (status, least) = app
        .call(
            "GET",
            &format!("/api/backtests/sweeps/{id}?sort=max_drawdown&order=asc"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{least}");
    // The most drawdown (what a descending sort would put first) trades a different number
    // of times, so picking the wrong end would show.
    let rows = least["ranking"].as_array().unwrap();
    assert_ne!(
        rows[0]["in_sample"]["trades"],
        rows[rows.len() - 1]["in_sample"]["trades"],
        "{rows:?}"
    );
    let (status, reply) = review(&app, &format!("/api/backtests/sweeps/{id}/review")).await;
    assert_eq!(status, 200, "{reply}");
    let few = check(&reply["review"]["checks"], "FEW_TRADES");
    assert_eq!(
        few["figures"]["trades"], least["ranking"][0]["in_sample"]["trades"],
        "{few} vs {}",
        least["ranking"]
    );
    assert!(
        few["figures"]["source"]
            .as_str()
            .unwrap()
            .contains("max_drawdown")
    );
}
