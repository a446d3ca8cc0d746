import { roleValues } from "../../api/schema";
import type { Role } from "../../queries/settings";

export const ROLES = roleValues;

/** What each role may do, in one line (the server's access policy is the authority). */
export const ROLE_MEANING: Record<Role, string> = {
  viewer: "reads the Observatory; changes nothing",
  operator: "also creates and runs bots, cancels orders and closes positions (LIVE too), reconciles, sets and re-arms account risk limits, and verifies integrations",
  admin: "also kills, re-arms, promotes and acknowledges exposure of bots, drains nodes, routes alerts, and manages users, service tokens, the audit log and the global switches",
};
