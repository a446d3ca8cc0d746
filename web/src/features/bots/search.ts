// The page's loose search params (filters, sort, deep links) and a setter that merges a patch
// into them; `undefined` or "" removes a key.
import { useCallback } from "react";
import { useNavigate, useSearch } from "@tanstack/react-router";
import type { SearchParams } from "../../router";

export function useSearchParams(): [SearchParams, (patch: SearchParams, opts?: { replace?: boolean }) => void] {
  const search = useSearch({ strict: false }) as SearchParams;
  const navigate = useNavigate();
  const set = useCallback(
    (patch: SearchParams, opts?: { replace?: boolean }) => {
      void navigate({
        to: ".",
        search: ((prev: SearchParams) => {
          const next: SearchParams = { ...prev };
          for (const [k, v] of Object.entries(patch)) {
            if (v === undefined || v === "") delete next[k];
            else next[k] = v;
          }
          return next;
        }) as never,
        replace: opts?.replace,
      });
    },
    [navigate],
  );
  return [search, set];
}
