import { Drawer } from "../../components/Drawer";
import { EmptyState } from "../../components/EmptyState";
import { SeverityBadge } from "../../components/Badge";
import { TraceId } from "../../components/TraceId";
import { Button } from "../../components/Button";
import { formatTime } from "../../lib/time";
import type { SystemEvent } from "../../queries/events";
import { Subject } from "./EventTable";

function Row({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div className="grid grid-cols-[7rem_1fr] gap-3 border-b border-line py-2 text-sm">
      <dt className="text-muted">{label}</dt>
      <dd className="min-w-0 break-words">{children}</dd>
    </div>
  );
}

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
            <Row label="Time">
              {formatTime(event.created_at)} <span className="block font-mono text-xs text-muted">{event.created_at}</span>
            </Row>
            <Row label="Subject">
              <Subject event={event} />
              {event.bot_id && <span className="block font-mono text-xs text-muted">{event.bot_id}</span>}
            </Row>
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
              <pre className="overflow-auto rounded-md border border-line bg-surface-2 p-3 font-mono text-xs" data-testid="event-metadata">
                {JSON.stringify(event.metadata, null, 2)}
              </pre>
            ) : (
              <p className="text-sm text-muted">No metadata recorded with this event.</p>
            )}
          </div>
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
