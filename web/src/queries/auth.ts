import { queryOptions, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";

/** GET /api/auth/me: who is signed in (a 401 sends the app to the login page). */
export const meQuery = queryOptions({
  queryKey: ["/api/auth/me"],
  queryFn: () => unwrap(api.GET("/api/auth/me")),
  staleTime: 60_000,
  refetchInterval: 60_000,
});

export function useMe() {
  return useQuery(meQuery);
}

export type Role = "viewer" | "operator" | "admin";
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether `role` is at least `needed` (admin ⊃ operator ⊃ viewer). */
export function hasRole(role: string | null | undefined, needed: Role): boolean {
  return role != null && role in RANK && RANK[role as Role] >= RANK[needed];
}

/** A backup code looks like `XXXX-XXXX-XXXX-XXXX`; anything else is sent as an authenticator code. */
export function isBackupCode(raw: string): boolean {
  return /^[0-9A-Za-z]{4}(-?[0-9A-Za-z]{4}){3}$/.test(raw.trim());
}

/** POST /api/auth/step-up with an authenticator or backup code (the session id rotates). */
export function stepUp(raw: string) {
  const value = raw.trim();
  const body = isBackupCode(value) ? { backup_code: value } : { code: value.replace(/\s+/g, "") };
  return unwrap(api.POST("/api/auth/step-up", { body }));
}
