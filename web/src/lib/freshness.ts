// When a value shown as "now" is really from earlier: a PnL that depends on a mark (the newest
// bar's close) is stale once that mark is older than the bot's freshness limit, and anything
// read from a query whose latest refetch failed (or that stopped refetching) is stale too.
// Stale values are greyed with their age, never coloured as fresh gains or losses.
// `answerFreshness` is the one rule for "is this answer current"; everything else builds on it.
import { POLL } from "./queryClient";

export interface Freshness {
  /** Too old to stand for "now" (or of unknown age). */
  stale: boolean;
  /** How old the value is, ms (null: unknown). */
  ageMs: number | null;
  /** Why it is stale, in words (null when fresh). */
  reason: string | null;
}

const FRESH: Freshness = { stale: false, ageMs: null, reason: null };

/**
 * How long an answer polled every `pollMs` still stands for "now": two polls and a bit. Past it
 * the answer is stale even if no request failed (the network paused it, or a request hangs).
 */
export function freshForMs(pollMs: number): number {
  return 2 * pollMs + 2_000;
}

/** The freshness limit of the fast-polled reads (status, switches, the queue, nodes): 12 s. */
export const FRESH_FOR_MS = freshForMs(POLL.fast);

/** "42 s", "3 min", "2 h", "4 d". */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

/**
 * The freshness of a bot's PnL. Realized PnL comes from the ledger and is as fresh as the
 * answer that carried it; an open position's PnL is only as fresh as its mark. The mark is the
 * close of the bar starting at `markedAt`, so it is stale once `now − markedAt` exceeds the
 * bar (`timeframeSeconds`) plus the bot's `max_data_age_seconds`.
 */
export function pnlFreshness(input: {
  /** Signed contracts held (0: flat, the mark does not matter). */
  positionQuantity: number;
  /** ISO start of the bar whose close is the mark (null: no mark). */
  markedAt: string | null | undefined;
  timeframeSeconds: number;
  maxDataAgeSeconds: number;
  /** When the answer carrying the PnL was fetched (ms) and whether its latest refetch failed. */
  fetchedAt: number;
  fetchFailed: boolean;
  /** When given, an answer older than this is stale too (it stopped refreshing). */
  maxAnswerAgeMs?: number;
  now: number;
}): Freshness {
  const answerAge = Math.max(0, input.now - input.fetchedAt);
  if (input.fetchFailed) {
    return { stale: true, ageMs: answerAge, reason: "the latest refresh failed: this is the last good value" };
  }
  if (input.maxAnswerAgeMs !== undefined) {
    const answer = answerFreshness({ fetchedAt: input.fetchedAt, fetchFailed: false, maxAgeMs: input.maxAnswerAgeMs, now: input.now });
    if (answer.stale) return { ...answer, reason: `${answer.reason}: this is the last good value` };
  }
  if (input.positionQuantity === 0) return FRESH;
  const marked = input.markedAt ? Date.parse(input.markedAt) : Number.NaN;
  if (Number.isNaN(marked)) {
    return { stale: true, ageMs: null, reason: "a position is open and no mark (bar close) is known" };
  }
  const age = Math.max(0, input.now - marked);
  const limitMs = (input.timeframeSeconds + input.maxDataAgeSeconds) * 1000;
  if (age > limitMs) {
    return {
      stale: true,
      ageMs: age,
      reason: `the mark is ${formatAge(age)} old, past the ${formatAge(limitMs)} freshness limit`,
    };
  }
  return { stale: false, ageMs: age, reason: null };
}

/** A query's answer as a whole: stale once its latest refetch failed or it is older than `maxAgeMs`. */
export function answerFreshness(input: { fetchedAt: number; fetchFailed: boolean; maxAgeMs: number; now: number }): Freshness {
  if (!input.fetchedAt) return { stale: true, ageMs: null, reason: "no answer yet" };
  const age = Math.max(0, input.now - input.fetchedAt);
  if (input.fetchFailed) return { stale: true, ageMs: age, reason: "the latest refresh failed" };
  if (age > input.maxAgeMs) return { stale: true, ageMs: age, reason: `no fresh answer for ${formatAge(age)}` };
  return { stale: false, ageMs: age, reason: null };
}

/** `answerFreshness` of a TanStack query's state (its last good answer and whether its latest fetch failed). */
export function queryFreshness(q: { dataUpdatedAt: number; isError: boolean }, now: number, maxAgeMs = FRESH_FOR_MS): Freshness {
  return answerFreshness({ fetchedAt: q.dataUpdatedAt, fetchFailed: q.isError, maxAgeMs, now });
}

/** Seconds of a timeframe (`1s`, `1m`, `5m`, `15m`, `1h`, `1d`); 60 for anything unknown. */
export function timeframeSeconds(tf: string): number {
  const m = /^(\d+)([smhd])$/.exec(tf);
  if (!m) return 60;
  const n = Number(m[1]);
  return n * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as "s" | "m" | "h" | "d"];
}
