// One trace, collapsed to a summary line; its toggle (a real button with aria-expanded) opens
// every field: readable tables, the blocking gates or linked trade, and the raw JSON.
import type { ReactNode, Ref } from "react";
import { ChevronRight, Link as LinkIcon } from "lucide-react";
import { Badge, type Tone } from "../../../components/Badge";
import { TraceId } from "../../../components/TraceId";
import { ago, formatTime, parseTime } from "../../../lib/time";
import { cn } from "../../../lib/cn";
import { isNoTrade, type DecisionTrace, type NoTradeTrace, type Trace, type TraceBlocker } from "../../../queries/traces";
import { KeyValueTable, RawJson } from "./KeyValue";
import { BlockerList, CopyLinkButton, FieldList, LinkedTrade, Section } from "./parts";

export function decisionTone(type: string): Tone {
  if (type === "ENTRY") return "info";
  if (type === "EXIT") return "ok";
  return "neutral";
}

/** `blocked_by` as stored (the schema says a list of gates; anything else shows as none). */
export function blockersOf(t: NoTradeTrace): TraceBlocker[] {
  return Array.isArray(t.blocked_by) ? t.blocked_by : [];
}

function When({ iso, now }: { iso: string; now: number }) {
  const t = parseTime(iso);
  return (
    <span className="whitespace-nowrap" title={iso}>
      <span className="font-mono">{formatTime(iso)}</span>
      {t !== null && <span className="text-muted"> · {ago(t, now)}</span>}
    </span>
  );
}

/** A number for a summary line (4 significant digits; the exact value is in the details). */
function short(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(4)));
}

function confidenceText(c: number): string {
  return `${c} (${Math.round(c * 100)}%)`;
}

function DecisionSummary({ t }: { t: DecisionTrace }) {
  return (
    <>
      <Badge tone={decisionTone(t.decision_type)}>{t.decision_type}</Badge>
      <span className="font-mono text-xs">{t.reason_code}</span>
      <span className="min-w-0 flex-1 truncate">{t.reason_human}</span>
      <span className="text-xs whitespace-nowrap text-muted">
        conf <span className="font-mono text-fg">{Math.round(t.confidence * 100)}%</span> · EV{" "}
        <span className="font-mono text-fg" title={`Expected value ${t.expected_value} ticks (as the engine records it)`}>
          {short(t.expected_value)}
        </span>{" "}
        ticks
      </span>
      {t.trade_log_id && (
        <span title="Linked to a trade" className="text-accent">
          <LinkIcon size={12} aria-label="linked trade" />
        </span>
      )}
    </>
  );
}

function NoTradeSummary({ t }: { t: NoTradeTrace }) {
  const blockers = blockersOf(t);
  return (
    <>
      <Badge tone="warn">{t.suppression_type}</Badge>
      <span className="font-mono text-xs">{t.reason_code}</span>
      <span className="min-w-0 flex-1 truncate">{t.reason_human}</span>
      {t.count > 1 && (
        <Badge tone="neutral" title={`${t.count} consecutive identical evaluations folded into this row`}>
          ×{t.count}
        </Badge>
      )}
      <span className="text-xs whitespace-nowrap text-muted">
        {blockers.length} gate{blockers.length === 1 ? "" : "s"}
      </span>
    </>
  );
}

function DecisionBody({ t, botId, now }: { t: DecisionTrace; botId: string; now: number }) {
  return (
    <>
      <FieldList
        rows={[
          ["Decision", <Badge key="d" tone={decisionTone(t.decision_type)}>{t.decision_type}</Badge>],
          ["Reason", t.reason_human],
          ["Reason code", <span key="c" className="font-mono">{t.reason_code}</span>],
          ["Confidence", <span key="c" className="font-mono">{confidenceText(t.confidence)}</span>],
          ["Expected value", <span key="e" className="font-mono">{t.expected_value} ticks</span>],
          ["Recorded", <When key="w" iso={t.created_at} now={now} />],
          ["Linked trade", <LinkedTrade key="t" botId={botId} tradeId={t.trade_log_id} />],
          ["Run", t.run_id ? <span key="r" className="font-mono text-xs">{t.run_id}</span> : <span key="r" className="text-muted">none</span>],
          ["Node", <NodeOf key="n" node={t.node_id} epoch={t.lease_epoch} />],
          ["Trace row", <span key="i" className="font-mono text-xs">{t.id}</span>],
          ["Trace id", <TraceId key="tid" id={t.trace_id} />],
        ]}
      />
      <Section title="Signals">
        <KeyValueTable data={t.signals} label="Signals" emptyText="no signals recorded" />
      </Section>
      <Section title="Variables snapshot">
        <KeyValueTable data={t.variables_snapshot} label="Variables snapshot" emptyText="no variables recorded" />
      </Section>
      <Section title="Risk snapshot">
        <KeyValueTable data={t.risk_snapshot} label="Risk snapshot" emptyText="no risk snapshot recorded" />
      </Section>
    </>
  );
}

