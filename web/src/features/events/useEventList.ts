// The Events tab's list: the event feed, re-read from the API on a timer whatever the stream
// does. The live stream only carries events recorded by the server this browser talks to (its
// bus is process-local: an event recorded on another node never arrives), and a half-open
// stream never errors (its keep-alives are SSE comments, which EventSource never surfaces), so
// "the stream is open" proves neither that every event arrives nor that any still can. The
// poll is the safety net: every POLL.normal while the stream is open or (re)connecting, every
// POLL.fast while the stream has failed and polling is all there is.
import { useQuery, useQueryClient, type Query, type QueryClient, type QueryKey } from "@tanstack/react-query";
import { POLL } from "../../lib/queryClient";
import { eventFeedKey, loadFeed, type EventFeed, type EventFilters, type StreamMode } from "../../queries/events";

/** How often the list is re-read from the API (ms) in each stream mode. */
export function listPollMs(mode: StreamMode): number {
  return mode === "polling" ? POLL.fast : POLL.normal;
}

/** The outcome of the latest read of a feed from the API. */
interface Check {
  /** When a read last succeeded (ms; 0: never). */
  okAt: number;
  /** Whether the latest read failed. */
  failed: boolean;
}

// Per feed query. A live event or "Load older" writes into the feed too, which bumps TanStack's
// dataUpdatedAt and clears its error; neither re-reads the list, so neither may make it look
// freshly checked: the reads are recorded here, apart.
const checks = new WeakMap<Query, Check>();

function feedQuery(client: QueryClient, key: QueryKey): Query | undefined {
  return client.getQueryCache().find({ queryKey: key, exact: true });
}

/** `loadFeed`, recording the outcome of the read. */
async function readFeed(client: QueryClient, key: QueryKey, filters: EventFilters, signal: AbortSignal): Promise<EventFeed> {
  const query = feedQuery(client, key);
  try {
    const data = await loadFeed(client, key, filters, signal);
    if (query) checks.set(query, { okAt: Date.now(), failed: false });
    return data;
  } catch (e) {
    // Cancelled (a newer read replaced it) is not failed.
    if (query && !signal.aborted) checks.set(query, { okAt: checks.get(query)?.okAt ?? 0, failed: true });
    throw e;
  }
}

/**
 * The event feed of `filters`, polled every `listPollMs(mode)`, merged as `loadFeed` merges
 * (everything since the newest event held). `checked` is the latest read of the list from the
 * API, in the shape `queryFreshness` takes: when one last succeeded and whether the latest
 * failed (a read still being retried is not failed yet, as in TanStack).
 */
export function useEventList(filters: EventFilters, mode: StreamMode) {
  const key = eventFeedKey(filters);
  const client = useQueryClient();
  const pollMs = listPollMs(mode);
  const feed = useQuery({
    queryKey: key,
    queryFn: ({ client: c, queryKey, signal }) => readFeed(c, queryKey, key[2], signal),
    refetchInterval: pollMs,
  });
  const query = feedQuery(client, key);
  const check = query ? checks.get(query) : undefined;
  const checked = check
    ? { dataUpdatedAt: check.okAt, isError: feed.isError || (check.failed && !feed.isFetching) }
    : { dataUpdatedAt: feed.dataUpdatedAt, isError: feed.isError };
  return { feed, pollMs, checked };
}
