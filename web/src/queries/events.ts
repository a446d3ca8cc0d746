// System events: the feed behind the Events tab (GET /api/system/events, keyset-paged, newest
// first) and the live stream that keeps it current (GET /api/events/stream, Server-Sent Events).
//
// The feed is one cache entry per filter set: `[path, "feed", filters]` holding the newest
// events (capped), plus how to load the ones before them. Live events are merged into every
// cached feed whose filters they match; when the stream fails repeatedly the feed is polled.
import { useEffect, useRef, useState } from "react";
import { useMutation, useQueryClient, type QueryClient, type QueryKey } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import { severityValues, type components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type SystemEvent = components["schemas"]["SystemEvent"];

export const EVENTS_PATH = "/api/system/events";
export const STREAM_PATH = "/api/events/stream";
export const SEVERITIES = severityValues;

/** Most events a feed holds; live and polled events beyond it push the oldest out. */
export const FEED_CAP = 500;
/** Page size of the first load and of "Load older". */
export const PAGE_SIZE = 50;
/** Page size while catching up after a gap (polling, reconnect, reset). */
const CATCH_UP_PAGE = 200;
/**
 * Catching up re-reads this much before the newest event held: events are stamped when they
 * happen but written in batches, so one stamped a moment earlier can land after a poll.
 */
const CATCH_UP_LOOKBACK_MS = 60_000;

/** The API's filters (all exact matches). */
export interface EventFilters {
  severity?: string;
  code?: string;
  bot_id?: string;
  provider_id?: string;
}

/** How to load the events before the oldest one held, or null when there are none. */
export type OlderPage = { cursor: string } | { before: string } | null;

export interface EventFeed {
  /** Newest first, no duplicates. */
  items: SystemEvent[];
  /**
   * `cursor`: the API's next_cursor after the last item. `before`: the tail was trimmed to the
   * cap, so older events load by time (inclusive of that instant, duplicates dropped).
   */
  older: OlderPage;
}

/** Drops empty filters so equal filter sets share one cache entry. */
export function normalizeFilters(f: EventFilters): EventFilters {
  const out: EventFilters = {};
  for (const k of ["severity", "code", "bot_id", "provider_id"] as const) {
    const v = f[k]?.trim();
    if (v) out[k] = v;
  }
  return out;
}

export function eventFeedKey(filters: EventFilters) {
  return [EVENTS_PATH, "feed", normalizeFilters(filters)] as const;
}

// ---- time with microseconds (the API's precision; Date only keeps milliseconds) ----

const ISO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/;

/** Microseconds since the epoch of an RFC 3339 instant (NaN when unreadable). */
export function toMicros(iso: string): number {
  const m = ISO.exec(iso);
  if (!m) return Date.parse(iso) * 1000;
  const whole = Date.parse(`${m[1]}${m[3]}`);
  const frac = Number(((m[2] ?? "") + "000000").slice(0, 6));
  return whole * 1000 + frac;
}

/** An RFC 3339 UTC instant with microseconds. */
export function fromMicros(us: number): string {
  const secs = Math.floor(us / 1_000_000);
  const frac = us - secs * 1_000_000;
  return `${new Date(secs * 1000).toISOString().slice(0, 19)}.${String(frac).padStart(6, "0")}Z`;
}

/** Newest first, as the API orders them: (created_at, id) descending. */
export function compareEvents(a: SystemEvent, b: SystemEvent): number {
  const d = toMicros(b.created_at) - toMicros(a.created_at);
  if (d !== 0) return d;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Both lists in one, newest first; an event in both appears once (the incoming copy). */
export function mergeEvents(held: readonly SystemEvent[], incoming: readonly SystemEvent[]): SystemEvent[] {
  const byId = new Map<string, SystemEvent>();
  for (const e of held) byId.set(e.id, e);
  for (const e of incoming) byId.set(e.id, e);
  return [...byId.values()].sort(compareEvents);
}

/** Trims a feed to FEED_CAP; the trimmed tail stays reachable through "Load older". */
export function capFeed(feed: EventFeed): EventFeed {
  if (feed.items.length <= FEED_CAP) return feed;
  const items = feed.items.slice(0, FEED_CAP);
  return { items, older: { before: items[items.length - 1]!.created_at } };
}

export function matchesFilters(e: SystemEvent, f: EventFilters): boolean {
  return (
    (!f.severity || e.severity === f.severity) &&
    (!f.code || e.code === f.code) &&
    (!f.bot_id || e.bot_id?.toLowerCase() === f.bot_id.toLowerCase()) &&
    (!f.provider_id || e.provider_id === f.provider_id)
  );
}

/** A live `system_event` payload, or null when it is not one (never trusted blindly). */
export function parseSystemEvent(raw: string): SystemEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!v || typeof v !== "object") return null;
  const o = v as Record<string, unknown>;
  for (const k of ["id", "created_at", "severity", "code", "message", "trace_id"]) {
    if (typeof o[k] !== "string") return null;
  }
  const severity = SEVERITIES.find((s) => s === o.severity);
  if (!severity) return null;
  return {
    id: o.id as string,
    created_at: o.created_at as string,
    severity,
    code: o.code as string,
    message: o.message as string,
    trace_id: o.trace_id as string,
    bot_id: typeof o.bot_id === "string" ? o.bot_id : null,
    provider_id: typeof o.provider_id === "string" ? o.provider_id : null,
    metadata: o.metadata ?? {},
  };
}

