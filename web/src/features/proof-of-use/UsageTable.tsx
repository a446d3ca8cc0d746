import { Badge, type Tone } from "../../components/Badge";
import { TraceId } from "../../components/TraceId";
import { formatTime } from "../../lib/time";
import type { UsageEvent } from "../../queries/usage";
import { BotName } from "../../components/BotName";

const STATUS_TONE: Record<string, Tone> = { OK: "ok", ERROR: "bad", VERIFY: "info" };

export function UsageStatusBadge({ status }: { status: string }) {
  return <Badge tone={STATUS_TONE[status] ?? "neutral"}>{status}</Badge>;
}

/** A breaker refusal never reached the vendor: its latency is not a measurement. */
export function Latency({ e }: { e: UsageEvent }) {
  if (e.error_code === "CIRCUIT_BREAKER_OPEN") return <span className="text-xs text-muted" title="Refused by the circuit breaker before any request was sent">not sent</span>;
  return <span className="tabular-nums">{e.latency_ms} ms</span>;
}

export function UsageTable({ events, onOpen, selectedId }: {
  events: readonly UsageEvent[];
  onOpen: (id: string) => void;
  selectedId?: string;
}) {
  return (
    <div className="relative overflow-x-auto" tabIndex={0}>
      <table className="tp-table" aria-label="Usage events">
        <thead>
          <tr>
            <th className="w-44">Time</th>
            <th className="w-32">Provider</th>
            <th>Action</th>
            <th className="w-24">Status</th>
            <th className="w-40">Error</th>
            <th className="w-24 text-right">Latency</th>
            <th className="w-28">Bot</th>
            <th className="w-36">Trace</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id} data-usage-id={e.id} className={e.id === selectedId ? "bg-surface-2" : "hover:bg-surface-2/60"}>
              <td className="font-mono text-xs whitespace-nowrap" title={e.created_at}>
                {formatTime(e.created_at)}
              </td>
              <td className="font-mono text-xs">{e.provider_id}</td>
              <td>
                <button
                  type="button"
                  onClick={() => onOpen(e.id)}
                  className="text-left font-mono text-xs font-medium break-all text-accent hover:underline"
                  aria-label={`Details of ${e.provider_id} ${e.action} at ${formatTime(e.created_at)}`}
                >
                  {e.action}
                </button>
              </td>
              <td>
                <UsageStatusBadge status={e.status} />
              </td>
              <td className="font-mono text-xs">{e.error_code ?? <span className="text-muted">—</span>}</td>
              <td className="text-right text-sm">
                <Latency e={e} />
              </td>
              <td className="text-xs">
                {e.bot_id ? (
                  <BotName id={e.bot_id} />
                ) : (
                  <span className="text-muted" title="Not made for a bot (a verify, an operator action or system work)">
                    none
                  </span>
                )}
              </td>
              <td className="whitespace-nowrap">
                <TraceId id={e.trace_id} short />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
