// The Nodes view: every `serve` process on this database (ALIVE, DRAINING, DEAD after the lease
// TTL without a heartbeat or once another node found its database session ended, STOPPED), its
// heartbeat age, the bots it holds leases on, which node runs the cluster's singletons, the
// newest bot moves between nodes, and Drain (admins) for a rolling upgrade. Heartbeat ages keep
// counting after the answer; once the answer is old or its refetch failed, every row is the last
// known state, greyed (never a green ALIVE that nobody has confirmed).
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { LogOut } from "lucide-react";
import { ActionError } from "../../components/ActionError";
import { Badge, type Tone } from "../../components/Badge";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { useRoleGate } from "../../lib/roleGate";
import { useTitle } from "../../lib/title";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { Link } from "@tanstack/react-router";
import { drainNode, drainable, heartbeatAgeMs, nodesQuery, type LeaseMove, type NodeState, type NodeView } from "../../queries/nodes";
import { queryFreshness } from "../../lib/freshness";
import { cn } from "../../lib/cn";

const TONE: Record<NodeState, Tone> = {
  ALIVE: "ok",
  DRAINING: "warn",
  DEAD: "bad",
  STOPPED: "neutral",
};

/** Seconds with one decimal: heartbeat ages are sub-second when healthy. */
function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function DrainNode({ node, gate, ttlMs }: { node: NodeView; gate: string | null; ttlMs: number }) {
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const drain = useMutation({
    mutationFn: () => drainNode(node.name),
    onSuccess: () => setOpen(false),
    onSettled: () => void client.invalidateQueries({ queryKey: ["/api/nodes"] }),
  });
  const reason = gate ?? (drainable(node) ? null : `The node is ${node.state}: only an ALIVE node can be drained`);
  return (
    <>
      <Button size="sm" aria-label={`Drain node ${node.name}`} disabledReason={reason} onClick={() => { drain.reset(); setOpen(true); }}>
        <LogOut size={13} aria-hidden /> Drain
      </Button>
      {open && (
        <ConfirmDialog
          title={`Drain node ${node.name}`}
          danger
          confirmLabel="Drain node"
          busy={drain.isPending}
          error={drain.isError ? <ActionError error={drain.error} /> : undefined}
          onConfirm={() => drain.mutate()}
          onCancel={() => setOpen(false)}
          consequences={
            <ul className="flex list-disc flex-col gap-1 pl-4 text-fg">
              <li>
                Within one renewal round (about {seconds(ttlMs / 3)}) the node stops the runners of its {node.bots} bot(s) and lets their leases go;
                {node.leader ? " it also hands over the cluster's singletons (alerts, job timeout sweep);" : ""} it claims no bot until it restarts.
              </li>
              <li>The other alive nodes take each bot over through safe start. With no other alive node, the bots stay unowned and the status turns BLOCKED (BOT_UNOWNED).</li>
              <li>Restarting the node ends the drain. Audited with your name.</li>
            </ul>
          }
        />
      )}
    </>
  );
}

