//! `tradeplane serve` as a user runs it: without DATABASE_URL it runs its own Postgres under the
//! data dir, keeps the data across restarts and stops the cluster on exit.

use std::{
    io::{BufRead, BufReader},
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use chrono::{DateTime, TimeDelta, Utc};
use nix::{sys::signal::Signal, unistd::Pid};
use serde_json::Value;

use crate::support::sse::SseClient;

const BIN: &str = env!("CARGO_BIN_EXE_tradeplane");

fn command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    // No provider keys from the shell running the tests.
    for name in tradeplane::integrations::registry::process_env().keys() {
        cmd.env_remove(name);
    }
    cmd.env_remove("DATABASE_URL")
        .env("TRADEPLANE_DATA_DIR", data_dir)
        .env("TRADEPLANE_BIND", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        // Plain http on localhost: the cookies cannot be Secure.
        .env("TRADEPLANE_INSECURE_COOKIES", "1")
        // No APP_ENC_KEY, so no one can enroll 2FA: the first admin works in its grace.
        .env("TRADEPLANE_FIRST_ADMIN_2FA_GRACE", "1h")
        // Run from the data dir so no stray ./.env changes the setup.
        .current_dir(data_dir);
    cmd
}

/// A temp dir the unprivileged cluster owner can traverse when the tests run as root.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

struct Server {
    child: Child,
    base: String,
    stderr_log: std::path::PathBuf,
}

/// Starts serve and waits for the URL it prints.
fn start(data_dir: &Path) -> Server {
    start_with(data_dir, &[])
}

/// `start` with more `serve` arguments.
fn start_with(data_dir: &Path, args: &[&str]) -> Server {
    spawn_serve(command(data_dir), args)
}

/// Starts `cmd serve args` and waits for the URL it prints.
fn spawn_serve(mut cmd: Command, args: &[&str]) -> Server {
    let data_dir = std::path::PathBuf::from(
        cmd.get_envs()
            .find(|(k, _)| *k == "TRADEPLANE_DATA_DIR")
            .and_then(|(_, v)| v)
            .expect("a data dir"),
    );
    let stderr_log = data_dir.join(format!("serve-{}.log", uuid::Uuid::now_v7()));
    let mut child = cmd
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| {
            panic!(
                "no URL printed: {line:?}; stderr: {}",
                std::fs::read_to_string(&stderr_log).unwrap_or_default()
            )
        })
        .to_owned();
    Server {
        child,
        base,
        stderr_log,
    }
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(res) = client.get(format!("{base}/readyz")).send().await
            && res.status() == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{base}/readyz never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn stop(mut server: Server) -> String {
    nix::sys::signal::kill(Pid::from_raw(server.child.id() as i32), Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "serve exited with {status}");
            break;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(&server.stderr_log).unwrap()
}

/// Creates the admin with `tradeplane admin create`, the password on stdin (no TTY).
fn create_admin(data_dir: &Path) {
    create_admin_with(command(data_dir));
}

fn create_admin_with(mut cmd: Command) {
    use std::io::Write;
    let mut child = cmd
        .args(["admin", "create", "--email", "ops@example.com"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("created admin ops@example.com"), "{stdout}");
}

/// Logs in over HTTP and returns a client that sends the session cookie.
async fn admin_client(base: &str) -> reqwest::Client {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({ "email": "ops@example.com", "password": "a long enough password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookies = crate::support::SessionCookies::from_response(&res).expect("session cookies");
    crate::support::Signed::new(cookies).client
}

async fn event_codes(client: &reqwest::Client, base: &str) -> Vec<String> {
    let body: Value = client
        .get(format!("{base}/api/system/events?limit=500"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_owned())
        .collect()
}

fn only<'a>(codes: &'a [String], prefix: &str) -> Vec<&'a str> {
    codes
        .iter()
        .map(String::as_str)
        .filter(|c| c.starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn serve_runs_its_own_postgres_and_keeps_data_across_restarts() {
    let dir = data_dir();
    let client = reqwest::Client::new();
    create_admin(dir.path());

    let first = start(dir.path());
    wait_ready(&client, &first.base).await;
    // /api is closed to anonymous callers.
    let anonymous = client
        .get(format!("{}/api/system/events", first.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let client = admin_client(&first.base).await;
    let traced = client
        .get(format!("{}/api/errors", first.base))
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(traced.status(), 200);
    assert_eq!(
        only(&event_codes(&client, &first.base).await, "SYSTEM_"),
        ["SYSTEM_STARTED"]
    );
    // An open event stream does not hold up the shutdown.
    let events_url = format!("{}/api/events/stream", first.base);
    let mut stream = SseClient::open(&client, events_url, None).await;
    let first_position = stream.position().await;
    let logs = stop(first);
    drop(stream);

    // Every log line of that request carries its trace id, in JSON logs.
    let request_lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("\"path\":\"/api/errors\""))
        .collect();
    assert!(
        !request_lines.is_empty(),
        "no log line for the request:\n{logs}"
    );
    for line in &request_lines {
        let parsed: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            parsed["span"]["trace_id"], "0af7651916cd43dd8448eb211c80319c",
            "{line}"
        );
    }
    // The cluster was stopped with the server.
    let pid_file = dir.path().join("postgres/data/postmaster.pid");
    assert!(
        !pid_file.exists(),
        "Postgres still running after serve exited"
    );

    let second = start(dir.path());
    wait_ready(&client, &second.base).await;
    // Sessions live in Postgres: the one from before the restart still works.
    // Runtime events go through the batching writer: wait for the second start's to land.
    let mut codes = event_codes(&client, &second.base).await;
    for _ in 0..100 {
        if only(&codes, "RUNTIME_").len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        codes = event_codes(&client, &second.base).await;
    }
    assert_eq!(
        only(&codes, "SYSTEM_"),
        ["SYSTEM_STARTED", "SYSTEM_STOPPED", "SYSTEM_STARTED"]
    );
    // The supervision tree stopped in order and its telemetry was flushed before the pool
    // closed: the first run's last events are there.
    assert_eq!(
        only(&codes, "RUNTIME_"),
        ["RUNTIME_STARTED", "RUNTIME_STOPPED", "RUNTIME_STARTED"]
    );
    assert!(
        codes.iter().any(|c| c == "SUPERVISION_SHUTDOWN"),
        "{codes:?}"
    );
    // The previous process's event id means nothing here: refetch, then live.
    let events_url = format!("{}/api/events/stream", second.base);
    let mut stream = SseClient::open(&client, events_url, Some(&first_position.to_string())).await;
    let reset = stream.next_event().await;
    assert!(reset.is("reset"), "{reset:?}");
    assert_eq!(reset.json()["reason"], "unknown_id");
    assert!(reset.id.unwrap() > first_position);
    stop(second);
    drop(stream);
}

/// `--clock-start` runs the whole server on a shifted clock, loudly, and only when no provider
/// reaches a real vendor.
#[tokio::test]
async fn a_shifted_clock_is_for_test_stacks_only() {
    let dir = data_dir();
    let start_at: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let mut real = command(dir.path());
    real.args(["serve", "--clock-start", "2026-11-28T12:00:00Z"])
        .env("DATABENTO_API_KEY", "db-a-real-key");
    let out = real.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("refused") && stderr.contains("databento"),
        "{stderr}"
    );

    create_admin(dir.path());
    let server = start_with(dir.path(), &["--clock-start", "2026-11-28T12:00:00Z"]);
    wait_ready(&reqwest::Client::new(), &server.base).await;
    let client = admin_client(&server.base).await;
    let body: Value = client
        .get(format!("{}/api/system/events?limit=500", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = |code: &str| {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["code"] == code)
            .unwrap_or_else(|| panic!("no {code}: {body}"))
            .clone()
    };
    assert_eq!(event("CLOCK_SHIFTED")["severity"], "SEV-2");
    let started: DateTime<Utc> = event("SYSTEM_STARTED")["created_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        started >= start_at && started - start_at < TimeDelta::minutes(1),
        "{started}"
    );
    let logs = stop(server);
    assert!(logs.contains("the clock is SHIFTED"), "{logs}");
}

#[tokio::test]
async fn a_second_serve_on_the_same_data_dir_is_refused() {
    let dir = data_dir();
    let client = reqwest::Client::new();
    let first = start(dir.path());
    wait_ready(&client, &first.base).await;
    let out = command(dir.path()).arg("serve").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another tradeplane process"), "{stderr}");
    stop(first);
}

#[test]
fn missing_postgres_binaries_fail_with_one_clear_line() {
    let dir = data_dir();
    let out = command(dir.path())
        .env("TRADEPLANE_PG_BIN", dir.path().join("no-such-dir"))
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("apt-get install -y postgresql"),
        "{stderr}"
    );
    assert!(lines[0].contains("DATABASE_URL"), "{stderr}");
}

#[test]
fn doctor_reports_presence_never_values() {
    let dir = data_dir();
    let key = "c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcy0hISE=";
    let out = command(dir.path())
        .env("APP_ENC_KEY", key)
        .env("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/db")
        .arg("doctor")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("APP_ENC_KEY"), "{stdout}");
    assert!(stdout.contains("present (valid 32-byte key)"), "{stdout}");
    assert!(stdout.contains("u:***@127.0.0.1:1/db"), "{stdout}");
    assert!(stdout.contains("UNREACHABLE"), "{stdout}");
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains(key) && !all.contains("hunter2"), "{all}");
    // An unreachable database is a blocking problem.
    assert!(!out.status.success());
}

/// The DATABASE_URL of `pool`'s database (a test's own): the server's URL with its name.
fn database_url(pool: &sqlx::PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let name = pool
        .connect_options()
        .get_database()
        .expect("a database name")
        .to_owned();
    let mut url = reqwest::Url::parse(&base).expect("DATABASE_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// `serve` as node `name` on the test's own database, leases of `ttl_s` seconds.
fn node_command(data_dir: &Path, url: &str, name: &str, ttl_s: u64) -> Command {
    let mut cmd = command(data_dir);
    cmd.env("DATABASE_URL", url)
        .env("TRADEPLANE_NODE_NAME", name)
        .env("TRADEPLANE_LEASE_TTL_SECONDS", ttl_s.to_string());
    cmd
}

/// The bots whose runner is live in the answering process.
async fn live_runners(client: &reqwest::Client, base: &str) -> Vec<String> {
    let body: Value = client
        .get(format!("{base}/api/runtime/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["runners"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .filter(|r| {
            ["STARTING", "RUNNING", "SUSPENDED", "RESTARTING"]
                .contains(&r["status"].as_str().unwrap_or(""))
        })
        .map(|r| r["bot_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The old bug (issue 18): two `serve` processes on one database both ran every RUNNING bot.
/// Now each bot runs in exactly one of them (the one holding its lease; the share is even),
/// and after a kill -9 of one, the other runs every bot within the lease TTL + 2 s.
#[sqlx::test]
async fn two_serve_processes_on_one_database_run_each_bot_once(pool: sqlx::PgPool) {
    let ttl_s = 2;
    let mut bots = Vec::new();
    for _ in 0..4 {
        let bot = crate::support::fixtures::bot_row(&pool).await;
        sqlx::query("UPDATE bots SET stage = 'LAB', status = 'RUNNING' WHERE id = $1")
            .bind(bot)
            .execute(&pool)
            .await
            .unwrap();
        bots.push(bot.to_string());
    }
    let url = database_url(&pool);
    let (dir_a, dir_b) = (data_dir(), data_dir());
    create_admin_with(node_command(dir_a.path(), &url, "node-a", ttl_s));
    let mut a = spawn_serve(node_command(dir_a.path(), &url, "node-a", ttl_s), &[]);
    let b = spawn_serve(node_command(dir_b.path(), &url, "node-b", ttl_s), &[]);
    let (ca, cb) = (admin_client(&a.base).await, admin_client(&b.base).await);

    // Settled: 2 + 2, every bot in exactly one process, the one holding its lease.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (on_a, on_b) = loop {
        let (on_a, on_b) = (
            live_runners(&ca, &a.base).await,
            live_runners(&cb, &b.base).await,
        );
        if on_a.len() == 2 && on_b.len() == 2 {
            break (on_a, on_b);
        }
        assert!(
            Instant::now() < deadline,
            "no 2/2 split: a {on_a:?}, b {on_b:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for bot in &bots {
        assert!(
            on_a.contains(bot) != on_b.contains(bot),
            "{bot} runs in exactly one process: a {on_a:?}, b {on_b:?}"
        );
    }
    // Stable for two more TTLs: nothing runs twice, nothing moves.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (now_a, now_b) = (
            live_runners(&ca, &a.base).await,
            live_runners(&cb, &b.base).await,
        );
        for bot in &bots {
            assert!(
                !(now_a.contains(bot) && now_b.contains(bot)),
                "{bot} runs in both processes"
            );
        }
    }
    let holders: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT bot_id::text, node FROM bot_leases ORDER BY bot_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (bot, node) in &holders {
        let expected = if on_a.contains(bot) {
            "node-a"
        } else {
            "node-b"
        };
        assert_eq!(node.as_deref(), Some(expected), "{holders:?}");
    }

    // kill -9 node-a: node-b runs all four within the TTL + 2 s.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed = Instant::now();
    loop {
        let on_b = live_runners(&cb, &b.base).await;
        if bots.iter().all(|bot| on_b.contains(bot)) {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(ttl_s + 2),
            "node-b runs {on_b:?} {:?} after the kill",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop(b);
}
