//! A private PostgreSQL cluster run from the system's binaries, used when `DATABASE_URL` is
//! unset. Layout under `<data dir>/postgres/`: `data/` (PGDATA), `run/` (socket and lock
//! files), `server.log`, and `password` (the generated superuser password, mode 0600).
//!
//! `initdb` refuses to run as root, so under root the cluster is owned and run by an
//! unprivileged user (`postgres` by default, `TRADEPLANE_PG_USER` to override).

use std::{
    fs,
    io::Write,
    net::TcpListener,
    os::unix::{
        fs::{OpenOptionsExt, PermissionsExt},
        process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Command, Output},
};

use nix::unistd::{Gid, Uid, User};
use rand::Rng;
use sqlx::{Connection, PgConnection};

const SUPERUSER: &str = "tradeplane";
const DATABASE: &str = "tradeplane";

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them (`apt-get install -y postgresql`), \
         set TRADEPLANE_PG_BIN to the folder holding them, or set DATABASE_URL to an existing database"
    )]
    BinariesNotFound,
    #[error(
        "running as root needs the unprivileged user `{0}` to own the embedded cluster: create it \
         (`apt-get install -y postgresql` does), set TRADEPLANE_PG_USER, or set DATABASE_URL"
    )]
    NoUnprivilegedUser(String),
    #[error(
        "user `{user}` cannot reach the data dir {path}: make its parent folders traversable \
         (chmod o+x) or choose another TRADEPLANE_DATA_DIR"
    )]
    NotTraversable { user: String, path: PathBuf },
    #[error(
        "the embedded cluster in {0} has no password file: remove the folder to start afresh, or set DATABASE_URL"
    )]
    PasswordMissing(PathBuf),
    #[error("{step} failed: {detail}")]
    Step { step: &'static str, detail: String },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LaunchError + '_ {
    move |source| LaunchError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Finds the folder holding `initdb` and `pg_ctl`: `TRADEPLANE_PG_BIN`, else Debian's newest
/// `/usr/lib/postgresql/<N>/bin`, else the `PATH`.
pub fn find_binaries() -> Result<PathBuf, LaunchError> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("TRADEPLANE_PG_BIN").map(PathBuf::from) {
        return has_tools(&dir)
            .then_some(dir)
            .ok_or(LaunchError::BinariesNotFound);
    }
    let mut debian: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_tools(bin))
        .collect();
    debian.sort();
    if let Some((_, bin)) = debian.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|dir| has_tools(dir))
        .ok_or(LaunchError::BinariesNotFound)
}

/// A running embedded cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    root: PathBuf,
    bin: PathBuf,
    owner: Option<User>,
    port: u16,
    password: String,
}

impl EmbeddedPostgres {
    /// Starts (creating on first use) the cluster under `data_dir`, or adopts it if it is
    /// already running, and makes sure the `tradeplane` database exists.
    pub async fn start(data_dir: &Path) -> Result<Self, LaunchError> {
        let bin = find_binaries()?;
        let owner = cluster_owner()?;
        let root = cluster_root(data_dir, owner.as_ref())?;
        let pgdata = root.join("data");
        let run_dir = root.join("run");
        for dir in [&root, &run_dir] {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        if let Some(user) = &owner {
            check_traversable(&root, user)?;
            for dir in [&root, &run_dir] {
                chown(dir, user)?;
            }
        }
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).map_err(io_err(&root))?;

        let password_file = root.join("password");
        if !pgdata.join("PG_VERSION").exists() {
            initdb(&bin, &root, &pgdata, &password_file, owner.as_ref())?;
        }
        let password = fs::read_to_string(&password_file)
            .map_err(|_| LaunchError::PasswordMissing(root.clone()))?
            .trim()
            .to_owned();

        let mut cluster = EmbeddedPostgres {
            root,
            bin,
            owner,
            port: 0,
            password,
        };
        cluster.port = match cluster.running_port() {
            Some(port) => port,
            None => cluster.pg_ctl_start()?,
        };
        cluster.ensure_database().await?;
        Ok(cluster)
    }