/** The newest bot moves between nodes (takeovers, rescues, drains, rebalancing). */
function RecentMoves({ moves }: { moves: LeaseMove[] }) {
  return (
    <section aria-labelledby="recent-moves" className="flex flex-col gap-2">
      <h2 id="recent-moves" className="text-sm font-semibold">
        Recent moves
      </h2>
      {moves.length === 0 ? (
        <p className="text-xs text-muted">No bot has moved between nodes lately.</p>
      ) : (
        <div className="relative overflow-x-auto rounded-lg border border-line bg-surface" tabIndex={0}>
          <table aria-label="Recent moves" className="w-full text-sm">
            <thead className="text-left text-xs text-muted">
              <tr>
                <th className="px-3 py-2 font-medium">When</th>
                <th className="px-3 py-2 font-medium">Bot</th>
                <th className="px-3 py-2 font-medium">From</th>
                <th className="px-3 py-2 font-medium">To</th>
              </tr>
            </thead>
            <tbody>
              {moves.map((m) => (
                <tr key={`${m.bot_id}-${m.at}`} className="border-t border-line" data-testid={`move-${m.bot_id}`}>
                  <td className="px-3 py-2 text-xs tabular-nums">{formatTime(m.at)}</td>
                  <td className="px-3 py-2 text-xs">
                    <Link className="underline" to="/bots/$botId" params={{ botId: m.bot_id }}>
                      {m.bot_name}
                    </Link>
                  </td>
                  <td className="px-3 py-2 font-mono text-xs">{m.from_node}</td>
                  <td className="px-3 py-2 font-mono text-xs">{m.to_node}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function NodesPage() {
  useTitle("Nodes");
  const nodes = useQuery(nodesQuery());
  const gate = useRoleGate("Drain", "admin", ["/api/nodes", "/api/nodes/{name}/drain"]);
  const now = useNow(5000);
  const items = nodes.data?.items ?? [];
  const ttlMs = nodes.data?.lease_ttl_ms ?? 0;
  const freshness = queryFreshness(nodes, now);
  const stale = nodes.data !== undefined && freshness.stale;
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold tracking-tight">Nodes</h1>
        <PanelStatus query={nodes} />
        {nodes.data && (
          <p className="ml-auto text-xs text-muted">
            Lease TTL {seconds(ttlMs)}: a node silent that long is DEAD and its bots are taken over (at once when its database session ends).
          </p>
        )}
      </div>
      {gate && (
        <p className="text-xs text-warn" data-testid="drain-gate">
          Drain unavailable: {gate}
        </p>
      )}
      {nodes.isPending && <p className="text-sm text-muted">Loading nodes…</p>}
      {nodes.isError && !nodes.data && <QueryError error={nodes.error} />}
      {stale && items.length > 0 && (
        <p className="rounded-md border border-warn/40 bg-warn/10 px-3 py-2 text-xs" data-testid="nodes-stale">
          Stale: {freshness.reason ?? "not current"}. The states and heartbeats below are the last known ones, not confirmed now.
        </p>
      )}
      {nodes.data && items.length === 0 && <EmptyState title="No nodes" reason="No serve process has registered on this database yet." />}
      {items.length > 0 && (
        <div className="relative overflow-x-auto rounded-lg border border-line bg-surface" tabIndex={0}>
          <table aria-label="Nodes" className="w-full text-sm">
            <thead className="text-left text-xs text-muted">
              <tr>
                <th className="px-3 py-2 font-medium">Node</th>
                <th className="px-3 py-2 font-medium">State</th>
                <th className="px-3 py-2 font-medium">Heartbeat</th>
                <th className="px-3 py-2 font-medium">Bots held</th>
                <th className="px-3 py-2 font-medium">Capacity</th>
                <th className="px-3 py-2 font-medium">Started</th>
                <th className="px-3 py-2 font-medium">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((node) => {
                const started = parseTime(node.started_at);
                return (
                  <tr key={node.name} className={cn("border-t border-line align-top", stale && "opacity-70")} data-testid={`node-${node.name}`} data-stale={stale ? "true" : "false"}>
                    <td className="px-3 py-2">
                      <span className="font-mono text-xs">{node.name}</span>
                      {node.name === nodes.data?.this_node && <span className="ml-2 text-xs text-muted">(answering)</span>}
                      <span className="block text-xs text-muted">
                        {node.host} · v{node.version}
                      </span>
                    </td>
                    <td className="px-3 py-2">
                      <Badge tone={stale ? "neutral" : TONE[node.state]} title={stale ? `Last known state: ${freshness.reason ?? "not current"}` : undefined}>
                        {node.state}
                        {stale && " (last known)"}
                      </Badge>
                      {node.gone_at && (
                        <span className="block text-xs text-bad" title={formatTime(node.gone_at)}>
                          database session ended: bots released at {formatTime(node.gone_at)}
                        </span>
                      )}
                      {node.leader && <span className="block text-xs text-muted">leader: runs alerts and the job sweep</span>}
                    </td>
                    <td className="px-3 py-2 text-xs tabular-nums" title={formatTime(node.heartbeat_at)} data-testid="heartbeat-age">
                      {stale && "last known "}
                      {seconds(heartbeatAgeMs(node, nodes.dataUpdatedAt, now))} ago
                    </td>
                    <td className="px-3 py-2 text-xs tabular-nums">
                      {node.bots}
                      {node.next_lease_expiry && (
                        <span className="block text-muted" title={formatTime(node.next_lease_expiry)}>
                          next expiry {formatTime(node.next_lease_expiry)}
                        </span>
                      )}
                    </td>
                    <td className="px-3 py-2 text-xs tabular-nums">{node.capacity}</td>
                    <td className="px-3 py-2 text-xs" title={formatTime(node.started_at)}>
                      {started === null ? "—" : ago(started, now)}
                    </td>
                    <td className="px-3 py-2 text-right">
                      <DrainNode node={node} gate={gate} ttlMs={ttlMs} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {nodes.data && <RecentMoves moves={nodes.data.recent_moves} />}
    </div>
  );
}
