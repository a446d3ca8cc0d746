import { Drawer } from "../../components/Drawer";
import { DetailRow, MetadataBlock } from "../../components/DetailList";
import { EmptyState } from "../../components/EmptyState";
import { SeverityBadge } from "../../components/Badge";
import { TraceId } from "../../components/TraceId";
import { Button } from "../../components/Button";
import { formatTime } from "../../lib/time";
import type { SystemEvent } from "../../queries/events";
import { ExplainPanel } from "../explain/ExplainPanel";
import { Subject } from "./EventTable";

/** Every field of one event, metadata included. */
export function EventDrawer({ id, event, onClose, onFilterCode }: {
  id: string;
  event: SystemEvent | undefined;
  onClose: () => void;
  onFilterCode: (code: string) => void;
}) {
  return (
    <Drawer title="Event details" onClose={onClose}>
      {!event ? (
        <EmptyState
          title="Event not in the loaded list"
          reason={`Event ${id} is not among the events loaded with the current filters (there is no single-event endpoint). Clear the filters or load older events to find it.`}
        />
      ) : (
        <div className="flex flex-col gap-4">
          <div className="flex flex-wrap items-center gap-2">
            <SeverityBadge severity={event.severity} />
            <span className="font-mono text-sm font-semibold">{event.code}</span>
          </div>
          <p className="text-sm">{event.message}</p>
          <dl>
            <DetailRow label="Time">
              {formatTime(event.created_at)} <span className="block font-mono text-xs text-muted">{event.created_at}</span>
            </DetailRow>
            <DetailRow label="Subject">
              <Subject event={event} />
              {event.bot_id && <span className="block font-mono text-xs text-muted">{event.bot_id}</span>}
            </DetailRow>
            <DetailRow label="Trace">
              <TraceId id={event.trace_id} />
            </DetailRow>
            <DetailRow label="Node">
              {event.node_id ? <span className="font-mono text-xs">{event.node_id}</span> : <span className="text-muted">none</span>}
            </DetailRow>
            <DetailRow label="Event id">
              <span className="font-mono text-xs">{event.id}</span>
            </DetailRow>
          </dl>
          {event.severity === "SEV-1" &&
            (event.bot_id ? (
              <ExplainPanel botId={event.bot_id} />
            ) : (
              <p className="text-xs text-muted" data-testid="explain-no-bot">
                Explain (AI) accounts for one bot; this incident names no bot.
              </p>
            ))}
          <MetadataBlock metadata={event.metadata} emptyText="No metadata recorded with this event." testId="event-metadata" />
          <div>
            <Button size="sm" onClick={() => onFilterCode(event.code)}>
              Show only {event.code}
            </Button>
          </div>
        </div>
      )}
    </Drawer>
  );
}
