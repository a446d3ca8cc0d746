//! `tradeplane node drain <name>`: hands a node's bots to the other nodes before a rolling
//! upgrade (the node stops its runners and releases their leases within one renewal round).

use anyhow::bail;

use super::NodeAction;
use crate::{
    config::Config,
    runtime::ownership,
    store::{
        Database,
        audit_log::{self, Actor, NewAuditEntry, Outcome},
    },
    trace::TraceId,
};

pub async fn run(config: Config, action: NodeAction) -> anyhow::Result<()> {
    let NodeAction::Drain { name } = action;
    let db = Database::open(&config).await?;
    let now = crate::clock::Clock::system().now();
    let ttl = config.node.lease_ttl;
    let result = ownership::drain_node(&db.pool, &name, now, ttl).await;
    if let Ok(Some(node)) = &result {
        let entry = NewAuditEntry::new(Actor::labelled("cli"), "node.drain", Outcome::Success, now)
            .target(format!("node:{name}"))
            .metadata(serde_json::json!({ "bots": node.bots, "via": "tradeplane node drain" }));
        if let Err(err) = TraceId::generate()
            .scope(audit_log::insert(&db.pool, entry))
            .await
        {
            eprintln!("warning: could not write the audit entry: {err}");
        }
    }
    db.close_keep_running().await;
    match result? {
        Some(node) => {
            println!(
                "draining node {name}: it hands its {} bot(s) to the other nodes within {} s",
                node.bots,
                ttl.as_secs().div_ceil(3)
            );
            Ok(())
        }
        None => bail!("no running node is named {name} (see GET /api/nodes)"),
    }
}
