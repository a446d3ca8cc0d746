import type { UseQueryResult } from "@tanstack/react-query";
import { AgeLabel } from "../../components/AgeLabel";
import { PanelStatus } from "../../components/PanelStatus";
import { freshForMs, queryFreshness } from "../../lib/freshness";
import { useNow } from "../../lib/time";
import type { StreamMode } from "../../queries/events";

/**
 * The list's status spot: how many events are shown, how the list stays current (the live
 * stream carries only this server's events; the list is re-read every `pollMs` whatever the
 * stream does) and how fresh the latest read is. Stale (the latest read failed, or none
 * succeeded within two polls and a bit) says so, with the reason, never "live".
 */
export function ListStatus({ feed, checked, mode, pollMs, shown }: {
  feed: Pick<UseQueryResult, "status" | "error" | "dataUpdatedAt" | "isFetching" | "isError">;
  /** The latest read of the list from the API (`useEventList`). */
  checked: { dataUpdatedAt: number; isError: boolean };
  mode: StreamMode;
  pollMs: number;
  shown: number;
}) {
  const now = useNow(1000);
  const freshness = queryFreshness(checked, now, freshForMs(pollMs));
  const how = `${mode === "live" ? "live from this server, " : ""}checked every ${pollMs / 1000} s`;
  return (
    <span className="inline-flex flex-wrap items-center gap-2">
      {feed.isError && <PanelStatus query={feed} />}
      <span className="inline-flex flex-wrap items-center gap-1 text-xs text-muted" data-testid="events-list-status" data-stale={freshness.stale ? "true" : "false"}>
        {shown} shown · {how} ·{" "}
        {freshness.stale ? (
          <span>
            stale: {freshness.reason ?? "not current"}
            {checked.isError && checked.dataUpdatedAt ? (
              <>
                {" "}
                (<AgeLabel updatedAt={checked.dataUpdatedAt} prefix="last good check" />)
              </>
            ) : null}
            ; the list may lack newer events
          </span>
        ) : (
          <AgeLabel updatedAt={checked.dataUpdatedAt} prefix="last checked" />
        )}
      </span>
    </span>
  );
}
