// Settings reads: the caller's sessions and, for admins, users, service tokens and the audit
// log. Secrets (2FA setup, backup codes, new token values) are never read through a query: they
// come back from mutations only and live in component state.
import { infiniteQueryOptions, queryOptions } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type SessionView = components["schemas"]["SessionView"];
export type UserView = components["schemas"]["UserView"];
export type ServiceToken = components["schemas"]["ServiceToken"];
export type Role = components["schemas"]["Role"];
export type AuditEntry = components["schemas"]["Envelope_PageBody_AuditEntry"]["items"][number];

/** Page size of the admin lists. */
export const PAGE = 50;

/** GET /api/auth/sessions: the caller's live sessions (all of them, newest first). */
export const sessionsQuery = queryOptions({
  queryKey: ["/api/auth/sessions"],
  queryFn: () => unwrap(api.GET("/api/auth/sessions")),
  refetchInterval: POLL.slow,
  meta: { critical: true, label: "Sessions" },
});

/** GET /api/users (admin), paged by cursor. */
export const usersQuery = infiniteQueryOptions({
  queryKey: ["/api/users"],
  queryFn: ({ pageParam }) => unwrap(api.GET("/api/users", { params: { query: { limit: PAGE, cursor: pageParam } } })),
  initialPageParam: undefined as string | undefined,
  getNextPageParam: (last) => last.next_cursor ?? undefined,
  refetchInterval: POLL.slow,
  meta: { critical: true, label: "Users" },
});

/** GET /api/service-tokens (admin), paged by cursor; never carries token values. */
export const serviceTokensQuery = infiniteQueryOptions({
  queryKey: ["/api/service-tokens"],
  queryFn: ({ pageParam }) =>
    unwrap(api.GET("/api/service-tokens", { params: { query: { limit: PAGE, cursor: pageParam } } })),
  initialPageParam: undefined as string | undefined,
  getNextPageParam: (last) => last.next_cursor ?? undefined,
  refetchInterval: POLL.slow,
  meta: { critical: true, label: "Service tokens" },
});

export interface AuditFilters {
  action?: string;
  outcome?: string;
  actor_user_id?: string;
  from?: string;
  to?: string;
}

/** GET /api/audit (admin): newest first, filtered, paged by cursor ("older" pages). */
export const auditQuery = (filters: AuditFilters) =>
  infiniteQueryOptions({
    queryKey: ["/api/audit", filters],
    queryFn: ({ pageParam }) =>
      unwrap(api.GET("/api/audit", { params: { query: { ...filters, limit: PAGE, cursor: pageParam } } })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    refetchInterval: POLL.slow,
    meta: { critical: true, label: "Audit log" },
  });
