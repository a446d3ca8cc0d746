//! `GET /api/nodes`: the `serve` processes on this database, their heartbeats and state
//! (dead after the lease TTL without a heartbeat).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiOk, ApiResult, AppState,
    envelope::{Envelope, ErrorEnvelope},
};
use crate::runtime::ownership::{self, NodeView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_nodes))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NodesBody {
    /// Every node, by name.
    pub items: Vec<NodeView>,
    /// The node that answered (null when it runs no supervision tree).
    pub this_node: Option<String>,
    /// A node silent this long is dead and its bots' leases can be taken.
    pub lease_ttl_ms: u64,
}

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
    Ok(ApiOk::new(NodesBody {
        items,
        this_node: rt.ownership().map(|o| o.name().to_owned()),
        lease_ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
    }))
}