    /// The connection URL of the `tradeplane` database.
    pub fn url(&self) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{DATABASE}",
            self.password, self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the cluster (fast shutdown: open sessions are closed, data is flushed).
    pub fn stop(&self) -> Result<(), LaunchError> {
        let pgdata = self.root.join("data");
        let out = self.run(
            "pg_ctl",
            &[
                "stop",
                "-D",
                path_str(&pgdata)?,
                "-m",
                "fast",
                "-w",
                "-t",
                "30",
            ],
        )?;
        if out.status.success() || self.running_port().is_none() {
            Ok(())
        } else {
            Err(step_failed("pg_ctl stop", &out))
        }
    }

    /// The port of a postmaster already serving this data dir, if one is alive.
    fn running_port(&self) -> Option<u16> {
        let pgdata = self.root.join("data");
        let status = self
            .run("pg_ctl", &["status", "-D", pgdata.to_str()?])
            .ok()?;
        if !status.status.success() {
            return None;
        }
        // postmaster.pid line 4 is the port.
        let pid_file = fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    fn pg_ctl_start(&self) -> Result<u16, LaunchError> {
        let port = free_port()?;
        let pgdata = self.root.join("data");
        let log = self.root.join("server.log");
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1",
            path_str(&self.root.join("run"))?
        );
        let out = self.run(
            "pg_ctl",
            &[
                "start",
                "-D",
                path_str(&pgdata)?,
                "-l",
                path_str(&log)?,
                "-w",
                "-t",
                "60",
                "-o",
                &options,
            ],
        )?;
        if !out.status.success() {
            let tail = fs::read_to_string(&log)
                .map(|l| l.lines().rev().take(5).collect::<Vec<_>>().join(" / "))
                .unwrap_or_default();
            return Err(LaunchError::Step {
                step: "pg_ctl start",
                detail: format!("{} (server log: {tail})", output_text(&out)),
            });
        }
        Ok(port)
    }

    async fn ensure_database(&self) -> Result<(), LaunchError> {
        let admin_url = format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/postgres",
            self.password, self.port
        );
        let db_err = |e: sqlx::Error| LaunchError::Step {
            step: "create database",
            detail: e.to_string(),
        };
        let mut conn = PgConnection::connect(&admin_url).await.map_err(db_err)?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await
                .map_err(db_err)?;
        if !exists {
            sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
                .execute(&mut conn)
                .await
                .map_err(db_err)?;
        }
        conn.close().await.map_err(db_err)
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<Output, LaunchError> {
        run_tool(&self.bin, tool, args, &self.root, self.owner.as_ref())
    }
}

fn initdb(
    bin: &Path,
    root: &Path,
    pgdata: &Path,
    password_file: &Path,
    owner: Option<&User>,
) -> Result<(), LaunchError> {
    let password = hex::encode(rand::rng().random::<[u8; 24]>());
    // The password file is read by initdb (running as the owner) and by us on every start;
    // the owner of the cluster's folder is the only one who can reach it.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(password_file)
        .map_err(io_err(password_file))?;
    file.write_all(password.as_bytes())
        .map_err(io_err(password_file))?;
    drop(file);
    if let Some(user) = owner {
        chown(password_file, user)?;
    }
    let out = run_tool(
        bin,
        "initdb",
        &[
            "-D",
            path_str(pgdata)?,
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            &format!("--pwfile={}", path_str(password_file)?),
            "--encoding=UTF8",
            "--locale=C",
        ],
        root,
        owner,
    )?;
    if !out.status.success() {
        // Leave no half-made cluster behind: the next start would mistake it for a real one.
        let _ = fs::remove_dir_all(pgdata);
        return Err(step_failed("initdb", &out));
    }
    Ok(())
}

fn run_tool(
    bin: &Path,
    tool: &str,
    args: &[&str],
    cwd: &Path,
    owner: Option<&User>,
) -> Result<Output, LaunchError> {
    let mut cmd = Command::new(bin.join(tool));
    cmd.args(args).current_dir(cwd).env("LC_ALL", "C");
    if let Some(user) = owner {
        cmd.uid(user.uid.as_raw())
            .gid(user.gid.as_raw())
            .env("HOME", &user.dir)
            .env("USER", &user.name);
    }
    cmd.output().map_err(|e| LaunchError::Step {
        step: "spawn PostgreSQL tool",
        detail: format!("{}: {e}", bin.join(tool).display()),
    })
}

