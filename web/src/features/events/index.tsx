// The Events tab: system events, newest first, filtered by severity, code, bot and provider
// (URL search params). The SSE stream brings this server's events at once; the list is also
// re-read on a timer (faster when the stream keeps failing), which is what brings events
// recorded on other servers and what notices a stream that silently stopped.
import { useCallback } from "react";
import { History } from "lucide-react";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { FEED_CAP, useEventStream, useLoadOlder, type EventFilters, type EventSourceFactory } from "../../queries/events";
import { EventDrawer } from "./EventDrawer";
import { EventTable } from "./EventTable";
import { FilterBar } from "./FilterBar";
import { ListStatus } from "./ListStatus";
import { LiveIndicator } from "./LiveIndicator";
import { filtersFromSearch, hasFilters, useSearchParams } from "./search";
import { useEventList } from "./useEventList";
import { useTitle } from "../../lib/title";

function describeFilters(f: EventFilters): string {
  const parts: string[] = [];
  if (f.severity) parts.push(`severity ${f.severity}`);
  if (f.code) parts.push(`code ${f.code}`);
  if (f.bot_id) parts.push(`bot ${f.bot_id}`);
  if (f.provider_id) parts.push(`provider ${f.provider_id}`);
  return parts.join(", ");
}

export function EventsPage({ eventSourceFactory }: { eventSourceFactory?: EventSourceFactory } = {}) {
  useTitle("Events");
  const [search, setSearch] = useSearchParams();
  const filters = filtersFromSearch(search);
  const stream = useEventStream({ factory: eventSourceFactory });
  const { feed, pollMs, checked } = useEventList(filters, stream.mode);
  const older = useLoadOlder(filters);
  const items = feed.data?.items ?? [];
  const filtered = hasFilters(filters);
  const openId = search.event;
  const close = useCallback(() => setSearch({ event: undefined }), [setSearch]);

  return (
    <div className="flex flex-col gap-4">
      <header className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold tracking-tight">Events</h1>
        <LiveIndicator {...stream} checkEveryMs={pollMs} onRetry={stream.retryNow} />
      </header>

      <Card>
        <FilterBar key={`${search.code ?? ""}|${search.bot ?? ""}|${search.provider ?? ""}`} search={search} onChange={setSearch} seen={items} />
      </Card>

      <Card
        title="System events"
        status={
          feed.isPending || !feed.data ? (
            <PanelStatus query={feed} />
          ) : (
            <ListStatus feed={feed} checked={checked} mode={stream.mode} pollMs={pollMs} shown={items.length} />
          )
        }
        actions={filtered && <span className="text-xs text-muted">Filtered: {describeFilters(filters)}</span>}
      >
        {feed.isError && !feed.data ? (
          <QueryError error={feed.error} />
        ) : feed.isPending ? (
          <p className="py-6 text-center text-sm text-muted">Loading events…</p>
        ) : items.length === 0 ? (
          filtered ? (
            <EmptyState
              title="No events match these filters"
              reason={`No system event with ${describeFilters(filters)} has been recorded. Matching events will appear here as they happen.`}
              action={<Button onClick={() => setSearch({ severity: undefined, code: undefined, bot: undefined, provider: undefined })}>Clear filters</Button>}
            />
          ) : (
            <EmptyState
              title="No events recorded yet"
              reason="The control plane records an event for every supervision action, breaker change, kill switch and provider verify. None has been recorded yet; new ones will appear here as they happen."
            />
          )
        ) : (
          <>
            {feed.isError && (
              <div className="mb-3">
                <QueryError error={feed.error} />
                <p className="mt-1 text-xs text-muted">The events below are the last ones loaded; newer events may be missing.</p>
              </div>
            )}
            <EventTable events={items} onOpen={(id) => setSearch({ event: id })} selectedId={openId} />
            <footer className="mt-3 flex flex-wrap items-center gap-3 text-sm">
              {feed.data?.older ? (
                <Button onClick={() => older.mutate()} disabled={older.isPending}>
                  <History size={14} aria-hidden /> {older.isPending ? "Loading older…" : "Load older"}
                </Button>
              ) : (
                <span className="text-xs text-muted">That is every {filtered ? "matching " : ""}event recorded.</span>
              )}
              {feed.data?.older && "before" in feed.data.older && (
                <span className="text-xs text-muted">The list keeps the newest {FEED_CAP} events; older ones left the view and load again on demand.</span>
              )}
            </footer>
            {older.isError && (
              <div className="mt-2">
                <QueryError error={older.error} />
              </div>
            )}
          </>
        )}
      </Card>

      {openId && (
        <EventDrawer id={openId} event={items.find((e) => e.id === openId)} onClose={close} onFilterCode={(code) => setSearch({ code, event: undefined })} />
      )}
    </div>
  );
}