// ---- fetching ----

interface PageQuery {
  limit: number;
  cursor?: string;
  from?: string;
  to?: string;
}

function fetchPage(filters: EventFilters, page: PageQuery, signal?: AbortSignal) {
  return unwrap(api.GET("/api/system/events", { params: { query: { ...normalizeFilters(filters), ...page } }, signal }));
}

/**
 * The feed's query function. First load: the newest page. Later (refetch, poll, reconnect,
 * reset): everything since the newest event held, merged in, so events loaded with "Load
 * older" stay. When more than FEED_CAP arrived since, the held events are dropped (there
 * would be a gap) and the newest FEED_CAP are kept, with the API's cursor to the rest.
 */
export async function loadFeed(client: QueryClient, key: QueryKey, filters: EventFilters, signal?: AbortSignal): Promise<EventFeed> {
  const held = client.getQueryData<EventFeed>(key);
  const newest = held?.items[0];
  if (!held || !newest) {
    const page = await fetchPage(filters, { limit: PAGE_SIZE }, signal);
    return { items: [...page.items].sort(compareEvents), older: page.next_cursor ? { cursor: page.next_cursor } : null };
  }
  const from = fromMicros(toMicros(newest.created_at) - CATCH_UP_LOOKBACK_MS * 1000);
  const newer: SystemEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetchPage(filters, { limit: CATCH_UP_PAGE, from, cursor }, signal);
    newer.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor && newer.length < FEED_CAP);
  if (cursor) return { items: mergeEvents([], newer), older: { cursor } };
  // The cache may have changed while we fetched (live events): merge with its latest state.
  const current = client.getQueryData<EventFeed>(key) ?? held;
  return capFeed({ items: mergeEvents(current.items, newer), older: current.older });
}

/** Loads the page before the oldest event of the feed and appends it. */
export function useLoadOlder(filters: EventFilters) {
  const client = useQueryClient();
  const key = eventFeedKey(filters);
  return useMutation({
    mutationFn: async () => {
      const older = client.getQueryData<EventFeed>(key)?.older;
      if (!older) return;
      const page = await fetchPage(
        key[2],
        "cursor" in older ? { limit: PAGE_SIZE, cursor: older.cursor } : { limit: PAGE_SIZE, to: fromMicros(toMicros(older.before) + 1) },
      );
      client.setQueryData<EventFeed>(key, (cur) =>
        cur && { items: mergeEvents(cur.items, page.items), older: page.next_cursor ? { cursor: page.next_cursor } : null },
      );
    },
  });
}

/** Merges a live event into every cached feed whose filters it matches. */
export function insertLiveEvent(client: QueryClient, event: SystemEvent): void {
  for (const [key, feed] of client.getQueriesData<EventFeed>({ queryKey: [EVENTS_PATH, "feed"] })) {
    if (!feed) continue;
    const filters = (key[2] ?? {}) as EventFilters;
    if (!matchesFilters(event, filters)) continue;
    client.setQueryData<EventFeed>(key, capFeed({ items: mergeEvents(feed.items, [event]), older: feed.older }));
  }
}

// ---- the live stream ----

/** What the Events tab shows about its live feed. */
export type StreamMode = "connecting" | "live" | "reconnecting" | "polling";

/** The part of EventSource the hook uses (a fake one in unit tests). */
export interface EventSourceLike {
  readonly readyState: number;
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void;
  close(): void;
}

export type EventSourceFactory = (url: string) => EventSourceLike;

/** A same-origin EventSource: the session cookie goes with it (it cannot send headers). */
export const browserEventSource: EventSourceFactory = (url) => new EventSource(url);

