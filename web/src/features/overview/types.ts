import type { UseQueryResult } from "@tanstack/react-query";
import type { components } from "../../api/schema";

export type SystemStatus = components["schemas"]["SystemStatus"];
export type Blocker = components["schemas"]["Blocker"];
export type StatusQuery = UseQueryResult<SystemStatus>;

/** Data is on screen but the latest refetch failed: numbers are the last good ones, not current. */
export function isStale(q: StatusQuery): boolean {
  return q.isError && q.data !== undefined;
}
