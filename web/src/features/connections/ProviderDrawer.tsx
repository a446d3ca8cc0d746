import { useQuery } from "@tanstack/react-query";
import { Badge, type Tone } from "../../components/Badge";
import { Drawer } from "../../components/Drawer";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { TraceId } from "../../components/TraceId";
import { cn } from "../../lib/cn";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { PROVIDER_EVENTS_LIMIT, providerEventsQuery, type ProviderStatus } from "../../queries/integrations";
import { ConnectionBadge } from "./ConnectionBadge";
import { LatencyChart } from "./LatencyChart";
import { BotName } from "../../components/BotName";

const STATUS_TONE: Record<string, Tone> = { OK: "ok", ERROR: "bad", VERIFY: "info" };

/**
 * The pop-out of one provider (deep link `?provider=<id>`): its state, its latency over the
 * last 24 h, and its latest usage events — every call and verify tradeplane recorded, newest first.
 */
export function ProviderDrawer({ id, provider, onClose }: { id: string; provider: ProviderStatus | undefined; onClose: () => void }) {
  const events = useQuery(providerEventsQuery(id));
  const now = useNow(1000);
  const label = provider?.label ?? id;
  const items = events.data?.items ?? [];
  return (
    <Drawer title={`${label} usage events`} onClose={onClose} width={900}>
      <div className="flex flex-col gap-4">
        {provider && (
          <div className="flex flex-wrap items-center gap-2 text-sm">
            <span className="font-mono text-xs text-muted">{provider.id}</span>
            <ConnectionBadge provider={provider} />
            {provider.sandbox && <Badge tone="warn">Sandbox</Badge>}
            <span className="text-muted">
              {provider.proof_of_use_count_24h} successful call{provider.proof_of_use_count_24h === 1 ? "" : "s"} in 24h
            </span>
          </div>
        )}
        <LatencyChart id={id} label={label} />
        <div className="flex flex-wrap items-center gap-3">
          <h3 className="text-sm font-semibold">Latest {PROVIDER_EVENTS_LIMIT} usage events</h3>
          <PanelStatus query={events} />
        </div>
        {events.isError && !events.data && <QueryError error={events.error} />}
        {events.data && items.length === 0 && (
          <EmptyState
            title="No usage recorded yet"
            reason={
              provider && !provider.configured
                ? `tradeplane records every call and verify of ${label} as a usage event. It is not configured, so nothing has called it.`
                : `tradeplane records every call and verify of ${label} as a usage event; none has happened yet. Run Verify, or start a bot that uses it.`
            }
          />
        )}
        {items.length > 0 && (
          <div className={cn("relative overflow-x-auto", events.isError && "opacity-70")} tabIndex={0}>
            <table className="tp-table" aria-label={`Usage events of ${label}`}>
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Operation</th>
                  <th>Status</th>
                  <th style={{ textAlign: "right" }}>Latency</th>
                  <th>Error code</th>
                  <th>Bot</th>
                  <th>Trace</th>
                </tr>
              </thead>
              <tbody>
                {items.map((e) => {
                  const t = parseTime(e.created_at);
                  return (
                    <tr key={e.id}>
                      <td className="whitespace-nowrap">
                        <span className="text-xs">{formatTime(e.created_at)}</span>
                        {t !== null && <span className="block text-xs text-muted">{ago(t, now)}</span>}
                      </td>
                      <td className="font-mono text-xs">{e.action}</td>
                      <td>
                        <Badge tone={STATUS_TONE[e.status] ?? "neutral"}>{e.status}</Badge>
                      </td>
                      <td className="text-right text-xs whitespace-nowrap tabular-nums">{e.latency_ms} ms</td>
                      <td className="font-mono text-xs">{e.error_code ?? <span className="text-muted">—</span>}</td>
                      <td className="font-mono text-xs">
                        {e.bot_id ? (
                          <BotName id={e.bot_id} />
                        ) : (
                          <span className="text-muted" title="Not made for a bot (a verify or a system call)">
                            —
                          </span>
                        )}
                      </td>
                      <td>
                        <TraceId id={e.trace_id} short />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </Drawer>
  );
}
