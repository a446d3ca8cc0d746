import { Link } from "@tanstack/react-router";
import { SeverityBadge } from "../../components/Badge";
import { TraceId } from "../../components/TraceId";
import { formatTime } from "../../lib/time";
import type { SystemEvent } from "../../queries/events";
import { BotName } from "../../components/BotName";

/** The bot an event concerns (short id, links to the bot) and/or its provider (links to its usage). */
export function Subject({ event }: { event: SystemEvent }) {
  if (!event.bot_id && !event.provider_id) return <span className="text-xs text-muted">system</span>;
  return (
    <span className="flex flex-col gap-0.5 text-xs">
      {event.bot_id && (
        <span>
          bot <BotName id={event.bot_id} />
        </span>
      )}
      {event.provider_id && (
        <Link to="/proof-of-use" search={{ provider: event.provider_id }} className="font-mono text-accent hover:underline" title={`Usage of ${event.provider_id}`}>
          {event.provider_id}
        </Link>
      )}
    </span>
  );
}

export function EventTable({ events, onOpen, selectedId }: {
  events: readonly SystemEvent[];
  onOpen: (id: string) => void;
  selectedId?: string;
}) {
  return (
    <div className="relative overflow-x-auto" tabIndex={0}>
      <table className="tp-table" aria-label="System events">
        <thead>
          <tr>
            <th className="w-44">Time</th>
            <th className="w-20">Severity</th>
            <th className="w-56">Code</th>
            <th>Message</th>
            <th className="w-40">Bot / provider</th>
            <th className="w-36">Trace</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id} data-event-id={e.id} className={e.id === selectedId ? "bg-surface-2" : "hover:bg-surface-2/60"}>
              <td className="font-mono text-xs whitespace-nowrap" title={e.created_at}>
                {formatTime(e.created_at)}
              </td>
              <td>
                <SeverityBadge severity={e.severity} />
              </td>
              <td>
                <button
                  type="button"
                  onClick={() => onOpen(e.id)}
                  className="text-left font-mono text-xs font-medium break-all text-accent hover:underline"
                  aria-label={`Details of ${e.code} at ${formatTime(e.created_at)}`}
                >
                  {e.code}
                </button>
              </td>
              <td className="text-sm">{e.message}</td>
              <td>
                <Subject event={e} />
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
