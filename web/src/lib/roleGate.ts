// Why the signed-in user may not run an action now: a failed endpoint it depends on, an
// unknown role, or a role below the one the server requires. One wording for every view.
import { hasRole, useMe, type Role } from "../queries/auth";
import { useActionGate } from "./health";

/** Why `action` (needing `role`, depending on `endpoints`) must stay disabled, or null. */
export function useRoleGate(action: string, role: Role, endpoints: readonly string[]): string | null {
  const down = useActionGate(endpoints);
  const me = useMe();
  if (down) return down;
  if (!me.data) return me.isError ? "Your role is unknown (GET /api/auth/me failed)" : "Checking your role…";
  const mine = me.data.user.role;
  return hasRole(mine, role) ? null : `${action} needs the ${role} role; you are signed in as ${mine}`;
}
