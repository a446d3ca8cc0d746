//! `GET /api/nodes`: the `serve` processes on this database, their heartbeats and state
//! (dead after the lease TTL without a heartbeat, or found gone), and the newest bot moves
//! between them. `POST /api/nodes/{name}/drain` hands a
//! node's bots to the others.

use axum::extract::State;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, ApiOk, ApiPath, ApiResult, AppState,
    auth::{ClientIp, CurrentUser, audit},
    envelope::{Envelope, ErrorEnvelope},
};
use crate::error_code::ErrorCode;
use crate::runtime::ownership::{self, NodeView};
use crate::store::audit_log::{NewAuditEntry, Outcome};
use crate::store::nodes::{self, LeaseMove};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_nodes, drain_node))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NodesBody {
    /// Every node, by name.
    pub items: Vec<NodeView>,
    /// The node that answered (null when it runs no supervision tree).
    pub this_node: Option<String>,
    /// A node silent this long is dead and its bots' leases can be taken.
    pub lease_ttl_ms: u64,
    /// The newest bot moves between nodes (at most 20, among the 1,000 newest lease epochs),
    /// newest first.
    pub recent_moves: Vec<LeaseMove>,
}

/// How many moves `GET /api/nodes` lists, and among how many of the newest lease epochs.
const MOVES_SHOWN: i64 = 20;
const EPOCHS_SCANNED: i64 = 1_000;

/// The nodes sharing this database: heartbeat, age, capacity, ALIVE | DEAD | STOPPED.
#[utoipa::path(
    get,
    path = "/api/nodes",
    tag = "runtime",
    responses(
        (status = 200, body = Envelope<NodesBody>),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn list_nodes(State(state): State<AppState>) -> ApiResult<NodesBody> {
    let rt = &state.runtime;
    let ttl = rt.lease_ttl();
    let items = ownership::list_nodes(&state.pool, rt.clock().now(), ttl).await?;
    let recent_moves = nodes::recent_moves(&state.pool, MOVES_SHOWN, EPOCHS_SCANNED).await?;
    Ok(ApiOk::new(NodesBody {
        items,
        this_node: rt.ownership().map(|o| o.name().to_owned()),
        lease_ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        recent_moves,
    }))
}

/// Drains a node for a rolling upgrade: within one renewal round it stops its runners and lets
/// their leases go; the other nodes take the bots over through safe start. It claims nothing
/// more until it restarts. Idempotent.
#[utoipa::path(
    post,
    path = "/api/nodes/{name}/drain",
    tag = "runtime",
    security(("session" = ["admin"])),
    params(("name" = String, Path)),
    responses(
        (status = 200, body = Envelope<NodeView>),
        (status = 403, description = "`FORBIDDEN`", body = ErrorEnvelope),
        (status = 404, description = "`NODE_NOT_FOUND`", body = ErrorEnvelope),
    )
)]
async fn drain_node(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<NodeView> {
    let rt = &state.runtime;
    let now = rt.clock().now();
    let Some(node) = ownership::drain_node(&state.pool, &name, now, rt.lease_ttl()).await? else {
        return Err(ApiError::new(ErrorCode::NodeNotFound)
            .message(format!("No running node is named {name}."))
            .details(json!({ "name": name })));
    };
    audit(
        &state,
        NewAuditEntry::new(me.actor(), "node.drain", Outcome::Success, now)
            .target(format!("node:{name}"))
            .ip(Some(ip.0))
            .metadata(json!({ "bots": node.bots })),
    )
    .await;
    Ok(ApiOk::new(node))
}
