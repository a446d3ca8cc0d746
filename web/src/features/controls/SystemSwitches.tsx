// The global kill switch and trading switch in the shell's header: their state for everyone,
// and for admins the control, behind a confirmation that states what the server really does.
// Releasing the kill switch and turning trading on also need a fresh 2FA code when the session
// has no recent step-up (the server demands one); stopping risk never does.
import { useCallback, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Power, Zap } from "lucide-react";
import { isApiError } from "../../api/errors";
import { ActionError } from "../../components/ActionError";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { useActionGate } from "../../lib/health";
import { freshForMs, queryFreshness } from "../../lib/freshness";
import { POLL } from "../../lib/queryClient";
import { parseTime, useNow } from "../../lib/time";
import { hasRole, useMe } from "../../queries/auth";
import { killSwitchQuery, setKillSwitch, setTradingSwitch, tradingSwitchQuery } from "../../queries/status";

/** Why the signed-in user cannot make this change to a global switch, or null. */
export function switchGate(me: { role: string; twoFactor: boolean } | null, what: string, stepUp: boolean): string | null {
  if (!me) return "Checking your role…";
  if (!hasRole(me.role, "admin")) return `${what} needs the admin role; you are signed in as ${me.role}`;
  if (stepUp && !me.twoFactor) return `${what} needs a fresh 2FA code: enroll two-factor authentication in Settings first`;
  return null;
}

function useSwitchGate(what: string, endpoint: string, stepUp: boolean): string | null {
  const me = useMe();
  const down = useActionGate([endpoint]);
  if (down) return down;
  if (me.isError) return "Your role is unknown (GET /api/auth/me failed)";
  return switchGate(me.data ? { role: me.data.user.role, twoFactor: me.data.user.two_factor_enabled } : null, what, stepUp);
}

/** True when the session proved its second factor recently enough for admin actions. */
function useStepUpFresh(): boolean {
  const me = useMe();
  const now = useNow(5000);
  const until = parseTime(me.data?.step_up_valid_until);
  return until !== null && until > now;
}

/** Opening, closing and the step-up prompt of one switch's dialog. */
function useSwitchDialog() {
  const fresh = useStepUpFresh();
  const [open, setOpen] = useState(false);
  const [needsCode, setNeedsCode] = useState(false);
  /** `stepUp`: the change needs a recent 2FA verification (asked for up front when stale). */
  const show = (stepUp: boolean) => {
    setNeedsCode(stepUp && !fresh);
    setOpen(true);
  };
  const close = useCallback(() => setOpen(false), []);
  const onError = (error: unknown, code?: string) => {
    if (isApiError(error) && error.code === "TWO_FACTOR_REQUIRED") setNeedsCode(true);
    // The step-up passed and the action itself failed: do not ask for a code again.
    else if (code && isApiError(error) && error.endpoint !== "/api/auth/step-up") setNeedsCode(false);
  };
  return { open, needsCode, show, close, onError };
}

function useRefresh() {
  const client = useQueryClient();
  return () => {
    for (const key of ["/api/system/kill-switch", "/api/system/trading-switch", "/api/system/status", "/api/auth/me", "/api/bots"]) {
      void client.invalidateQueries({ queryKey: [key] });
    }
  };
}

/**
 * Whether a switch's shown state is not proven now (its latest refetch failed, or no answer came
 * within two polls and a bit), and why; re-checked every second without a new fetch.
 */
function useSwitchStale(query: { dataUpdatedAt: number; isError: boolean }, pollMs: number): string | null {
  const now = useNow(1000);
  const f = queryFreshness(query, now, freshForMs(pollMs));
  return f.stale ? `Stale: ${f.reason ?? "not current"}; the last known state is shown` : null;
}

