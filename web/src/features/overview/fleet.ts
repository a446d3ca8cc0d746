// The fleet grid's rows: one per bot, by name, with today's PnL and whether it can be shown as
// current (see lib/freshness), its sparkline points and its tier. Bots that need a human
// (KILLED, ERROR, SUSPENDED) sort first, then by name.
import { dec } from "../bots/format";
import { pnlFreshness, timeframeSeconds, type Freshness } from "../../lib/freshness";
import type { BotListItem } from "../../queries/bots";
import type { PnlTodayBody } from "../../queries/attention";

export interface FleetRow {
  id: string;
  name: string;
  stage: string;
  status: string;
  /** Realized + unrealized today, USD; null when unknown (a position and no mark, or an unreadable amount). */
  pnl: number | null;
  /** Why `pnl` is null when the freshness does not say (an amount the server sent is unreadable). */
  why: string | null;
  freshness: Freshness;
  /** Unix seconds and cumulative realized USD after each close today (empty: none closed), or why unknown. */
  spark: Spark | UnknownSpark;
  /** Null until scored. */
  tier: string | null;
}

const ATTENTION_RANK: Record<string, number> = { KILLED: 0, ERROR: 1, SUSPENDED: 2 };

export interface Spark {
  x: number[];
  y: number[];
}

/** A sparkline that cannot be drawn truthfully, and why (never drawn as "no close today"). */
export interface UnknownSpark {
  unknown: string;
}

export function isUnknownSpark(spark: Spark | UnknownSpark): spark is UnknownSpark {
  return "unknown" in spark;
}

const NO_SPARK: Spark = { x: [], y: [] };

/**
 * Each bot's sparkline points (built once per answer, so charts redraw only on new data). A bot
 * whose series holds an unreadable amount or time gets an unknown spark, never a made-up zero.
 */
export function sparks(series: PnlTodayBody | undefined): Map<string, Spark | UnknownSpark> {
  return new Map(
    (series?.items ?? []).map((s): [string, Spark | UnknownSpark] => {
      const x = s.points.map((p) => Math.floor(Date.parse(p.at) / 1000));
      const y = s.points.map((p) => dec(p.cumulative));
      if (x.some((t) => !Number.isFinite(t)) || y.some((v) => v === null)) {
        return [s.bot_id, { unknown: "an amount or time in today's series could not be read" }];
      }
      return [s.bot_id, { x, y: y as number[] }];
    }),
  );
}

export function fleetRows(input: {
  bots: readonly BotListItem[];
  /** Each bot's spark from today's series, or one unknown spark for all when the series is unknown. */
  sparks: Map<string, Spark | UnknownSpark> | UnknownSpark;
  fetchedAt: number;
  fetchFailed: boolean;
  /** When given, a list answer older than this makes every PnL stale (it stopped refreshing). */
  maxAnswerAgeMs?: number;
  now: number;
}): FleetRow[] {
  const series = input.sparks;
  const rows = input.bots.map((b): FleetRow => {
    const today = b.summary.today_pnl;
    const realized = dec(today.realized);
    const unrealized = dec(today.unrealized);
    const quantity = today.position_quantity;
    const why = realized === null ? "The server's realized PnL for today could not be read." : null;
    const pnl = realized === null || (quantity !== 0 && unrealized === null) ? null : realized + (unrealized ?? 0);
    return {
      id: b.id,
      name: b.name,
      stage: b.stage,
      status: b.status,
      pnl,
      why,
      freshness: pnlFreshness({
        positionQuantity: quantity,
        markedAt: today.marked_at,
        timeframeSeconds: timeframeSeconds(b.timeframe),
        maxDataAgeSeconds: b.risk_limits.max_data_age_seconds,
        fetchedAt: input.fetchedAt,
        fetchFailed: input.fetchFailed,
        maxAnswerAgeMs: input.maxAnswerAgeMs,
        now: input.now,
      }),
      spark: series instanceof Map ? (series.get(b.id) ?? NO_SPARK) : series,
      tier: b.summary.autonomy?.tier ?? null,
    };
  });
  return rows.sort((a, b) => (ATTENTION_RANK[a.status] ?? 9) - (ATTENTION_RANK[b.status] ?? 9) || a.name.localeCompare(b.name));
}

/** Rows per page of the fleet grid. */
export const FLEET_PAGE_SIZE = 50;

/**
 * One page of `total` rows, `size` per page: the 0-based `page` clamped into range (the fleet can
 * shrink under the operator), the 1-based first and last row numbers shown, and the page count.
 */
export function fleetPage(total: number, page: number, size = FLEET_PAGE_SIZE): { page: number; pages: number; start: number; end: number; first: number; last: number } {
  const pages = Math.max(1, Math.ceil(total / size));
  const p = Math.min(Math.max(0, Math.floor(page)), pages - 1);
  const start = p * size;
  const end = Math.min(total, start + size);
  return { page: p, pages, start, end, first: total === 0 ? 0 : start + 1, last: end };
}
