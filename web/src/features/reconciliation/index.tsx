// The reconciliation view: open broker-vs-ledger mismatches (GET /api/reconciliation), each
// naming bot, contract, ours vs theirs, with Adopt / Flatten per bot (POST
// /api/bots/{id}/reconcile, operator, 2FA step-up), and the last run per broker account.
import { useCallback, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Scale } from "lucide-react";
import { ActionError } from "../../components/ActionError";
import { AccountRiskSection } from "./AccountRisk";
import { Badge } from "../../components/Badge";
import { BotName } from "../../components/BotName";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { isApiError } from "../../api/errors";
import { useRoleGate } from "../../lib/roleGate";
import { useTitle } from "../../lib/title";
import { answerFreshness, formatAge } from "../../lib/freshness";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { useMe } from "../../queries/auth";
import { needsStepUp } from "../../queries/bots";
import { reconciliationQuery, useReconcile, type Mismatch } from "../../queries/desk";

type Action = "adopt" | "flatten";

function stepUpFresh(validUntil: string | null | undefined): boolean {
  const until = parseTime(validUntil);
  return until !== null && until > Date.now();
}

const CONSEQUENCES: Record<Action, string[]> = {
  adopt: [
    "The broker is right: our orders the broker finished or does not know are closed in the ledger.",
    "The difference between the broker's net position on the contract and ours is booked to this bot as one adjustment fill, priced at the broker's average price (else the newest stored bar's close; neither → not done, never a made-up price).",
    "Each working broker order on the contract none of ours claims is booked as this bot's WORKING order with its fills so far, so the bot's cancel, kill and flatten reach it.",
  ],
  flatten: [
    "Cancels every working order on the contract on this account AT THE BROKER: this bot's, other bots' and unknown ones.",
    "Books what the ledgers do not explain to this bot, then sends a real market order for each bot holding the contract on this account and books its fills: every bot's ledger ends flat with the broker.",
    "A bot another node runs is not closed here; the result names it.",
  ],
};

