// Account risk per broker account (GET /api/account-risk): the limits across every bot routed
// to the account, its figures now, and its daily-loss latch with a Re-arm (POST
// /api/account-risk/{broker}/{account}/rearm, operator, 2FA step-up). Limits are set through
// PUT /api/account-risk/{broker}/{account}.
import { useCallback, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { ActionError } from "../../components/ActionError";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { QueryError } from "../../components/PanelStatus";
import { isApiError } from "../../api/errors";
import { formatTime, parseTime } from "../../lib/time";
import { useMe } from "../../queries/auth";
import { needsStepUp } from "../../queries/bots";
import { accountRiskQuery, useRearmAccount, type AccountRisk } from "../../queries/desk";

function stepUpFresh(validUntil: string | null | undefined): boolean {
  const until = parseTime(validUntil);
  return until !== null && until > Date.now();
}

function Rearm({ account, gate, onDone }: { account: AccountRisk; gate: string | null; onDone: (m: string) => void }) {
  const me = useMe();
  const rearm = useRearmAccount();
  const [open, setOpen] = useState(false);
  const [needsCode, setNeedsCode] = useState(false);
  const close = useCallback(() => {
    setOpen(false);
    setNeedsCode(false);
  }, []);
  const confirm = (code?: string) => {
    rearm.mutate(
      { broker: account.broker, account: account.account, code },
      {
        onSuccess: () => {
          onDone(`Re-armed ${account.broker} ${account.account}: its bots may raise exposure again, unless the next LIVE evaluation finds the day's loss still at or beyond the limit and latches it again.`);
          close();
        },
        onError: (error) => {
          if (needsStepUp(error)) setNeedsCode(true);
          else if (code && isApiError(error) && error.endpoint !== "/api/auth/step-up") setNeedsCode(false);
        },
      },
    );
  };
  return (
    <>
      <Button
        size="sm"
        variant="danger"
        disabledReason={gate}
        onClick={() => {
          rearm.reset();
          setNeedsCode(!stepUpFresh(me.data?.step_up_valid_until));
          setOpen(true);
        }}
        aria-label={`Re-arm account ${account.account}`}
      >
        Re-arm
      </Button>
      {open && (
        <ConfirmDialog
          title={`Re-arm ${account.broker} ${account.account}`}
          danger
          needsCode={needsCode}
          busy={rearm.isPending}
          confirmLabel="Re-arm"
          consequences={
            <ul className="flex list-disc flex-col gap-1 pl-4" data-testid="rearm-consequences">
              <li>Every bot on this account may raise exposure again at its next evaluation (the account's other limits still apply).</li>
              <li>If the day's loss is still at or beyond the daily loss limit, the next LIVE evaluation latches the account again.</li>
              <li>Only do this after reviewing the day's trades that breached the account's daily loss limit. Needs a two-factor step-up; audited.</li>
            </ul>
          }
          error={rearm.error ? <ActionError error={rearm.error} /> : undefined}
          onConfirm={confirm}
          onCancel={close}
        />
      )}
    </>
  );
}

export function AccountRiskSection({ gate, onDone }: { gate: string | null; onDone: (m: string) => void }) {
  const query = useQuery(accountRiskQuery);
  const accounts = query.data?.accounts ?? [];
  return (
    <section aria-label="Account risk" className="rounded-lg border border-line bg-surface p-3">
      <h2 className="mb-2 text-sm font-semibold">Account risk</h2>
      {query.isError && <QueryError error={query.error} />}
      {query.data && accounts.length === 0 && <p className="text-sm text-muted">No broker account has limits, a latch, or takes LIVE orders now.</p>}
      <div className="flex flex-col gap-3">
        {accounts.map((a) => {
          const r = a.reading;
          return (
            <article key={`${a.broker}-${a.account}`} className="text-sm" data-testid={`account-${a.account}`}>
              <div className="flex flex-wrap items-center gap-2">
                <span className="font-mono">{a.broker}</span>
                <span>{a.account}</span>
                {a.is_live_route && <Badge tone="info">LIVE route</Badge>}
                {a.latch ? <Badge tone="bad">LATCHED</Badge> : a.limits ? <Badge tone="ok">armed</Badge> : <Badge tone="neutral">no limits</Badge>}
                {a.latch && (
                  <span className="ml-auto">
                    <Rearm account={a} gate={gate} onDone={onDone} />
                  </span>
                )}
              </div>
              {a.latch && (
                <p className="mt-1 text-bad">
                  Latched {formatTime(a.latch.latched_at)}: {a.latch.reason}
                </p>
              )}
              <dl className="mt-1 grid grid-cols-[auto_1fr] gap-x-3 gap-y-1">
                <dt className="text-muted">Limits</dt>
                <dd>
                  {a.limits
                    ? `gross ${a.limits.max_gross_contracts} · net ${a.limits.max_net_contracts} per contract · daily loss ${a.limits.daily_loss_limit} USD · ${a.limits.max_orders_per_minute} orders/min`
                    : "none (only each bot's own limits apply)"}
                </dd>
                <dt className="text-muted">Now</dt>
                <dd>
                  {r
                    ? `day PnL ${r.daily_pnl} USD · ${r.orders_last_minute} orders in the last minute · ${r.bots.length} bot(s) · ` +
                      (Object.entries(r.contracts)
                        .map(([c, x]) => `${c} net ${x?.net ?? 0} gross ${x?.gross ?? 0}`)
                        .join(", ") || "flat")
                    : "figures unavailable (an open position without a mark)"}
                </dd>
              </dl>
            </article>
          );
        })}
      </div>
    </section>
  );
}
