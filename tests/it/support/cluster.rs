//! Several `tradeplane serve` processes (the built binary) as nodes on one test database, each
//! behind its own [`DbProxy`], so a test can kill -9 a node and restart it, SIGSTOP it and
//! SIGCONT it, or cut its database connections: the fault driver's cluster (issue 18 checks).

use std::{
    io::{BufRead, BufReader},
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use nix::{sys::signal::Signal, unistd::Pid};
use serde_json::Value;
use sqlx::PgPool;
use tradeplane::integrations::registry::EnvMap;

use super::db_proxy::DbProxy;

/// The binary the nodes run: `TRADEPLANE_NODE_BIN` (e.g. a release build, or another
/// commit's build for a before/after figure), else the one `cargo test` built.
fn bin() -> String {
    std::env::var("TRADEPLANE_NODE_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_tradeplane").to_owned())
}
pub const ADMIN_EMAIL: &str = "ops@example.com";
const ADMIN_PASSWORD: &str = "a long enough password";

/// The DATABASE_URL of `pool`'s database (a test's own), reached at `host:port`.
fn database_url(pool: &PgPool, host: &str, port: u16) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let name = pool
        .connect_options()
        .get_database()
        .expect("a database name")
        .to_owned();
    let mut url = reqwest::Url::parse(&base).expect("DATABASE_URL is a URL");
    url.set_path(&name);
    url.set_host(Some(host)).unwrap();
    url.set_port(Some(port)).unwrap();
    url.to_string()
}

/// One node: its name, data dir, database proxy and (while up) its process.
pub struct Node {
    pub name: String,
    dir: tempfile::TempDir,
    pub proxy: DbProxy,
    url: String,
    child: Option<Child>,
    pub base: String,
    pub starts: u32,
    /// More environment for this node's process (e.g. `TRADEPLANE_NODE_CAPACITY`).
    pub env: Vec<(String, String)>,
}

/// The nodes and what they share: the database, the provider env, the lease TTL.
pub struct Cluster {
    pub nodes: Vec<Node>,
    env: EnvMap,
    ttl_s: u64,
    /// The database without a proxy (for one-off commands run while the test runtime waits).
    direct_url: String,
}

impl Cluster {
    /// `n` nodes named `node-0` … on `pool`'s database, providers from `env`, leases of
    /// `ttl_s` seconds; the admin exists before they start. None runs yet: start each with
    /// [`Cluster::spawn`] (after adding to its `env`, e.g. a capacity or a clock offset).
    pub async fn new(pool: &PgPool, n: usize, env: EnvMap, ttl_s: u64) -> Cluster {
        let mut nodes = Vec::new();
        for i in 0..n {
            let proxy = DbProxy::start(pool).await;
            let url = database_url(pool, &proxy.addr.ip().to_string(), proxy.addr.port());
            let dir = tempfile::tempdir().unwrap();
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            nodes.push(Node {
                name: format!("node-{i}"),
                dir,
                proxy,
                url,
                child: None,
                base: String::new(),
                starts: 0,
                env: Vec::new(),
            });
        }
        let opts = pool.connect_options();
        let direct_url = database_url(pool, opts.get_host(), opts.get_port());
        let cluster = Cluster {
            nodes,
            env,
            ttl_s,
            direct_url,
        };
        cluster.create_admin();
        cluster
    }

    fn command(&self, i: usize) -> Command {
        let node = &self.nodes[i];
        let mut cmd = Command::new(bin());
        for name in tradeplane::integrations::registry::process_env().keys() {
            cmd.env_remove(name);
        }
        cmd.envs(&self.env)
            .env("DATABASE_URL", &node.url)
            .env("TRADEPLANE_DATA_DIR", node.dir.path())
            .env("TRADEPLANE_BIND", "127.0.0.1:0")
            .env("TRADEPLANE_NODE_NAME", &node.name)
            .env("TRADEPLANE_LEASE_TTL_SECONDS", self.ttl_s.to_string())
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .env("TRADEPLANE_INSECURE_COOKIES", "1")
            .env("TRADEPLANE_FIRST_ADMIN_2FA_GRACE", "1h")
            .envs(node.env.iter().map(|(k, v)| (k, v)))
            .current_dir(node.dir.path());
        cmd
    }