function Resolve({ mismatch, botId, gate, onDone }: { mismatch: Mismatch; botId: string; gate: string | null; onDone: (m: string) => void }) {
  const me = useMe();
  const reconcile = useReconcile();
  const [pending, setPending] = useState<Action | null>(null);
  const [needsCode, setNeedsCode] = useState(false);
  const close = useCallback(() => {
    setPending(null);
    setNeedsCode(false);
  }, []);
  const open = (action: Action) => {
    reconcile.reset();
    setNeedsCode(!stepUpFresh(me.data?.step_up_valid_until));
    setPending(action);
  };
  const confirm = (code?: string) => {
    if (!pending) return;
    reconcile.mutate(
      { botId, action: pending, code },
      {
        onSuccess: (body) => {
          const notDone = (body.flatten?.not_done ?? []).map((why) => ` Not closed: ${why}.`).join("");
          onDone(`${pending === "adopt" ? "Adopted" : "Flattened"} ${body.contract}: ${body.resolved.length} mismatch(es) resolved, ${body.still_open.length} still open.${notDone}`);
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
    <div className="flex flex-wrap gap-2">
      <Button size="sm" disabledReason={gate} onClick={() => open("adopt")} aria-label={`Adopt the broker's state for ${mismatch.contract}`}>
        Adopt
      </Button>
      <Button size="sm" variant="danger" disabledReason={gate} onClick={() => open("flatten")} aria-label={`Flatten ${mismatch.contract} at the broker`}>
        Flatten
      </Button>
      {pending && (
        <ConfirmDialog
          title={`${pending === "adopt" ? "Adopt the broker's state" : "Flatten at the broker"}: ${mismatch.contract}`}
          danger={pending === "flatten"}
          needsCode={needsCode}
          busy={reconcile.isPending}
          confirmLabel={pending === "adopt" ? "Adopt" : "Flatten"}
          consequences={
            <div className="flex flex-col gap-2">
              <p className="text-fg">
                {mismatch.broker} {mismatch.account} · {mismatch.contract}: ours {mismatch.ours}, broker {mismatch.theirs}
              </p>
              <ul className="flex list-disc flex-col gap-1 pl-4" data-testid="consequences">
                {CONSEQUENCES[pending].map((l) => (
                  <li key={l}>{l}</li>
                ))}
                <li>A runner of the bot on this node is paused for the action and goes on after; the account is then reconciled again. Needs a two-factor step-up; audited.</li>
              </ul>
              {needsCode && (
                <p className="rounded-md border border-info/40 bg-info/10 p-2 text-fg" role="status">
                  Enter a code from your authenticator app: it is checked first (POST /api/auth/step-up), then the action is sent.
                </p>
              )}
            </div>
          }
          error={reconcile.error ? <ActionError error={reconcile.error} /> : undefined}
          onConfirm={confirm}
          onCancel={close}
        />
      )}
    </div>
  );
}

/** A run older than this many periods proves nothing about now (the server's RECONCILIATION_OVERDUE rule). */
const OVERDUE_PERIODS = 3;

interface RunLike {
  ok: boolean;
  open_mismatches: number;
  finished_at: string;
}

/**
 * Why the list is empty: "matched" only when every account's last run compared, matched, and
 * finished within OVERDUE_PERIODS periods of `now` (the server raises SEV-2
 * RECONCILIATION_OVERDUE past that). `warn`: the text says the match is not proven now.
 */
function noMismatchReason(runs: RunLike[], everySeconds: number | null | undefined, now: number): { text: string; warn: boolean } {
  if (runs.length === 0) return { text: "None is recorded, but no reconciliation has run yet: nothing was compared.", warn: false };
  const notCompared = runs.filter((r) => !r.ok).length;
  if (notCompared > 0) {
    return { text: `None is recorded, but ${notCompared} of ${runs.length} broker account(s) were not compared at their last run (below).`, warn: false };
  }
  if (!runs.every((r) => r.open_mismatches === 0)) return { text: "None is recorded (below: each broker account's last run).", warn: false };
  if (everySeconds == null) {
    return {
      text: "None is recorded at each broker account's last run (below), but the period between runs is unknown: that the ledger matches the broker now is not proven.",
      warn: true,
    };
  }
  const maxAgeMs = OVERDUE_PERIODS * everySeconds * 1000;
  const overdue = runs.filter((r) => {
    const finished = parseTime(r.finished_at);
    return finished === null || answerFreshness({ fetchedAt: finished, fetchFailed: false, maxAgeMs, now }).stale;
  }).length;
  if (overdue > 0) {
    return {
      text: `${overdue} of ${runs.length} broker account(s) not compared for over ${OVERDUE_PERIODS} periods (every ${everySeconds} s, so ${formatAge(maxAgeMs)}): the match shown below is from their last run, not now.`,
      warn: true,
    };
  }
  return { text: "Every broker account with a run matched the ledger (positions and working orders) at its last run (below).", warn: false };
}

function NoMismatch({ runs, everySeconds, now }: { runs: RunLike[]; everySeconds: number | null | undefined; now: number }) {
  const reason = noMismatchReason(runs, everySeconds, now);
  return <EmptyState title="No open mismatch" reason={reason.warn ? <span className="text-warn">{reason.text}</span> : reason.text} />;
}

export function ReconciliationPage() {
  useTitle("Reconciliation");
  const query = useQuery(reconciliationQuery);
  const gate = useRoleGate("Resolving a mismatch", "operator", ["/api/reconciliation"]);
  const rearmGate = useRoleGate("Re-arming an account", "operator", ["/api/account-risk"]);
  const now = useNow(5000);
  const [notice, setNotice] = useState<string | null>(null);
  const mismatches = query.data?.mismatches ?? [];
  const runs = query.data?.runs ?? [];
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="flex items-center gap-2 text-xl font-semibold">
          <Scale size={18} aria-hidden /> Reconciliation
        </h1>
        <PanelStatus query={query} />
        {query.data?.every_seconds != null && <p className="ml-auto text-xs text-muted">The leader compares every broker account with the ledger every {query.data.every_seconds} s (and on login and restart).</p>}
      </div>
      {notice && (
        <p role="status" className="rounded-md border border-ok/40 bg-ok/10 px-3 py-1.5 text-sm">
          {notice}
        </p>
      )}
      {query.isPending && <p className="text-sm text-muted">Loading reconciliation…</p>}
      {query.isError && <QueryError error={query.error} />}
      {query.data && mismatches.length === 0 && <NoMismatch runs={runs} everySeconds={query.data.every_seconds} now={now} />}
      {mismatches.length > 0 && (
        <section aria-label="Open mismatches" className="flex flex-col gap-3">
          <p className="text-sm text-muted">Each open mismatch is a SEV-1 RECONCILIATION_MISMATCH blocker: the LIVE bots it names send no new order until it is resolved.</p>
          {mismatches.map((m) => (
            <article key={m.id} className="rounded-lg border border-line bg-surface p-3 text-sm" data-testid={`mismatch-${m.id}`}>
              <div className="flex flex-wrap items-center gap-2">
                <Badge tone="bad">SEV-1</Badge>
                <span className="font-mono">{m.contract}</span>
                <span className="text-muted">
                  {m.broker} · account {m.account} · {m.kind}
                </span>
                <span className="ml-auto text-xs text-muted" title={formatTime(m.detected_at)}>
                  detected {ago(parseTime(m.detected_at) ?? now, now)}
                </span>
              </div>
              <dl className="mt-2 grid grid-cols-[auto_1fr] gap-x-3 gap-y-1">
                <dt className="text-muted">Ours</dt>
                <dd>{m.ours}</dd>
                <dt className="text-muted">Broker</dt>
                <dd>{m.theirs}</dd>
                <dt className="text-muted">Message</dt>
                <dd>{m.message}</dd>
              </dl>
              <div className="mt-2 flex flex-col gap-2">
                {m.bot_ids.length === 0 && <p className="text-muted">No bot of ours trades this contract at the account: resolve it at the broker.</p>}
                {m.bot_ids.map((id) => (
                  <div key={id} className="flex flex-wrap items-center gap-3">
                    <BotName id={id} />
                    <Resolve mismatch={m} botId={id} gate={gate} onDone={setNotice} />
                  </div>
                ))}
              </div>
            </article>
          ))}
        </section>
      )}
      <AccountRiskSection gate={rearmGate} onDone={setNotice} />
      <section aria-label="Last runs" className="rounded-lg border border-line bg-surface p-3">
        <h2 className="mb-2 text-sm font-semibold">Last run per broker account</h2>
        {runs.length === 0 ? (
          <p className="text-sm text-muted">No reconciliation has run yet (no broker is configured, or none has logged in).</p>
        ) : (
          <ul className="flex flex-col gap-1 text-sm">
            {runs.map((r) => (
              <li key={`${r.broker}-${r.account}`}>
                <span className="font-mono">{r.broker}</span> {r.account}: {r.ok ? `${r.open_mismatches} open` : "not compared"}, finished{" "}
                <span title={formatTime(r.finished_at)}>{ago(parseTime(r.finished_at) ?? now, now)}</span> ({r.trigger})
                {r.error && <span className="text-bad"> — {r.error}</span>}
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
