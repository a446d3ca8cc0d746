//! `tradeplane admin create --email …`: bootstraps accounts from the shell. The password is
//! prompted for (twice, not echoed) on a terminal, or read from the first line of stdin.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};

use super::AdminAction;
use crate::{
    auth::password,
    config::Config,
    domain::access::Role,
    store::{
        self, Database,
        audit_log::{self, Actor, NewAuditEntry, Outcome},
        users,
    },
    trace::TraceId,
};

pub async fn run(config: Config, action: AdminAction) -> anyhow::Result<()> {
    let AdminAction::Create { email, role } = action;
    let role = Role::parse(&role).context("role must be viewer, operator or admin")?;
    if let Err(problem) = crate::api::auth::validate_email(&email) {
        bail!("--email: {}", problem.message);
    }
    let secret = read_password()?;
    if let Err(problem) = password::validate(&secret) {
        bail!("password {problem}");
    }
    // With the embedded cluster, a running `serve` holds the lock and owns the cluster: we
    // then use it without stopping it afterwards.
    let lock = super::serve::lock_data_dir(&config);
    let serve_owns_cluster = lock.is_err();
    let db = Database::open(&config).await?;
    let result = create(&db, &email, &secret, role).await;
    if serve_owns_cluster {
        db.close_keep_running().await;
    } else {
        db.close().await?;
    }
    drop(lock);
    let user = result?;
    println!("created {} {} ({})", user.role, user.email, user.id);
    Ok(())
}

async fn create(
    db: &Database,
    email: &str,
    secret: &str,
    role: Role,
) -> anyhow::Result<users::User> {
    store::migrate(&db.pool)
        .await
        .context("database migrations failed")?;
    let hash = password::hash(secret).await?;
    let trace = TraceId::generate();
    // A shell command outside any server: the real clock.
    let now = crate::clock::Clock::system().now();
    let user = match users::create(&db.pool, email, &hash, role, now, false).await {
        Ok(user) => user,
        Err(users::CreateError::EmailTaken) => {
            bail!("a user with the email {email} exists already")
        }
        Err(e) => return Err(e.into()),
    };
    let entry = NewAuditEntry::new(
        Actor::labelled("cli"),
        "users.create",
        Outcome::Success,
        now,
    )
    .target(user.id.to_string())
    .metadata(
        serde_json::json!({ "email": user.email, "role": role, "via": "tradeplane admin create" }),
    );
    trace
        .scope(audit_log::insert(&db.pool, entry))
        .await
        .context("could not write the audit entry")?;
    Ok(user)
}

fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = prompt("Password: ")?;
    let second = prompt("Repeat password: ")?;
    if first != second {
        bail!("the passwords differ");
    }
    Ok(first)
}

/// Reads one line from the terminal with echo off.
fn prompt(label: &str) -> anyhow::Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    eprint!("{label}");
    std::io::stderr().flush().ok();
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).context("cannot read terminal settings")?;
    let mut silent = saved.clone();
    silent.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &silent).context("cannot turn off echo")?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    tcsetattr(&stdin, SetArg::TCSANOW, &saved).ok();
    eprintln!();
    read.context("cannot read the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
