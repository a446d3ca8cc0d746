// The desk's controls on one bot: cancel working orders, close the position, kill and flatten,
// acknowledge a KILLED bot's exposure, archive / un-archive. Each behind a ConfirmDialog that
// states what the backend really does (src/runtime/lifecycle/desk.rs, src/runtime/safety.rs),
// disabled with the reason when a gate forbids it, with the 2FA step-up for a LIVE close.
import { useCallback, useState, type ReactNode } from "react";
import { useQuery } from "@tanstack/react-query";
import { Archive, ArchiveRestore, Ban, CircleSlash, ShieldCheck, XCircle } from "lucide-react";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ActionError } from "../../components/ActionError";
import { isApiError } from "../../api/errors";
import { useActionGate } from "../../lib/health";
import { parseTime } from "../../lib/time";
import { useMe } from "../../queries/auth";
import { needsStepUp, positionQuery, type Bot } from "../../queries/bots";
import { useDeskAction, type DeskAction } from "../../queries/desk";
import { DESK_LABEL, deskGate, describeRemoval, needsStepUpUpFront, type DeskContext } from "./desk";

const ICONS: Record<DeskAction, typeof Ban> = {
  cancel: CircleSlash,
  close: XCircle,
  killFlatten: Ban,
  acknowledge: ShieldCheck,
  archive: Archive,
  unarchive: ArchiveRestore,
};

function Consequences({ action, bot, quantity, working }: { action: DeskAction; bot: Bot; quantity: number | null; working: number | null }) {
  const held = quantity === null ? "its position (unknown here)" : quantity === 0 ? "no position" : `${Math.abs(quantity)} contract(s) ${quantity > 0 ? "long" : "short"}`;
  const orders = working === null ? "its working orders" : `${working} working order(s)`;
  const live = bot.stage === "LIVE";
  const lines: ReactNode[] = [];
  switch (action) {
    case "cancel":
      lines.push(
        <>Cancels {orders} of the bot: PAPER and SHADOW orders in the ledger; LIVE orders at the broker first — one the broker does not confirm stays open and is reported as pending.</>,
        <>The position ({held}) is not touched. The bot stays {bot.status}: a running bot is paused for the cancel and goes on after, so its strategy may place a new order at its next signal.</>,
        <>Recorded as a BOT_RISK_REMOVED event (source OPERATOR_CANCEL) and in the audit log.</>,
      );
      break;
    case "close":
      lines.push(<>Cancels {orders}, then closes {held} with one market order.</>);
      if (live) {
        lines.push(
          <>LIVE: needs a two-factor step-up. The close goes through the same path as kill and flatten: working orders on the contract are cancelled at the broker, then a market order is sent for each bot holding the contract on this broker account (the broker nets them into one position), booked from the broker's fills. Without a logged-in broker session nothing is sent (BROKER_PENDING).</>,
        );
      } else {
        lines.push(
          <>{bot.stage}: filled at the newest stored {bot.symbol} {bot.timeframe} bar's close moved by the PAPER slippage (plus commission), booked in the ledger. Without a stored bar it is not closed and says so — never a made-up price.</>,
        );
      }
      lines.push(
        <>The bot keeps its status ({bot.status}): a running bot may open a new position at its next signal. To stop it as well, use Kill and flatten. Recorded as BOT_RISK_REMOVED (source OPERATOR_CLOSE).</>,
      );
      break;
    case "killFlatten":
      lines.push(
        <>Halts the runner and latches the bot KILLED (SEV-1 BOT_KILLED); it cannot start until an admin re-arms it.</>,
        <>Cancels {orders} and closes {held} with a market order — {live ? "LIVE: needs a two-factor step-up; sent to the broker as market orders closing the account's contract for every bot holding it, booked from the broker's fills" : "filled at the newest stored bar's close ± PAPER slippage"}.</>,
      );
      break;
    case "acknowledge":
      lines.push(
        <>Marks the KILLED bot's exposure ({held}, {orders}) as intended: the system status shows KILLED_WITH_EXPOSURE as SEV-2 instead of SEV-1 until the bot is flat, killed again or re-armed.</>,
        <>Cancels nothing and closes nothing. Records a SEV-2 EXPOSURE_ACKNOWLEDGED event with your name.</>,
      );
      break;
    case "archive":
      lines.push(
        <>Hides the bot from the bot list (Bots → Archived still shows it). Its trades, orders, traces and events are all kept.</>,
        <>An archived bot cannot start until it is un-archived.</>,
      );
      break;
    case "unarchive":
      lines.push(<>Puts the bot back in the bot list. It stays STOPPED: start it afterwards (safe start checks every gate).</>);
      break;
  }
  return (
    <ul className="flex list-disc flex-col gap-1 pl-4" data-testid="consequences">
      {lines.map((l, i) => (
        <li key={i}>{l}</li>
      ))}
    </ul>
  );
}