/// `None` when we can run the cluster ourselves; the unprivileged owner when we are root.
fn cluster_owner() -> Result<Option<User>, LaunchError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let name = std::env::var("TRADEPLANE_PG_USER").unwrap_or_else(|_| "postgres".to_owned());
    match User::from_name(&name) {
        Ok(Some(user)) if !user.uid.is_root() => Ok(Some(user)),
        _ => Err(LaunchError::NoUnprivilegedUser(name)),
    }
}

/// Where the cluster lives: `<data dir>/postgres`, unless we run as root and the cluster's
/// owner cannot reach that folder (a checkout under `/root`, say). Then it lives under
/// `/var/lib/tradeplane/clusters/<hash of the data dir>`, still one cluster per data dir.
fn cluster_root(data_dir: &Path, owner: Option<&User>) -> Result<PathBuf, LaunchError> {
    let preferred = absolute(&data_dir.join("postgres"))?;
    let Some(user) = owner else {
        return Ok(preferred);
    };
    if check_traversable(&preferred, user).is_ok() {
        return Ok(preferred);
    }
    let fallback = Path::new(FALLBACK_ROOT).join(format!(
        "{:016x}",
        fnv1a(preferred.as_os_str().as_encoded_bytes())
    ));
    fs::create_dir_all(FALLBACK_ROOT).map_err(io_err(Path::new(FALLBACK_ROOT)))?;
    fs::set_permissions(FALLBACK_ROOT, fs::Permissions::from_mode(0o755))
        .map_err(io_err(Path::new(FALLBACK_ROOT)))?;
    tracing::info!(
        data_dir = %data_dir.display(),
        cluster = %fallback.display(),
        "the data dir is not reachable by user {}; keeping its Postgres cluster elsewhere",
        user.name
    );
    Ok(fallback)
}

const FALLBACK_ROOT: &str = "/var/lib/tradeplane/clusters";

/// FNV-1a: a stable hash (std's hasher may change between Rust releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The owner must be able to walk down to its cluster folder from `/`.
fn check_traversable(root: &Path, user: &User) -> Result<(), LaunchError> {
    for dir in root.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(dir) else {
            continue;
        };
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode();
        let ok = if meta.uid() == user.uid.as_raw() {
            mode & 0o100 != 0
        } else if meta.gid() == user.gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !ok {
            return Err(LaunchError::NotTraversable {
                user: user.name.clone(),
                path: dir.to_owned(),
            });
        }
    }
    Ok(())
}

fn chown(path: &Path, user: &User) -> Result<(), LaunchError> {
    nix::unistd::chown(path, Some(user.uid), Some(Gid::from_raw(user.gid.as_raw()))).map_err(|e| {
        LaunchError::Io {
            path: path.to_owned(),
            source: e.into(),
        }
    })
}

fn absolute(path: &Path) -> Result<PathBuf, LaunchError> {
    std::path::absolute(path).map_err(io_err(path))
}

fn path_str(path: &Path) -> Result<&str, LaunchError> {
    path.to_str().ok_or_else(|| LaunchError::Step {
        step: "path check",
        detail: format!("{} is not valid UTF-8", path.display()),
    })
}

fn free_port() -> Result<u16, LaunchError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io_err(Path::new("127.0.0.1:0")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(io_err(Path::new("127.0.0.1:0")))
}

fn output_text(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn step_failed(step: &'static str, out: &Output) -> LaunchError {
    LaunchError::Step {
        step,
        detail: output_text(out),
    }
}

/// Stops the cluster under `data_dir` if one is running there. `Ok(false)`: nothing to stop.
pub fn stop_dir(data_dir: &Path) -> Result<bool, LaunchError> {
    let owner = cluster_owner()?;
    let root = cluster_root(data_dir, owner.as_ref())?;
    if !root.join("data").join("PG_VERSION").exists() {
        return Ok(false);
    }
    let cluster = EmbeddedPostgres {
        root,
        bin: find_binaries()?,
        owner,
        port: 0,
        password: String::new(),
    };
    if cluster.running_port().is_none() {
        return Ok(false);
    }
    cluster.stop().map(|()| true)
}
