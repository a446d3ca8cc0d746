// The rule of the queue's headline: "Nothing needs you" is said only when it is provably true,
// i.e. the queue answered empty just now AND the system status answered just now without a
// blocker. Anything else (loading, failed, old, or the two disagreeing) says what is known.
import { FRESH_FOR_MS, queryFreshness } from "../../lib/freshness";

export { FRESH_FOR_MS };

export type QueueVerdict =
  | { kind: "loading" }
  /** No answer at all: whether anything needs attention is unknown. */
  | { kind: "unknown"; reason: string }
  /** Items to show (possibly from an older answer: `stale`). */
  | { kind: "items"; count: number; stale: boolean }
  /** The last answer was empty but it (or the status) is not fresh: cannot say "nothing". */
  | { kind: "unconfirmed"; reason: string }
  | { kind: "empty" };

export interface QueryView {
  status: "pending" | "error" | "success";
  /** ms; 0 before the first answer. */
  dataUpdatedAt: number;
  /** The latest fetch failed (data, if any, is the last good answer). */
  isError: boolean;
}

export function queueVerdict(input: {
  queue: QueryView & { items: number | null };
  status: QueryView & { blockers: number | null };
  now: number;
}): QueueVerdict {
  const { queue, status, now } = input;
  if (queue.items === null) {
    if (queue.status === "pending") return { kind: "loading" };
    return { kind: "unknown", reason: "the attention queue could not be read" };
  }
  const queueFresh = !queryFreshness(queue, now).stale;
  if (queue.items > 0) return { kind: "items", count: queue.items, stale: !queueFresh };
  if (!queueFresh) return { kind: "unconfirmed", reason: "the last good answer was empty, but the queue has not been read successfully since" };
  const statusFresh = status.blockers !== null && !queryFreshness(status, now).stale;
  if (!statusFresh) return { kind: "unconfirmed", reason: "the system status has not been read successfully just now" };
  if ((status.blockers ?? 0) > 0) return { kind: "unconfirmed", reason: "the system status lists blockers the queue does not show yet" };
  return { kind: "empty" };
}
