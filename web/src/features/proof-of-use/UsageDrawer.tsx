import { Link } from "@tanstack/react-router";
import { Drawer } from "../../components/Drawer";
import { EmptyState } from "../../components/EmptyState";
import { TraceId } from "../../components/TraceId";
import { formatTime } from "../../lib/time";
import type { UsageEvent } from "../../queries/usage";
import { Latency, UsageStatusBadge } from "./UsageTable";

function Row({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div className="grid grid-cols-[7rem_1fr] gap-3 border-b border-line py-2 text-sm">
      <dt className="text-muted">{label}</dt>
      <dd className="min-w-0 break-words">{children}</dd>
    </div>
  );
}

/** Every field of one usage event, metadata included (redacted when it was written). */
export function UsageDrawer({ id, event, onClose }: { id: string; event: UsageEvent | undefined; onClose: () => void }) {
  return (
    <Drawer title="Usage event" onClose={onClose}>
      {!event ? (
        <EmptyState
          title="Usage event not in the loaded list"
          reason={`Usage event ${id} is not among the events loaded with the current filters and window. Widen the window or load older events to find it.`}
        />
      ) : (
        <div className="flex flex-col gap-4">
          <div className="flex flex-wrap items-center gap-2">
            <UsageStatusBadge status={event.status} />
            <span className="font-mono text-sm font-semibold">
              {event.provider_id} · {event.action}
            </span>
          </div>
          <dl>
            <Row label="Time">
              {formatTime(event.created_at)} <span className="block font-mono text-xs text-muted">{event.created_at}</span>
            </Row>
            <Row label="Error code">{event.error_code ? <span className="font-mono">{event.error_code}</span> : <span className="text-muted">none</span>}</Row>
            <Row label="Latency">
              <Latency e={event} />
            </Row>
            <Row label="Bot">
              {event.bot_id ? (
                <Link to="/bots/$botId" params={{ botId: event.bot_id }} className="font-mono text-xs text-accent hover:underline">
                  {event.bot_id}
                </Link>
              ) : (
                <span className="text-muted">none</span>
              )}
            </Row>
            <Row label="Run">{event.run_id ? <span className="font-mono text-xs">{event.run_id}</span> : <span className="text-muted">none</span>}</Row>
            <Row label="Trace">
              <TraceId id={event.trace_id} />
            </Row>
            <Row label="Event id">
              <span className="font-mono text-xs">{event.id}</span>
            </Row>
          </dl>
          <div>
            <h3 className="mb-1 text-xs font-semibold tracking-wide text-muted uppercase">Metadata</h3>
            {event.metadata && typeof event.metadata === "object" && Object.keys(event.metadata).length > 0 ? (
              <pre className="overflow-auto rounded-md border border-line bg-surface-2 p-3 font-mono text-xs" data-testid="usage-metadata">
                {JSON.stringify(event.metadata, null, 2)}
              </pre>
            ) : (
              <p className="text-sm text-muted">No metadata recorded with this call.</p>
            )}
          </div>
        </div>
      )}
    </Drawer>
  );
}
