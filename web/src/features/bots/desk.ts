// When each desk control on a bot may run, and why not (mirrors src/runtime/lifecycle/desk.rs,
// acknowledge-exposure and the role each endpoint declares), so a button is disabled with the
// reason before the server would refuse. The server still decides: its refusal is shown in full.
import { hasRole, type Role } from "../../queries/auth";
import type { DeskAction } from "../../queries/desk";

export type { DeskAction };

export const DESK_ROLE: Record<DeskAction, Role> = {
  cancel: "operator",
  close: "operator",
  killFlatten: "admin",
  acknowledge: "admin",
  archive: "operator",
  unarchive: "operator",
};

export const DESK_LABEL: Record<DeskAction, string> = {
  cancel: "Cancel orders",
  close: "Close position",
  killFlatten: "Kill and flatten",
  acknowledge: "Acknowledge exposure",
  archive: "Archive",
  unarchive: "Un-archive",
};

export interface DeskContext {
  role: string | undefined;
  status: string;
  stage: string;
  archived: boolean;
  /** Signed contracts held; null while unknown. */
  quantity: number | null;
  /** Working orders; null while unknown. */
  workingOrders: number | null;
  /** Whether the user has 2FA enrolled (a LIVE close needs a step-up); undefined: unknown. */
  twoFactorEnabled?: boolean;
  /** A failing endpoint the action depends on (useActionGate), or null. */
  endpointGate: string | null;
}

/** Whether LIVE orders are concerned: a LIVE close is a real market order (step-up). */
export function needsStepUpUpFront(action: DeskAction, stage: string): boolean {
  return (action === "close" || action === "killFlatten") && stage === "LIVE";
}

/** The position endpoint lists NEW, WORKING and PARTIALLY_FILLED orders only: not a LIVE send still SENDING. */
const SENDING_UNLISTED = "(a LIVE send still awaiting the broker's answer is not listed)";

/** Why `action` may not run now, or null when it may. */
export function deskGate(action: DeskAction, ctx: DeskContext): string | null {
  if (ctx.role === undefined) return "Checking your role…";
  const needed = DESK_ROLE[action];
  if (!hasRole(ctx.role, needed)) return `${DESK_LABEL[action]} needs the ${needed} role; you are ${ctx.role}.`;
  if (ctx.endpointGate) return ctx.endpointGate;
  const held = ctx.quantity !== null && ctx.quantity !== 0;
  const flat = ctx.quantity === 0 && ctx.workingOrders === 0;
  if (needsStepUpUpFront(action, ctx.stage) && ctx.twoFactorEnabled === false) {
    return "A LIVE close needs a two-factor step-up, and you have not enrolled 2FA: enroll it in Settings first.";
  }
  switch (action) {
    case "cancel":
      if (ctx.workingOrders === 0) return `The bot has no NEW or WORKING order to cancel ${SENDING_UNLISTED}.`;
      return null;
    case "close":
      if (flat) return `The bot is flat: no position and no NEW or WORKING order to close ${SENDING_UNLISTED}.`;
      return null;
    case "killFlatten":
      if (ctx.status === "KILLED" && flat) return `The bot is KILLED and flat: no position and no NEW or WORKING order to remove ${SENDING_UNLISTED}.`;
      return null;
    case "acknowledge":
      if (ctx.status !== "KILLED") return `Only a KILLED bot's exposure can be acknowledged; this one is ${ctx.status}.`;
      if (flat) return `The bot is flat with no NEW or WORKING order: no exposure to acknowledge ${SENDING_UNLISTED}.`;
      return null;
    case "archive":
      if (ctx.archived) return "The bot is already archived.";
      if (ctx.status !== "STOPPED") return `Only a STOPPED bot can be archived; this one is ${ctx.status}.`;
      if (held || (ctx.workingOrders ?? 0) > 0) {
        return `The bot still holds ${Math.abs(ctx.quantity ?? 0)} contract(s) and ${ctx.workingOrders ?? 0} working order(s): close them first, archiving would hide that exposure.`;
      }
      return null;
    case "unarchive":
      if (!ctx.archived) return "The bot is not archived.";
      return null;
  }
}

/** What the server's removal says, in one line for the operator. */
export interface RemovalLike {
  cancelled: unknown[];
  broker_cancels_pending: unknown[];
  flatten?: {
    status: string;
    side?: string;
    quantity?: number;
    price?: string;
    message?: string;
    contract?: string;
    closes?: { side: string; quantity: number; filled: number; price?: string | null; problem?: string | null }[];
    not_done?: string[];
  } | null;
  position_after?: number | null;
  not_done?: string | null;
}

export function describeRemoval(r: RemovalLike): string {
  const parts: string[] = [];
  if (r.not_done) return `Not done: ${r.not_done}`;
  parts.push(`Cancelled ${r.cancelled.length} working order(s)`);
  if (r.broker_cancels_pending.length > 0) parts.push(`${r.broker_cancels_pending.length} LIVE cancel(s) pending at the broker`);
  const f = r.flatten;
  if (f) {
    if (f.status === "FILLED") parts.push(`closed: ${f.side ?? ""} ${f.quantity ?? ""} at ${f.price ?? "?"}`.replace(/\s+/g, " "));
    else if (f.status === "FLAT") parts.push("nothing to close (already flat)");
    else if (f.status === "BROKER_PENDING") parts.push(`LIVE close pending (${f.side ?? ""} ${f.quantity ?? ""}) — no broker session, not sent: follow the position at the broker`.replace(/\s+/g, " "));
    else if (f.status === "CLOSED_AT_BROKER") {
      const closes = f.closes ?? [];
      parts.push(
        closes.length === 0
          ? `nothing held on ${f.contract ?? "the contract"} at the broker`
          : `closed at the broker on ${f.contract ?? "the contract"}: ${closes.map((c) => `${c.side} ${c.filled}/${c.quantity} at ${c.price ?? "?"}${c.problem ? ` (${c.problem})` : ""}`).join(", ")}`,
      );
      for (const why of f.not_done ?? []) parts.push(`not closed: ${why}`);
    }
    else if (f.status === "NOT_DONE") parts.push(`not closed: ${f.message ?? "no reason given"}`);
  }
  if (r.position_after === 0) parts.push("the bot is flat");
  else if (r.position_after != null) parts.push(`position left: ${r.position_after} contract(s)`);
  return `${parts.join("; ")}.`;
}
