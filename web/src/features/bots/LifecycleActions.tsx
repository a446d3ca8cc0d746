// Start, stop, restart, kill, re-arm and promote: each behind a ConfirmDialog that says what
// the backend will really do, disabled with a reason when a gate forbids it, with the 2FA
// step-up asked for when the server answers TWO_FACTOR_REQUIRED.
import { useCallback, useState, type ReactNode } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { Ban, Play, RefreshCw, RotateCcw, Square, TrendingUp } from "lucide-react";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { isApiError } from "../../api/errors";
import { useActionGate } from "../../lib/health";
import { parseTime } from "../../lib/time";
import { useMe } from "../../queries/auth";
import { killSwitchQuery } from "../../queries/status";
import { needsStepUp, oneOf, stageRank, useLifecycle, type Bot, type LifecycleAction, type Stage } from "../../queries/bots";
import { ActionError } from "../../components/ActionError";
import { ACTION_LABEL, actionGate, stageChoices, type GateContext } from "./lifecycle";

const STAGE_NEEDS: Record<string, string> = {
  LAB: "the global kill switch off",
  PAPER: "the global kill switch off and a connected market-data provider (databento or polygon, verified OK)",
  SHADOW: "the global kill switch off, a connected market-data provider and a connected broker (ironbeam or tradovate)",
  LIVE: "the global kill switch off, a connected market-data provider and none configured on a sandbox endpoint, a broker connected on its official (non-sandbox) endpoint, and both the global trading switch and this bot's trading switch on",
};

/** What leaving a stage must prove before promotion to the next (the server's evidence gates). */
const EVIDENCE: Record<string, string> = {
  PAPER: "a recent backtest of the bot as it is now meeting the evidence thresholds",
  SHADOW: "enough PAPER sessions whose closed trades meet the thresholds",
  LIVE: "enough SHADOW sessions whose (hypothetical) trades meet the thresholds",
};

/** Whether the bot's strategy has `filters.news_gate` (it then needs an LLM and Finnhub beyond LAB). */
function newsGated(bot: Bot): boolean {
  const filters = (bot.strategy as { filters?: { news_gate?: unknown } | null }).filters;
  return filters?.news_gate != null;
}

/** What safe start of `stage` checks for this bot. */
function stageNeeds(bot: Bot, stage: string): string {
  const base = STAGE_NEEDS[stage] ?? "every gate of its stage";
  return stage !== "LAB" && newsGated(bot) ? `${base}; for its news gate, a usable LLM provider and Finnhub configured` : base;
}

const STAGE_RUNS: Record<string, string> = {
  LAB: "LAB places no orders.",
  PAPER: "PAPER places simulated orders, filled at the next bar's open.",
  SHADOW: "SHADOW records the orders a broker would get and sends none.",
  LIVE: "LIVE sends real orders to the broker.",
};

