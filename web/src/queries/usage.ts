// Proof of Use: usage events of every provider (GET /api/usage-events, keyset-paged, newest
// first) and calls/errors per provider per time bucket (GET /api/usage-events/series).
import { infiniteQueryOptions, queryOptions } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import { usageStatusValues, type components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type UsageEvent = components["schemas"]["UsageEvent"];

export type UsageBucket = components["schemas"]["UsageBucket"];
export type ProviderUsageSeries = components["schemas"]["ProviderUsageSeries"];
export type UsageSeries = Omit<components["schemas"]["Envelope_UsageSeries"], "success" | "trace_id">;

export const USAGE_PATH = "/api/usage-events";
export const SERIES_PATH = "/api/usage-events/series";
export const USAGE_PAGE_SIZE = 50;
export const USAGE_STATUSES = usageStatusValues;

/** The preset windows: span and how many buckets the sparklines get (whole minutes each). */
export const WINDOWS = {
  "15m": { label: "Last 15 min", minutes: 15, buckets: 15 },
  "1h": { label: "Last hour", minutes: 60, buckets: 60 },
  "24h": { label: "Last 24 h", minutes: 24 * 60, buckets: 24 },
  "7d": { label: "Last 7 days", minutes: 7 * 24 * 60, buckets: 42 },
} as const;
export type WindowId = keyof typeof WINDOWS;

export function isWindowId(w: string | undefined): w is WindowId {
  return w !== undefined && w in WINDOWS;
}

/** The list's time range: a preset ending now, or a fixed custom range. */
export type TimeWindow = { kind: "preset"; id: WindowId } | { kind: "custom"; from: string; to: string };

/** The series' `window` + `buckets` for a time window (the series always ends now). */
export function seriesSpec(w: TimeWindow, now = Date.now()): { window: string; buckets: number } {
  if (w.kind === "preset") return { window: w.id, buckets: WINDOWS[w.id].buckets };
  // Custom: the smallest whole-hour (past 12 days whole-day) window from `from` to now, cut
  // into buckets of whole minutes (the rollups' resolution): 5 min, 1 h or 6 h.
  const hours = Math.min(30 * 24, Math.max(1, Math.ceil((now - Date.parse(w.from)) / 3_600_000)));
  if (hours <= 4) return { window: `${hours * 60}m`, buckets: hours * 12 };
  if (hours <= 288) return { window: `${hours}h`, buckets: hours };
  const days = Math.ceil(hours / 24);
  return { window: `${days}d`, buckets: days * 4 };
}

export interface UsageFilters {
  provider?: string;
  bot_id?: string;
  status?: string;
}

type PageParam = { cursor?: string; from?: string; to?: string };

/** The usage events of `filters` in `window`, newest first, a page at a time. */
export function usageEventsQuery(filters: UsageFilters, window: TimeWindow) {
  return infiniteQueryOptions({
    queryKey: [USAGE_PATH, { ...filters, window }] as const,
    initialPageParam: {} as PageParam,
    queryFn: async ({ pageParam, signal }) => {
      // The first page fixes the range; later pages keep it (a preset's `from` is "now − span"
      // when the first page was read).
      const range =
        pageParam.from || pageParam.to
          ? { from: pageParam.from, to: pageParam.to }
          : window.kind === "custom"
            ? { from: window.from, to: window.to }
            : { from: new Date(Date.now() - WINDOWS[window.id].minutes * 60_000).toISOString(), to: undefined };
      const page = await unwrap(
        api.GET("/api/usage-events", {
          params: { query: { ...filters, ...range, cursor: pageParam.cursor, limit: USAGE_PAGE_SIZE } },
          signal,
        }),
      );
      return { ...page, range };
    },
    getNextPageParam: (last): PageParam | undefined =>
      last.next_cursor ? { cursor: last.next_cursor, from: last.range.from, to: last.range.to } : undefined,
    // Only the newest page is polled; once older pages are loaded the list holds still.
    refetchInterval: (query) => (window.kind === "preset" && (query.state.data?.pages.length ?? 0) <= 1 ? POLL.normal : false),
  });
}

/** Calls and errors per provider per bucket over the window ending now. */
export function usageSeriesQuery(spec: { window: string; buckets: number }) {
  return queryOptions({
    queryKey: [SERIES_PATH, spec] as const,
    queryFn: ({ signal }): Promise<UsageSeries> =>
      unwrap(api.GET("/api/usage-events/series", { params: { query: { window: spec.window, buckets: String(spec.buckets) } }, signal })),
    refetchInterval: POLL.normal,
  });
}