export function KillSwitchControl() {
  const ks = useQuery(killSwitchQuery);
  const stale = useSwitchStale(ks, POLL.fast);
  const activate = !ks.data?.kill_switch.active;
  const gate = useSwitchGate(activate ? "Activating the kill switch" : "Releasing the kill switch", "/api/system/kill-switch", !activate);
  const dialog = useSwitchDialog();
  const refresh = useRefresh();
  const [reason, setReason] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const change = useMutation({ mutationFn: setKillSwitch, onSettled: refresh });
  if (ks.isPending) return null;
  if (ks.isError && !ks.data) return <Badge tone="bad">Kill switch: unknown</Badge>;
  const state = ks.data!.kill_switch;
  const confirm = (code?: string) =>
    change.mutate(
      { active: activate, reason: activate ? reason.trim() || undefined : undefined, code },
      {
        onSuccess: (body) => {
          setDone(
            activate
              ? `Kill switch ON: ${body.killed_bot_ids.length} bot(s) killed, ${body.cancelled_order_ids.length} working order(s) cancelled.`
              : "Kill switch released: bots can be started again; killed bots stay KILLED until re-armed.",
          );
          dialog.close();
        },
        onError: (e) => dialog.onError(e, code),
      },
    );
  return (
    <div className="flex items-center gap-1.5">
      <Badge
        tone={state.active ? "bad" : "neutral"}
        title={[state.active ? `Active since ${state.changed_at ?? "?"} by ${state.changed_by ?? "?"}: ${state.reason ?? ""}` : "The global kill switch is off", stale].filter(Boolean).join(". ")}
      >
        <Zap size={12} aria-hidden />
        <span data-testid="kill-switch-state" data-stale={stale ? "true" : "false"}>Kill switch {state.active ? "ON" : "off"}</span>
        {stale && " (stale)"}
      </Badge>
      <Button
        size="sm"
        variant={activate ? "danger" : "secondary"}
        disabledReason={gate}
        onClick={() => {
          change.reset();
          setReason("");
          setDone(null);
          dialog.show(!activate);
        }}
      >
        {activate ? "Activate kill switch" : "Release kill switch"}
      </Button>
      {done && (
        <span role="status" className="sr-only">
          {done}
        </span>
      )}
      {dialog.open && (
        <ConfirmDialog
          title={activate ? "Activate the global kill switch" : "Release the global kill switch"}
          danger={activate}
          needsCode={dialog.needsCode}
          busy={change.isPending}
          confirmLabel={activate ? "Kill everything" : "Release"}
          error={change.isError ? <ActionError error={change.error} /> : undefined}
          onCancel={dialog.close}
          onConfirm={confirm}
          consequences={
            activate ? (
              <div className="flex flex-col gap-2 text-fg">
                <ul className="flex list-disc flex-col gap-1 pl-4">
                  <li>Every running bot is killed now: each becomes KILLED and stays latched until a human re-arms it.</li>
                  <li>Every working order is cancelled. Open positions are not closed: they stay on the books, and the status shows each killed bot that holds one as a SEV-1 blocker.</li>
                  <li>Every start is refused (KILL_SWITCH_ACTIVE) until an admin releases the switch.</li>
                  <li>Recorded as a SEV-1 system event and in the audit log, with your reason if you give one.</li>
                </ul>
                <label className="flex flex-col gap-1 text-sm">
                  Reason (optional)
                  <input
                    value={reason}
                    onChange={(e) => setReason(e.target.value)}
                    maxLength={500}
                    aria-label="Kill switch reason"
                    className="rounded-md border border-line bg-surface-2 px-2 py-1.5"
                  />
                </label>
              </div>
            ) : (
              <ul className="flex list-disc flex-col gap-1 pl-4 text-fg">
                <li>Starts are allowed again.</li>
                <li>Bots the switch killed stay KILLED: nothing restarts on its own; re-arm each bot, then start it.</li>
                <li>Recorded as a system event and in the audit log.</li>
              </ul>
            )
          }
        />
      )}
    </div>
  );
}

export function TradingSwitchControl() {
  const ts = useQuery(tradingSwitchQuery);
  const stale = useSwitchStale(ts, POLL.normal);
  const enable = ts.data ? !ts.data.settings.trading_enabled : false;
  const gate = useSwitchGate(enable ? "Turning live trading on" : "Turning live trading off", "/api/system/trading-switch", enable);
  const dialog = useSwitchDialog();
  const refresh = useRefresh();
  const [done, setDone] = useState<string | null>(null);
  const change = useMutation({ mutationFn: setTradingSwitch, onSettled: refresh });
  if (ts.isPending) return null;
  if (ts.isError && !ts.data) return <Badge tone="bad">Live trading: unknown</Badge>;
  const { settings, off_cancels_working_orders: offCancels } = ts.data!;
  return (
    <div className="flex items-center gap-1.5">
      <Badge tone="neutral" title={[`Changed ${settings.updated_at}${settings.updated_by ? ` by ${settings.updated_by}` : ""}`, stale].filter(Boolean).join(". ")}>
        <Power size={12} aria-hidden />
        <span data-testid="trading-switch-state" data-stale={stale ? "true" : "false"}>Live trading {settings.trading_enabled ? "ON" : "off"}</span>
        {stale && " (stale)"}
      </Badge>
      <Button
        size="sm"
        disabledReason={gate}
        onClick={() => {
          change.reset();
          setDone(null);
          dialog.show(enable);
        }}
      >
        {enable ? "Turn live trading on" : "Turn live trading off"}
      </Button>
      {done && (
        <span role="status" className="sr-only">
          {done}
        </span>
      )}
      {dialog.open && (
        <ConfirmDialog
          title={enable ? "Turn the global trading switch on" : "Turn the global trading switch off"}
          danger={!enable}
          needsCode={dialog.needsCode}
          busy={change.isPending}
          confirmLabel={enable ? "Turn on" : "Turn off"}
          error={change.isError ? <ActionError error={change.error} /> : undefined}
          onCancel={dialog.close}
          onConfirm={(code) =>
            change.mutate(
              { enabled: enable, code },
              {
                onSuccess: (body) => {
                  setDone(
                    enable
                      ? "Live trading on."
                      : `Live trading off: ${body.cancelled_order_ids.length} working LIVE order(s) cancelled.`,
                  );
                  dialog.close();
                },
                onError: (e) => dialog.onError(e, code),
              },
            )
          }
          consequences={
            <ul className="flex list-disc flex-col gap-1 pl-4 text-fg">
              {enable ? (
                <>
                  <li>Bots may be started at LIVE, or promoted to LIVE, again: each still needs its own trading flag, a connected broker and every other safe-start gate.</li>
                  <li>No bot starts by itself.</li>
                </>
              ) : (
                <>
                  <li>Starting a bot at LIVE, or promoting one to LIVE, is refused from now on (LIVE_TRADING_DISABLED).</li>
                  <li>Running LIVE bots place no new order from their next evaluation (LIVE_TRADING_DISABLED in their no-trade traces).</li>
                  {offCancels ? (
                    <li>Every working LIVE order is cancelled at the broker now. Open positions are not closed: use kill and flatten for that.</li>
                  ) : (
                    <li>Working LIVE orders stay at the broker (this server runs with TRADEPLANE_TRADING_OFF_CANCELS=false), and open positions are not closed.</li>
                  )}
                  <li>PAPER and SHADOW bots are not affected.</li>
                </>
              )}
              <li>Recorded as a system event and in the audit log.</li>
            </ul>
          }
        />
      )}
    </div>
  );
}