function Consequences({ action, bot, toStage }: { action: LifecycleAction; bot: Bot; toStage?: string }) {
  const lines: ReactNode[] = [];
  switch (action) {
    case "start":
      lines.push(
        <>Runs safe start for {bot.stage}: it needs {stageNeeds(bot, bot.stage)}. If a gate fails, the first failure is reported and nothing starts.</>,
        <>Otherwise a runner starts and evaluates {bot.symbol} on every {bot.timeframe} bar; {STAGE_RUNS[bot.stage] ?? ""} Every evaluation leaves a decision or no-trade trace.</>,
      );
      break;
    case "stop":
      lines.push(
        <>Stops the runner gracefully (it is killed if it ignores its shutdown timeout) and sets the bot STOPPED.</>,
        <>It flattens nothing and cancels nothing: the open position and any working order stay booked as they are. Start it again at any time (safe start re-checks every gate).</>,
      );
      if (bot.stage === "LIVE") {
        lines.push(<>LIVE: its working orders stay live at the broker and can still fill with no runner managing them. Cancel them first if that is not intended.</>);
      }
      break;
    case "restart":
      lines.push(
        <>Checks safe start for {bot.stage} first: if a gate fails, the running runner is left alone and nothing changes.</>,
        <>Otherwise stops the runner and starts a new one; it rebuilds its position from the bot's fills. The position and working orders are not touched.</>,
      );
      break;
    case "kill":
      lines.push(
        <>Latches the bot KILLED, recorded with the reason below and a SEV-1 BOT_KILLED event. Its runner is stopped through the usual shutdown (the request does not wait for it); a new lease epoch blocks its order writes at once.</>,
        <>It cancels the bot's working orders: PAPER and SHADOW orders in the ledger; LIVE orders at the broker first — one the broker does not confirm, or one still SENDING, stays open and is reported as pending.</>,
        <>It flattens nothing: the open position stays as booked, and a KILLED bot that holds one blocks the system (SEV-1 KILLED_WITH_EXPOSURE) until it is flat or acknowledged.</>,
        <>The bot cannot start or restart until an admin re-arms it.</>,
      );
      break;
    case "rearm":
      lines.push(
        <>Clears the KILLED latch, resets the bot's circuit breaker and fault counters, and leaves the bot STOPPED.</>,
        <>It does not start the bot: start it afterwards (safe start re-checks every gate). Resolve what caused the kill first.</>,
      );
      break;
    case "promote": {
      const up = toStage !== undefined && stageRank(toStage) > stageRank(bot.stage);
      if (up) {
        lines.push(
          <>Moves the bot {bot.stage} → {toStage}. The server checks {toStage}'s gates — {stageNeeds(bot, toStage!)}{EVIDENCE[toStage!] ? `; ${EVIDENCE[toStage!]}` : ""}{stageRank(toStage!) >= stageRank("SHADOW") ? "; autonomy tier LIMITED_AUTONOMY or higher" : ""} — and lists every failed gate; then nothing changes.</>,
          <>The bot stays STOPPED; starting it runs at {toStage}: {STAGE_RUNS[toStage!] ?? ""}</>,
        );
        if (toStage === "LIVE") lines.push(<>LIVE needs a two-factor step-up: you will be asked for a code from your authenticator app.</>);
      } else {
        lines.push(
          <>Moves the bot {bot.stage} → {toStage} at once (a demotion passes no gates). A running bot picks up the new stage on its next reload: {toStage ? STAGE_RUNS[toStage] : ""}</>,
        );
        if (bot.stage === "LIVE") {
          lines.push(<>Demotion only sets the stage: the bot's working orders and position stay at the broker. Cancel or close them first.</>);
        }
      }
      break;
    }
  }
  return (
    <ul className="flex list-disc flex-col gap-1 pl-4" data-testid="consequences">
      {lines.map((l, i) => (
        <li key={i}>{l}</li>
      ))}
    </ul>
  );
}

/** Whether the session's last 2FA step-up still counts (read when a dialog opens). */
function stepUpFresh(validUntil: string | null | undefined): boolean {
  const until = parseTime(validUntil);
  return until !== null && until > Date.now();
}

interface Pending {
  action: LifecycleAction;
  toStage?: Stage;
}

const ICONS: Record<LifecycleAction, typeof Play> = {
  start: Play,
  stop: Square,
  restart: RefreshCw,
  kill: Ban,
  rearm: RotateCcw,
  promote: TrendingUp,
};

export function LifecycleActions({ bot, runtimeLatched, autonomy, onDone }: {
  bot: Bot;
  runtimeLatched: boolean;
  autonomy: GateContext["autonomy"];
  onDone: (message: string) => void;
}) {
  const me = useMe();
  const killSwitch = useQuery(killSwitchQuery);
  const endpointGate = useActionGate(["/api/bots/{id}"]);
  const lifecycle = useLifecycle(bot.id);
  const choices = stageChoices(bot.stage);
  const [toStage, setToStage] = useState<Stage | undefined>(choices[0]);
  const [pending, setPending] = useState<Pending | null>(null);
  const [needsCode, setNeedsCode] = useState(false);
  const [reason, setReason] = useState("");

  const ctx: GateContext = {
    status: bot.status,
    stage: bot.stage,
    role: me.data?.user.role,
    twoFactorEnabled: me.data?.user.two_factor_enabled,
    runtimeLatched,
    killSwitchActive: killSwitch.data ? killSwitch.data.kill_switch.active : null,
    autonomy,
    endpointGate,
  };
  const target = toStage && choices.includes(toStage) ? toStage : choices[0];

  const open = (action: LifecycleAction) => {
    lifecycle.reset();
    setReason("");
    // LIVE promotion needs a recent step-up: ask for the code up front when the session has none.
    setNeedsCode(action === "promote" && target === "LIVE" && !stepUpFresh(me.data?.step_up_valid_until));
    setPending({ action, toStage: action === "promote" ? target : undefined });
  };
  const close = useCallback(() => {
    setPending(null);
    setNeedsCode(false);
  }, []);

  const confirm = (code?: string) => {
    if (!pending) return;
    lifecycle.mutate(
      { action: pending.action, toStage: pending.toStage, reason, code },
      {
        onSuccess: (body) => {
          const label = pending.action === "promote" ? `Moved to ${pending.toStage}` : `${ACTION_LABEL[pending.action]}: done`;
          onDone(`${label}; the bot is ${body.bot.status}.`);
          close();
        },
        onError: (error) => {
          if (needsStepUp(error)) setNeedsCode(true);
          // The step-up went through (the action itself failed): do not ask for a code again.
          else if (code && isApiError(error) && error.endpoint !== "/api/auth/step-up") setNeedsCode(false);
        },
      },
    );
  };

  const button = (action: LifecycleAction, variant: "secondary" | "danger" | "primary" = "secondary") => {
    const Icon = ICONS[action];
    const reasonText = actionGate(action, ctx, action === "promote" ? target : undefined);
    return (
      <Button variant={variant} size="sm" disabledReason={reasonText} onClick={() => open(action)}>
        <Icon size={14} aria-hidden /> {ACTION_LABEL[action]}
      </Button>
    );
  };

  const demote = pending?.action === "promote" && pending.toStage !== undefined && stageRank(pending.toStage) < stageRank(bot.stage);
  const title = !pending
    ? ""
    : pending.action === "promote"
      ? `${demote ? "Demote" : "Promote"} to ${pending.toStage}`
      : `${ACTION_LABEL[pending.action]} bot`;

  return (
    <div className="flex flex-wrap items-center gap-2" role="group" aria-label="Lifecycle actions">
      {button("start", "primary")}
      {button("stop")}
      {button("restart")}
      {button("kill", "danger")}
      {button("rearm")}
      <span className="mx-1 h-5 w-px bg-line" aria-hidden />
      <label className="flex items-center gap-1 text-sm">
        <span className="text-muted">Stage</span>
        <select
          aria-label="Target stage"
          value={target ?? ""}
          onChange={(e) => setToStage(oneOf(choices, e.target.value))}
          className="rounded-md border border-line bg-surface-2 px-2 py-1 text-sm"
          disabled={choices.length === 0}
        >
          {choices.map((s) => (
            <option key={s} value={s}>
              {stageRank(s) > stageRank(bot.stage) ? `↑ ${s}` : `↓ ${s}`}
            </option>
          ))}
        </select>
      </label>
      {button("promote")}

      {pending && (
        <ConfirmDialog
          title={title}
          danger={pending.action === "kill"}
          needsCode={needsCode}
          busy={lifecycle.isPending}
          confirmLabel={pending.action === "promote" ? (demote ? "Demote" : "Promote") : ACTION_LABEL[pending.action]}
          consequences={
            <div className="flex flex-col gap-3">
              <p className="text-fg">
                <span className="font-medium">{bot.name}</span> · {bot.symbol} {bot.timeframe} · {bot.stage} · {bot.status}
              </p>
              <Consequences action={pending.action} bot={bot} toStage={pending.toStage} />
              {pending.action === "kill" && (
                <label className="flex flex-col gap-1 text-sm text-fg">
                  Reason (recorded with the latch)
                  <input
                    value={reason}
                    onChange={(e) => setReason(e.target.value)}
                    maxLength={500}
                    placeholder={me.data ? `killed by ${me.data.user.email}` : "why"}
                    className="rounded-md border border-line bg-surface-2 px-2 py-1.5"
                  />
                </label>
              )}
              {needsCode && (
                <p className="rounded-md border border-info/40 bg-info/10 p-2 text-fg" role="status">
                  This action needs a recent two-factor step-up. Enter a code from your authenticator app: it is checked first (POST /api/auth/step-up), then the action is sent.
                </p>
              )}
            </div>
          }
          error={
            lifecycle.error ? (
              <>
                <ActionError error={lifecycle.error} />
                {isApiError(lifecycle.error) && lifecycle.error.endpoint === "/api/auth/step-up" && lifecycle.error.code === "TWO_FACTOR_REQUIRED" && (
                  <p className="mt-2 text-sm">
                    <Link to="/settings" className="text-accent underline">Enroll two-factor authentication in Settings</Link>, then try again.
                  </p>
                )}
              </>
            ) : undefined
          }
          onConfirm={confirm}
          onCancel={close}
        />
      )}
    </div>
  );
}
