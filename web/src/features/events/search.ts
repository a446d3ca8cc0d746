// The Events tab's URL search params <-> API filters. Params: severity, code, bot, provider
// (filters) and event (the event whose details are open).
import { useCallback } from "react";
import { useNavigate, useSearch } from "@tanstack/react-router";
import type { EventFilters } from "../../queries/events";
import type { SearchParams } from "../../router";

import { UUID_RE } from "../../components/BotIdField";

export function filtersFromSearch(search: SearchParams): EventFilters {
  return {
    severity: search.severity,
    code: search.code,
    // A bot id that is not a UUID would be refused by the API: the form says so instead.
    bot_id: search.bot && UUID_RE.test(search.bot) ? search.bot : undefined,
    provider_id: search.provider,
  };
}

export function hasFilters(f: EventFilters): boolean {
  return Boolean(f.severity || f.code || f.bot_id || f.provider_id);
}

/** The page's search params and a setter that merges a patch into them (undefined removes). */
export function useSearchParams(): [SearchParams, (patch: SearchParams) => void] {
  const search = useSearch({ strict: false }) as SearchParams;
  const navigate = useNavigate();
  // Stable (reads the current params when called), so it can be an effect dependency.
  const set = useCallback(
    (patch: SearchParams) => {
      void navigate({
        to: ".",
        search: (prev: SearchParams) => {
          const next: SearchParams = { ...prev, ...patch };
          for (const k of Object.keys(next)) if (!next[k]) delete next[k];
          return next;
        },
      });
    },
    [navigate],
  );
  return [search, set];
}