function stepUpFresh(validUntil: string | null | undefined): boolean {
  const until = parseTime(validUntil);
  return until !== null && until > Date.now();
}

export function DeskActions({ bot, onDone }: { bot: Bot; onDone: (message: string) => void }) {
  const me = useMe();
  const position = useQuery(positionQuery(bot.id));
  const endpointGate = useActionGate(["/api/bots/{id}"]);
  const desk = useDeskAction(bot.id);
  const [pending, setPending] = useState<DeskAction | null>(null);
  const [needsCode, setNeedsCode] = useState(false);

  const quantity = position.data ? (position.data.position?.quantity ?? 0) : null;
  const working = position.data ? position.data.working_orders.length : null;
  const archived = Boolean(bot.archived_at);
  const ctx: DeskContext = {
    role: me.data?.user.role,
    status: bot.status,
    stage: bot.stage,
    archived,
    quantity,
    workingOrders: working,
    twoFactorEnabled: me.data?.user.two_factor_enabled,
    endpointGate,
  };

  const open = (action: DeskAction) => {
    desk.reset();
    setNeedsCode(needsStepUpUpFront(action, bot.stage) && !stepUpFresh(me.data?.step_up_valid_until));
    setPending(action);
  };
  const close = useCallback(() => {
    setPending(null);
    setNeedsCode(false);
  }, []);

  const confirm = (code?: string) => {
    if (!pending) return;
    const action = pending;
    desk.mutate(
      { action, code },
      {
        onSuccess: (body) => {
          const what = body.removal ? describeRemoval(body.removal) : `the bot is ${body.bot.status}${body.bot.archived_at ? ", archived" : ""}.`;
          onDone(`${DESK_LABEL[action]}: ${what}`);
          close();
        },
        onError: (error) => {
          if (needsStepUp(error)) setNeedsCode(true);
          else if (code && isApiError(error) && error.endpoint !== "/api/auth/step-up") setNeedsCode(false);
        },
      },
    );
  };

  const button = (action: DeskAction, variant: "secondary" | "danger" = "secondary") => {
    const Icon = ICONS[action];
    return (
      <Button variant={variant} size="sm" disabledReason={deskGate(action, ctx)} onClick={() => open(action)}>
        <Icon size={14} aria-hidden /> {DESK_LABEL[action]}
      </Button>
    );
  };

  return (
    <div className="flex flex-wrap items-center gap-2" role="group" aria-label="Desk controls">
      {button("cancel")}
      {button("close")}
      {button("killFlatten", "danger")}
      {button("acknowledge")}
      {archived ? button("unarchive") : button("archive")}
      {pending && (
        <ConfirmDialog
          title={`${DESK_LABEL[pending]}: ${bot.name}`}
          danger={pending === "killFlatten" || pending === "close"}
          needsCode={needsCode}
          busy={desk.isPending}
          confirmLabel={DESK_LABEL[pending]}
          consequences={
            <div className="flex flex-col gap-3">
              <p className="text-fg">
                <span className="font-medium">{bot.name}</span> · {bot.symbol} {bot.timeframe} · {bot.stage} · {bot.status}
              </p>
              <Consequences action={pending} bot={bot} quantity={quantity} working={working} />
              {needsCode && (
                <p className="rounded-md border border-info/40 bg-info/10 p-2 text-fg" role="status">
                  This action needs a recent two-factor step-up. Enter a code from your authenticator app: it is checked first (POST /api/auth/step-up), then the action is sent.
                </p>
              )}
            </div>
          }
          error={desk.error ? <ActionError error={desk.error} /> : undefined}
          onConfirm={confirm}
          onCancel={close}
        />
      )}
    </div>
  );
}
