import type { UseQueryResult } from "@tanstack/react-query";
import type { components } from "../../api/schema";
import { queryFreshness } from "../../lib/freshness";

export type SystemStatus = components["schemas"]["SystemStatus"];
export type Blocker = components["schemas"]["Blocker"];
export type StatusQuery = UseQueryResult<SystemStatus>;

/**
 * Data is on screen but is not the current status: the latest refetch failed, or no answer came
 * within the freshness limit (the network paused the polls, or a request hangs). Pass a ticking
 * `now` (useNow) so a card turns stale by age without waiting for another fetch.
 */
export function isStale(q: StatusQuery, now: number): boolean {
  return q.data !== undefined && queryFreshness(q, now).stale;
}
