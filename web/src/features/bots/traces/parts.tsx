// Small pieces shared by the trace viewers and the Why-not drawer: blocking gates, the linked
// trade, a labelled section, the copy-a-link button and the "not found for this bot" note.
import { useState, type ReactNode } from "react";
import { useQuery } from "@tanstack/react-query";
import { Check, Link2 } from "lucide-react";
import { Badge } from "../../../components/Badge";
import { Button } from "../../../components/Button";
import { QueryError } from "../../../components/PanelStatus";
import { TraceId } from "../../../components/TraceId";
import type { ApiError } from "../../../api/errors";
import { formatTime } from "../../../lib/time";
import { cn } from "../../../lib/cn";
import { tradeQuery, type TraceBlocker } from "../../../queries/traces";
import { copyText } from "../../../lib/clipboard";

/** Gates that hold a trade back without anything being wrong (the strategy waits for its
 *  condition): shown neutral, never in the colours of a fault. */
const BENIGN_GATES: ReadonlySet<string> = new Set(["NO_SIGNAL"]);

/** Every gate that blocked, each with its human reason, code and suggested fix. */
export function BlockerList({ blockers }: { blockers: TraceBlocker[] }) {
  if (blockers.length === 0) {
    return <p className="text-sm text-muted">The trace lists no blocking gate.</p>;
  }
  return (
    <ul className="flex flex-col gap-2" aria-label="Blocking gates">
      {blockers.map((b, i) => (
        <li
          key={`${b.code}-${i}`}
          className={cn("rounded-md border p-3", BENIGN_GATES.has(b.code) ? "border-line bg-surface-2" : "border-bad/30 bg-bad/5")}
          data-testid="blocking-gate"
        >
          <div className="flex flex-wrap items-center gap-2">
            <Badge tone={BENIGN_GATES.has(b.code) ? "neutral" : "bad"}>{b.code}</Badge>
            <span className="text-xs text-muted">
              gate <span className="font-mono">{b.gate}</span>
            </span>
          </div>
          <p className="mt-1.5 text-sm">{b.reason_human}</p>
          <p className="mt-1 text-sm text-muted">
            <span className="font-medium text-fg">Fix:</span> {b.suggested_fix}
          </p>
        </li>
      ))}
    </ul>
  );
}

export function Section({ title, children, className }: { title: string; children: ReactNode; className?: string }) {
  return (
    <section className={cn("flex flex-col gap-1.5", className)}>
      <h4 className="text-xs font-semibold tracking-wide text-muted uppercase">{title}</h4>
      {children}
    </section>
  );
}

/** Label/value rows for a trace's own fields. */
export function FieldList({ rows }: { rows: [string, ReactNode][] }) {
  return (
    <dl className="grid grid-cols-[minmax(120px,auto)_1fr] gap-x-4 gap-y-1 text-sm">
      {rows.map(([k, v]) => (
        <div key={k} className="contents">
          <dt className="text-muted">{k}</dt>
          <dd className="min-w-0 break-words">{v}</dd>
        </div>
      ))}
    </dl>
  );
}

function money(v: string | null | undefined): string | null {
  if (v === null || v === undefined) return null;
  const n = Number(v);
  if (!Number.isFinite(n)) return v;
  const sign = n > 0 ? "+" : n < 0 ? "−" : "";
  return `${sign}$${Math.abs(n).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/**
 * A by-id read answered 404 for this bot: names the id that was asked for, what the server
 * said (code) and the request's trace id. `detail` says what that means here.
 */
export function NotFoundForBot({ what, id, detail, error }: { what: string; id: string; detail?: string; error: ApiError }) {
  return (
    <span className="inline-flex flex-wrap items-center gap-x-2 gap-y-1" data-testid="not-found-for-bot">
      <span>
        {what} <span className="font-mono">{id}</span> not found for this bot.
      </span>
      {detail && <span className="text-muted">{detail}</span>}
      <span className="font-mono text-xs">{error.code}</span>
      <TraceId id={error.traceId} short />
    </span>
  );
}

/** The trade a decision opened or closed (decision_traces.trade_log_id), read by its id. */
export function LinkedTrade({ botId, tradeId }: { botId: string; tradeId: string | null | undefined }) {
  const q = useQuery({ ...tradeQuery(botId, tradeId ?? ""), enabled: Boolean(tradeId) });
  if (!tradeId) {
    return <span className="text-muted">none — no fill booked for this decision (yet)</span>;
  }
  const id = <span className="font-mono text-xs" title={tradeId}>{tradeId}</span>;
  if (q.isPending) return <span className="text-muted">{id} · loading trade…</span>;
  if (q.isError) {
    return (
      <div className="flex flex-col gap-1">
        {id}
        <QueryError error={q.error} />
      </div>
    );
  }
  if (q.data.found === null) {
    return <NotFoundForBot what="Trade" id={tradeId} detail="The decision names a trade that is not one of this bot's." error={q.data.notFound} />;
  }
  const t = q.data.found;
  const pnl = money(t.realized_pnl);
  return (
    <div className="flex flex-col gap-0.5" data-testid="linked-trade">
      <div className="flex flex-wrap items-center gap-2">
        {id}
        <Badge tone={t.side === "LONG" ? "info" : "warn"}>{t.side}</Badge>
        <span>
          {t.quantity} {t.symbol} @ <span className="font-mono">{t.entry_price}</span>
          {t.exit_price ? (
            <>
              {" → "}
              <span className="font-mono">{t.exit_price}</span>
            </>
          ) : null}
        </span>
        {pnl ? (
          <span className={cn("font-mono", Number(t.realized_pnl) > 0 ? "text-ok" : Number(t.realized_pnl) < 0 ? "text-bad" : "")}>
            PnL {pnl}
          </span>
        ) : (
          <span className="text-muted">PnL not realized yet</span>
        )}
      </div>
      <span className="text-xs text-muted">
        opened {formatTime(t.opened_at)} · {t.closed_at ? `closed ${formatTime(t.closed_at)}` : "open"} · commission ${t.commission}
      </span>
    </div>
  );
}

/** Copies a deep link to the clipboard (falls back to a selection copy). */
export function CopyLinkButton({ href, label }: { href: string; label: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    await copyText(href);
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  return (
    <Button size="sm" variant="ghost" onClick={copy} aria-label={label} title={href} data-href={href}>
      {copied ? <Check size={12} aria-hidden /> : <Link2 size={12} aria-hidden />}
      {copied ? "Copied" : "Link"}
    </Button>
  );
}
