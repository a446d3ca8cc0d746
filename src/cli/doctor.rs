//! `tradeplane doctor`: what is configured, what is missing, and whether the database works.
//! Secret values are never printed, only whether they are present and well-formed.

use std::{process::ExitCode, time::Duration};

use crate::{
    config::{Config, EncKey, redact_url},
    store::{self, MigrationState, embedded},
};

pub async fn run(config: &Config) -> anyhow::Result<ExitCode> {
    let mut blocking = 0;
    println!("tradeplane doctor");
    println!("configuration:");
    match &config.database_url {
        Some(url) => line(
            "DATABASE_URL",
            &format!("set ({})", redact_url(url.expose())),
        ),
        None => line(
            "DATABASE_URL",
            &format!(
                "unset: an embedded cluster is used under {}",
                config.data_dir.join("postgres").display()
            ),
        ),
    }
    line("TRADEPLANE_BIND", &config.bind.to_string());
    line(
        "TRADEPLANE_DATA_DIR",
        &config.data_dir.display().to_string(),
    );
    line("TRADEPLANE_WEB_DIR", &web_dir_state(config));
    line(
        "LOG_FORMAT",
        &format!("{:?}", config.log_format).to_lowercase(),
    );
    line(
        "APP_ENC_KEY",
        match config.enc_key {
            EncKey::Valid(_) => "present (valid 32-byte key)",
            EncKey::Missing => {
                "missing: 2FA enrollment is refused until it is set (openssl rand -base64 32)"
            }
            EncKey::Invalid(reason) => reason,
        },
    );
    if let EncKey::Invalid(_) = config.enc_key {
        blocking += 1;
    }

    providers_section();

    println!("checks:");
    match &config.database_url {
        Some(url) => blocking += check_database(url.expose()).await,
        None => match embedded::find_binaries() {
            Ok(bin) => line("postgres binaries", &format!("ok ({})", bin.display())),
            Err(err) => {
                line("postgres binaries", &format!("MISSING: {err}"));
                blocking += 1;
            }
        },
    }

    if blocking == 0 {
        println!("result: ready to serve");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("result: {blocking} problem(s) to fix before serving");
        Ok(ExitCode::FAILURE)
    }
}

/// Returns the number of blocking problems found (0 or 1).
async fn check_database(url: &str) -> usize {
    let probe = tokio::time::timeout(Duration::from_secs(5), async {
        let pool = store::connect(url).await?;
        let state = store::migration_state(&pool).await;
        pool.close().await;
        state
    })
    .await;
    match probe {
        Ok(Ok(MigrationState::Current)) => {
            line("database", "reachable, migrations current");
            0
        }
        Ok(Ok(MigrationState::Pending(v))) => {
            line(
                "database",
                &format!(
                    "reachable, {} migration(s) pending (serve applies them; or run `tradeplane migrate`)",
                    v.len()
                ),
            );
            0
        }
        Ok(Err(err)) => {
            line("database", &format!("UNREACHABLE: {err}"));
            1
        }
        Err(_) => {
            line("database", "UNREACHABLE: no answer within 5 s");
            1
        }
    }
}

fn web_dir_state(config: &Config) -> String {
    let dir = config.web_dir.display();
    if config.web_dir.join("index.html").is_file() {
        format!("{dir} (built)")
    } else {
        format!("{dir} (not built: a placeholder page is served at /)")
    }
}

fn line(name: &str, value: &str) {
    println!("  {name:<22} {value}");
}

/// Present/missing per provider, by variable name only (values are never printed).
fn providers_section() {
    let env = crate::integrations::registry::process_env();
    println!("providers:");
    for spec in crate::integrations::registry::PROVIDERS {
        let config = crate::integrations::registry::ProviderConfig::from_env(spec, &env);
        let state = if config.configured() {
            format!(
                "configured{}",
                if config.sandbox {
                    " (sandbox endpoint)"
                } else {
                    ""
                }
            )
        } else if !config.missing_env_vars.is_empty() {
            format!("missing {}", config.missing_env_vars.join(", "))
        } else {
            config.problem.clone().unwrap_or_default()
        };
        line(spec.id, &state);
    }
}