    fn create_admin(&self) {
        use std::io::Write;
        let mut child = self
            .command(0)
            .env("DATABASE_URL", &self.direct_url)
            .args(["admin", "create", "--email", ADMIN_EMAIL])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{ADMIN_PASSWORD}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.nodes[i].dir.path().join("serve.log")
    }

    /// Starts node `i` (again) and waits until it prints its URL; the test runtime keeps
    /// serving (the proxies run on it) while the process starts.
    pub async fn spawn(&mut self, i: usize) {
        let launched = self.launch(i).await.unwrap();
        self.attach(i, launched);
    }

    /// Starts node `i`'s process; the handle answers once it printed its URL (or ended), so a
    /// driver can go on (e.g. SIGCONT a paused node whose locks the starting one waits for).
    pub fn launch(&self, i: usize) -> tokio::task::JoinHandle<Launched> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .unwrap();
        let mut cmd = self.command(i);
        cmd.arg("serve").stdout(Stdio::piped()).stderr(log);
        tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().unwrap();
            let stdout = child.stdout.take().unwrap();
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let base = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .map(str::to_owned);
            Launched { child, base, line }
        })
    }

    /// Node `i` runs the launched process.
    pub fn attach(&mut self, i: usize, launched: Launched) {
        let Launched { child, base, line } = launched;
        let Some(base) = base else {
            panic!(
                "{} printed no URL: {line:?}; log: {}",
                self.nodes[i].name,
                self.log_tail(i)
            );
        };
        let node = &mut self.nodes[i];
        node.child = Some(child);
        node.base = base;
        node.starts += 1;
    }

    /// kill -9: the process dies without a word (no lease released, no node stopped).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self, i: usize) -> Option<Pid> {
        self.nodes[i]
            .child
            .as_ref()
            .map(|c| Pid::from_raw(c.id() as i32))
    }

    /// SIGSTOP (the process stops dead, timers and all) or SIGCONT.
    pub fn signal(&self, i: usize, signal: Signal) {
        if let Some(pid) = self.pid(i) {
            nix::sys::signal::kill(pid, signal).unwrap();
        }
    }

    /// Whether node `i`'s process ended on its own (answers its exit status).
    pub fn exited(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        self.nodes[i]
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// The last lines of node `i`'s log.
    pub fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM every node and waits (at most 30 s each) for a clean exit.
    pub fn stop_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.signal(i, Signal::SIGCONT);
            if let Some(pid) = self.pid(i) {
                let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
            }
        }
        for i in 0..self.nodes.len() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while let Some(child) = self.nodes[i].child.as_mut() {
                if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            self.kill(i);
        }
    }
}

/// A started `serve` process and the first line it printed.
pub struct Launched {
    child: Child,
    base: Option<String>,
    line: String,
}

impl Drop for Cluster {
    /// Kills what still runs; `TP_NODE_LOGS=<dir>` keeps each node's log there.
    fn drop(&mut self) {
        let keep = std::env::var_os("TP_NODE_LOGS").map(PathBuf::from);
        for i in 0..self.nodes.len() {
            self.kill(i);
            if let Some(dir) = &keep {
                let _ = std::fs::create_dir_all(dir);
                let _ = std::fs::copy(
                    self.log_path(i),
                    dir.join(format!("{}.log", self.nodes[i].name)),
                );
            }
        }
    }
}

/// Logs in as the cluster's admin on `base` and returns a client that sends the session.
pub async fn admin_client(base: &str) -> reqwest::Client {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookies = super::SessionCookies::from_response(&res).expect("session cookies");
    super::Signed::new(cookies).client
}

/// POSTs `path` on `base` and answers (status, body).
pub async fn post(client: &reqwest::Client, base: &str, path: &str, body: Value) -> (u16, Value) {
    let res = client
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}
