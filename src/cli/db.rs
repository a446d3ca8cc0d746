//! `tradeplane db start|stop`: the embedded cluster on its own (used by `make test`).

use anyhow::bail;

use super::DbAction;
use crate::{config::Config, store::embedded};

pub async fn run(config: &Config, action: DbAction) -> anyhow::Result<()> {
    if config.database_url.is_some() {
        bail!("DATABASE_URL is set: the embedded cluster is only used without it");
    }
    match action {
        DbAction::Start => {
            let cluster = embedded::EmbeddedPostgres::start(&config.data_dir).await?;
            println!("{}", cluster.url());
        }
        DbAction::Stop => {
            if embedded::stop_dir(&config.data_dir)? {
                eprintln!("embedded Postgres stopped");
            } else {
                eprintln!("embedded Postgres was not running");
            }
        }
    }
    Ok(())
}