/** The node whose runner wrote the trace, with its lease epoch (none: posted through the API). */
function NodeOf({ node, epoch }: { node?: string | null; epoch?: number | null }) {
  if (!node) return <span className="text-muted">none</span>;
  return (
    <span className="font-mono text-xs">
      {node}
      {epoch != null && <span className="text-muted"> · epoch {epoch}</span>}
    </span>
  );
}

function NoTradeBody({ t, now }: { t: NoTradeTrace; now: number }) {
  return (
    <>
      <FieldList
        rows={[
          ["Suppression", <Badge key="s" tone="warn">{t.suppression_type}</Badge>],
          ["Would have", <span key="d" className="font-mono">{t.suppression_decision}</span>],
          ["Reason", t.reason_human],
          ["Reason code", <span key="c" className="font-mono">{t.reason_code}</span>],
          ["First seen", <When key="f" iso={t.created_at} now={now} />],
          ["Last seen", <When key="l" iso={t.last_seen_at} now={now} />],
          ["Evaluations", <span key="n" className="font-mono">{t.count}</span>],
          ["Run", t.run_id ? <span key="r" className="font-mono text-xs">{t.run_id}</span> : <span key="r" className="text-muted">none</span>],
          ["Node", <NodeOf key="n" node={t.node_id} epoch={t.lease_epoch} />],
          ["Trace row", <span key="i" className="font-mono text-xs">{t.id}</span>],
          ["Trace id", <TraceId key="tid" id={t.trace_id} />],
        ]}
      />
      <Section title="Blocking gates">
        <BlockerList blockers={blockersOf(t)} />
      </Section>
      <Section title="Signals">
        <KeyValueTable data={t.signals} label="Signals" emptyText="no signals recorded" />
      </Section>
      <Section title="Variables snapshot">
        <KeyValueTable data={t.variables_snapshot} label="Variables snapshot" emptyText="no variables recorded" />
      </Section>
    </>
  );
}

/** A trace row: summary line + toggle; expanded, every field. `href` is its deep link. */
export function TraceCard({ trace: t, botId, expanded, onToggle, highlighted, href, now, badge, ref }: {
  trace: Trace;
  botId: string;
  expanded: boolean;
  onToggle: () => void;
  highlighted?: boolean;
  href: string;
  now: number;
  badge?: ReactNode;
  ref?: Ref<HTMLLIElement>;
}) {
  const bodyId = `trace-body-${t.id}`;
  const noTrade = isNoTrade(t);
  return (
    <li
      ref={ref}
      id={`trace-${t.id}`}
      data-trace-row={t.id}
      data-highlighted={highlighted ? "true" : undefined}
      className={cn(
        "scroll-mt-16 rounded-md border bg-surface transition-colors",
        highlighted ? "border-accent ring-2 ring-accent/40" : "border-line",
      )}
    >
      <div className="flex flex-wrap items-center gap-2 px-2 py-1.5">
        <button
          type="button"
          aria-expanded={expanded}
          aria-controls={bodyId}
          onClick={onToggle}
          className="flex min-w-0 flex-1 flex-wrap items-center gap-x-2 gap-y-0.5 rounded px-1 py-0.5 text-left text-sm hover:bg-surface-2"
        >
          <ChevronRight size={14} aria-hidden className={cn("shrink-0 text-muted transition-transform", expanded && "rotate-90")} />
          <span className="shrink-0 font-mono text-xs text-muted" title={t.created_at}>
            {formatTime(t.created_at)}
          </span>
          {noTrade ? <NoTradeSummary t={t} /> : <DecisionSummary t={t} />}
        </button>
        {badge}
        <TraceId id={t.trace_id} short />
      </div>
      {expanded && (
        <div id={bodyId} className="flex flex-col gap-4 border-t border-line px-4 py-3">
          {noTrade ? <NoTradeBody t={t} now={now} /> : <DecisionBody t={t} botId={botId} now={now} />}
          <div className="flex flex-wrap items-center gap-2">
            <RawJson value={t} />
            <CopyLinkButton href={href} label={`Copy link to trace ${t.id}`} />
          </div>
        </div>
      )}
    </li>
  );
}
