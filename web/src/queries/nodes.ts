// /api/nodes: the `serve` processes sharing the database, their heartbeats, leases and the
// cluster's leader; an admin drains one before an upgrade.
import { queryOptions } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type NodeView = components["schemas"]["NodeView"];
export type NodeState = components["schemas"]["NodeState"];
export type LeaseMove = components["schemas"]["LeaseMove"];

export const nodesQuery = () =>
  queryOptions({
    queryKey: ["/api/nodes"],
    queryFn: () => unwrap(api.GET("/api/nodes")),
    refetchInterval: POLL.fast,
    meta: { critical: true, label: "Nodes" },
  });

/** POST /api/nodes/{name}/drain (admin). */
export function drainNode(name: string) {
  return unwrap(api.POST("/api/nodes/{name}/drain", { params: { path: { name } } }));
}

/** A node that can still be drained: alive and not draining already. */
export function drainable(node: NodeView): boolean {
  return node.state === "ALIVE";
}

/**
 * Milliseconds since the node's last heartbeat, now: the age the server measured when it answered
 * (on its own clock, so no browser clock skew) plus the time since that answer arrived.
 */
export function heartbeatAgeMs(node: Pick<NodeView, "heartbeat_age_ms">, answeredAt: number, now: number): number {
  return node.heartbeat_age_ms + Math.max(0, now - answeredAt);
}
