// When each lifecycle action may run, and why not (mirrors src/runtime/lifecycle and the
// role each endpoint declares), so a button is disabled with the reason before the server
// would refuse it. The server still decides: its refusal is shown in full when it comes.
import { hasRole, type Role } from "../../queries/auth";
import { tierRank } from "../../queries/autonomy";
import { LIVE_STATUSES, stageRank, STAGES, type LifecycleAction, type Stage } from "../../queries/bots";

/** The role each action's endpoint requires. */
export const ACTION_ROLE: Record<LifecycleAction, Role> = {
  start: "operator",
  stop: "operator",
  restart: "operator",
  kill: "admin",
  rearm: "admin",
  promote: "admin",
};

export const ACTION_LABEL: Record<LifecycleAction, string> = {
  start: "Start",
  stop: "Stop",
  restart: "Restart",
  kill: "Kill",
  rearm: "Re-arm",
  promote: "Promote",
};

export interface GateContext {
  status: string;
  stage: string;
  /** The signed-in user's role; undefined while it loads. */
  role: string | undefined;
  /** The runtime holds a kill latch (runner.kill_reason) even if the row is not KILLED yet. */
  runtimeLatched: boolean;
  /** The global kill switch is on (true), off (false) or unknown (null). */
  killSwitchActive: boolean | null;
  /**
   * The bot's stored autonomy: undefined when this client does not know it, null when the bot
   * was never scored (the server treats that as LOCKED).
   */
  autonomy: { tier: string; score: number } | null | undefined;
  /** Whether the user has 2FA enrolled (a LIVE promotion needs a step-up); undefined: unknown. */
  twoFactorEnabled?: boolean;
  /** A failing endpoint the action depends on (useActionGate), or null. */
  endpointGate: string | null;
}

/** Why `action` may not run now, or null when it may. */
export function actionGate(action: LifecycleAction, ctx: GateContext, toStage?: string): string | null {
  if (ctx.role === undefined) return "Checking your role…";
  const needed = ACTION_ROLE[action];
  if (!hasRole(ctx.role, needed)) return `${ACTION_LABEL[action]} needs the ${needed} role; you are ${ctx.role}.`;
  if (ctx.endpointGate) return ctx.endpointGate;
  const { status } = ctx;
  const killed = status === "KILLED";
  const live = LIVE_STATUSES.has(status);
  switch (action) {
    case "start":
      if (killed) return "The bot is KILLED: an admin must re-arm it before it can start.";
      if (live) return `The bot is already ${status}: stop it first, or use Restart.`;
      if (ctx.killSwitchActive) return "The global kill switch is ON: no bot may start until it is released.";
      return null;
    case "stop":
      if (killed) return "The bot is KILLED: it is already stopped and latched. Re-arm it instead.";
      if (status === "STOPPED") return "The bot is already STOPPED.";
      return null;
    case "restart":
      if (killed) return "The bot is KILLED: an admin must re-arm it before it can start again.";
      if (!live) return `No runner is up (the bot is ${status}): use Start.`;
      if (ctx.killSwitchActive) return "The global kill switch is ON: a restart could not start the bot again.";
      return null;
    case "kill":
      if (killed) return "The bot is already KILLED.";
      return null;
    case "rearm":
      if (!killed && !ctx.runtimeLatched) return `Only a KILLED bot can be re-armed; this one is ${status}.`;
      return null;
    case "promote":
      return promoteGate(ctx, toStage);
  }
}

function promoteGate(ctx: GateContext, toStage: string | undefined): string | null {
  if (!toStage) return "Choose the stage to move the bot to.";
  const from = stageRank(ctx.stage);
  const to = stageRank(toStage);
  if (to < 0) return `${toStage} is not a stage.`;
  if (to === from) return `The bot is already ${ctx.stage}.`;
  if (to < from) return null; // demotion: any time, no gates
  if (to > from + 1) {
    return `Promotion moves one stage at a time: ${ctx.stage} → ${toStage} is not allowed (next is ${STAGES[from + 1]}).`;
  }
  if (toStage === "LIVE" && ctx.twoFactorEnabled === false) {
    return "LIVE needs a two-factor step-up, and you have not enrolled 2FA: enroll it in Settings first.";
  }
  if (LIVE_STATUSES.has(ctx.status)) {
    return `A ${ctx.status} bot cannot be promoted: stop it, promote it, then start it again.`;
  }
  if (to >= stageRank("SHADOW")) {
    if (ctx.autonomy === undefined) return `${toStage} needs autonomy tier LIMITED_AUTONOMY or higher, and the bot's tier is unknown here.`;
    if (ctx.autonomy === null) return `${toStage} needs autonomy tier LIMITED_AUTONOMY or higher; the bot was never scored (counts as LOCKED).`;
    if (tierRank(ctx.autonomy.tier) < tierRank("LIMITED_AUTONOMY")) {
      return `${toStage} needs autonomy tier LIMITED_AUTONOMY or higher; the bot is ${ctx.autonomy.tier} (score ${ctx.autonomy.score}).`;
    }
  }
  return null;
}

/** The stages a promote/demote may target from `stage`: the next one up, then every lower one. */
export function stageChoices(stage: string): Stage[] {
  const from = stageRank(stage);
  const up: Stage[] = from >= 0 && from + 1 < STAGES.length ? [STAGES[from + 1]!] : [];
  const down: Stage[] = STAGES.slice(0, Math.max(0, from)).reverse();
  return [...up, ...down];
}