const CLOSED = 2;

export interface StreamOptions {
  factory?: EventSourceFactory;
  /** Kinds to subscribe to (`system_event`, `breaker`, `bot_status`, `trace`). */
  kinds?: readonly string[];
  /** Consecutive stream errors before falling back to polling. */
  maxFailures?: number;
  /** While polling, how often to try the stream again (ms). */
  retryStreamMs?: number;
}

export interface StreamState {
  mode: StreamMode;
  /** Consecutive errors since the stream was last open. */
  failures: number;
  /** When the last live event arrived (ms), or null. */
  lastEventAt: number | null;
  /** When the stream last opened (ms), or null. */
  connectedAt: number | null;
}

/**
 * Keeps a same-origin EventSource on GET /api/events/stream open and folds its events into the
 * query cache: `system_event` into every matching event feed, `reset` (events were missed)
 * refetches the feeds, system status and bots. The browser reconnects by itself after an error
 * (sending Last-Event-ID); after `maxFailures` consecutive errors the hook closes the stream,
 * reports "polling" (the feed then polls) and tries the stream again every `retryStreamMs`,
 * resuming after the last event id it saw. Any recovery catches the feeds up at once.
 */
export function useEventStream({ factory = browserEventSource, kinds = ["system_event"], maxFailures = 3, retryStreamMs = POLL.slow }: StreamOptions = {}) {
  const client = useQueryClient();
  const [state, setState] = useState<StreamState>({ mode: "connecting", failures: 0, lastEventAt: null, connectedAt: null });
  const [attempt, setAttempt] = useState(0);
  // Kept across reconnects (and "Retry now"): the id to resume after, and whether events may
  // have been missed since the stream was last open.
  const lastIdRef = useRef<string | null>(null);
  const gapRef = useRef(false);
  const kindList = kinds.join(",");

  useEffect(() => {
    let source: EventSourceLike | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let polling = false;
    const catchUp = () => void client.invalidateQueries({ queryKey: [EVENTS_PATH, "feed"] });

    const connect = () => {
      const params = new URLSearchParams({ kinds: kindList });
      if (lastIdRef.current) params.set("last_event_id", lastIdRef.current);
      const es = factory(`${STREAM_PATH}?${params}`);
      source = es;
      const current = () => source === es;

      es.addEventListener("open", () => {
        if (!current()) return;
        failures = 0;
        polling = false;
        setState((s) => ({ ...s, mode: "live", failures: 0, connectedAt: Date.now() }));
        if (gapRef.current) {
          gapRef.current = false;
          catchUp();
        }
      });

      es.addEventListener("error", () => {
        if (!current()) return;
        failures += 1;
        gapRef.current = true;
        if (polling || failures >= maxFailures) {
          es.close();
          source = null;
          if (!polling) {
            polling = true;
            catchUp();
          }
          setState((s) => ({ ...s, mode: "polling", failures }));
          timer = setTimeout(connect, retryStreamMs);
          return;
        }
        setState((s) => ({ ...s, mode: "reconnecting", failures }));
        // A refused stream (HTTP error) is not retried by the browser: retry it here.
        if (es.readyState === CLOSED) {
          es.close();
          source = null;
          timer = setTimeout(connect, 1000 * failures);
        }
      });

      es.addEventListener("system_event", (ev) => {
        if (!current()) return;
        if (ev.lastEventId) lastIdRef.current = ev.lastEventId;
        const event = parseSystemEvent(ev.data);
        if (!event) {
          console.warn("events stream: ignored a system_event that is not one", ev.data);
          return;
        }
        insertLiveEvent(client, event);
        setState((s) => ({ ...s, lastEventAt: Date.now() }));
      });

      es.addEventListener("reset", (ev) => {
        if (!current()) return;
        if (ev.lastEventId) lastIdRef.current = ev.lastEventId;
        catchUp();
        void client.invalidateQueries({ queryKey: ["/api/system/status"] });
        void client.invalidateQueries({ queryKey: ["/api/bots"] });
      });
    };

    connect();
    return () => {
      clearTimeout(timer);
      source?.close();
      source = null;
    };
  }, [client, factory, kindList, maxFailures, retryStreamMs, attempt]);

  /** Drops the current stream (or the polling fallback) and connects afresh. */
  const retryNow = () => {
    setState((s) => ({ ...s, mode: "connecting", failures: 0 }));
    setAttempt((a) => a + 1);
  };

  return { ...state, retryNow };
}
