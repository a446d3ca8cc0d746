// Reading and patching the page's loose search params (deep links such as ?panel=why-not&trace=…).
import { useCallback } from "react";
import { useNavigate, useRouterState, useSearch } from "@tanstack/react-router";
import type { SearchParams } from "../../../router";

export function useSearchParams(): SearchParams {
  return useSearch({ strict: false }) as SearchParams;
}

/** Sets (string) or removes (undefined) search params on the current page, replacing history. */
export function usePatchSearch(): (patch: SearchParams) => void {
  const navigate = useNavigate();
  return useCallback(
    (patch: SearchParams) => {
      void navigate({
        to: ".",
        replace: true,
        search: (prev: SearchParams) => {
          const next: SearchParams = { ...prev };
          for (const [k, v] of Object.entries(patch)) {
            if (v === undefined || v === "") delete next[k];
            else next[k] = v;
          }
          return next;
        },
      });
    },
    [navigate],
  );
}

/** Builds absolute links to this page with some search params replaced (for "Copy link"). */
export function useLinkTo(): (params: SearchParams) => string {
  const location = useRouterState({ select: (s) => s.location });
  return useCallback(
    (params: SearchParams) => {
      const search = new URLSearchParams();
      const merged: SearchParams = { ...(location.search as SearchParams), ...params };
      for (const [k, v] of Object.entries(merged)) if (v !== undefined && v !== "") search.set(k, v);
      const query = search.toString();
      return `${window.location.origin}${location.pathname}${query ? `?${query}` : ""}`;
    },
    [location],
  );
}
