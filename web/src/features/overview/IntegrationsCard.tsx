import { Link } from "@tanstack/react-router";
import { Card } from "../../components/Card";
import { PanelStatus } from "../../components/PanelStatus";
import { cn } from "../../lib/cn";
import { NoStatus } from "./StaleNote";
import { isStale, type StatusQuery } from "./types";
import { useNow } from "../../lib/time";

/** The integrations summary counts; details on the Connections tab. */
export function IntegrationsCard({ status }: { status: StatusQuery }) {
  const data = status.data;
  const now = useNow(1000);
  const stale = isStale(status, now);
  const s = data?.integrations;
  const rows: { label: string; value: number | null | undefined; hint?: string }[] = s
    ? [
        { label: "Providers", value: s.total },
        { label: "Configured", value: s.configured },
        { label: "Connected", value: s.connected, hint: "configured, last verified OK at the current endpoint, and not failing now (breaker closed)" },
        { label: "Not configured", value: s.not_configured },
        { label: "Sandbox", value: s.sandbox, hint: "pointed at a non-official host; LIVE refuses to start while a broker, market-data or entry-filter provider it would use is a sandbox" },
      ]
    : [];
  return (
    <Card
      title="Integrations"
      status={<PanelStatus query={status} />}
      actions={
        <Link to="/connections" className="text-xs text-accent hover:underline">
          Connections
        </Link>
      }
    >
      {status.isPending && <p className="text-sm text-muted">Loading…</p>}
      {status.isError && !data && <NoStatus what="Integration counts" />}
      {s && (
        <dl className={cn("flex flex-col divide-y divide-line text-sm", stale && "opacity-70")}>
          {rows.map((r) => (
            <div key={r.label} className="flex items-baseline justify-between gap-3 py-1.5" title={r.hint} data-testid={`integrations-${r.label}`}>
              <dt className="text-muted">{r.label}</dt>
              <dd className="font-semibold tabular-nums">
                {r.value ?? <span className="font-normal text-muted">unknown (database unreachable)</span>}
              </dd>
            </div>
          ))}
        </dl>
      )}
    </Card>
  );
}
