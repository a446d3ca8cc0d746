import { Link } from "@tanstack/react-router";
import { Drawer } from "../../components/Drawer";
import { DetailRow, MetadataBlock } from "../../components/DetailList";
import { EmptyState } from "../../components/EmptyState";
import { TraceId } from "../../components/TraceId";
import { formatTime } from "../../lib/time";
import type { UsageEvent } from "../../queries/usage";
import { Latency, UsageStatusBadge } from "./UsageTable";

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
            <DetailRow label="Time">
              {formatTime(event.created_at)} <span className="block font-mono text-xs text-muted">{event.created_at}</span>
            </DetailRow>
            <DetailRow label="Error code">{event.error_code ? <span className="font-mono">{event.error_code}</span> : <span className="text-muted">none</span>}</DetailRow>
            <DetailRow label="Latency">
              <Latency e={event} />
            </DetailRow>
            <DetailRow label="Bot">
              {event.bot_id ? (
                <Link to="/bots/$botId" params={{ botId: event.bot_id }} className="font-mono text-xs text-accent hover:underline">
                  {event.bot_id}
                </Link>
              ) : (
                <span className="text-muted">none</span>
              )}
            </DetailRow>
            <DetailRow label="Run">{event.run_id ? <span className="font-mono text-xs">{event.run_id}</span> : <span className="text-muted">none</span>}</DetailRow>
            <DetailRow label="Trace">
              <TraceId id={event.trace_id} />
            </DetailRow>
            <DetailRow label="Event id">
              <span className="font-mono text-xs">{event.id}</span>
            </DetailRow>
          </dl>
          <MetadataBlock metadata={event.metadata} emptyText="No metadata recorded with this call." testId="usage-metadata" />
        </div>
      )}
    </Drawer>
  );
}
