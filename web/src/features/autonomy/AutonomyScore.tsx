// The autonomy component: score, tier, when it was computed, the five sub-scores with their
// evidence, every gate with pass/fail, evidence and fix, and "Recompute" for operators. Polled
// fast so a tier drop (a breaker opening) shows within seconds.
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Check, RefreshCw, TrendingDown, TrendingUp, X } from "lucide-react";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { useActionGate } from "../../lib/health";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { cn } from "../../lib/cn";
import { hasRole, useMe } from "../../queries/auth";
import {
  AUTONOMY_SCORE_PATH,
  autonomyScoreQuery,
  gateLabel,
  parseBreakdown,
  SUB_SCORES,
  tierRank,
  useRecomputeAutonomy,
  type AutonomyScoreRow,
  type GateView,
  type SubScoreView,
  type ThresholdView,
} from "../../queries/autonomy";
import { KeyValueTable, RawJson, Scalar } from "../bots/traces/KeyValue";
import { TierBadge, tierTone } from "./TierBadge";

/** The compact form for lists: score and tier ("unscored" when the bot was never scored). */
export function AutonomyCompact({ score, tier }: { score: number | null | undefined; tier: string | null | undefined }) {
  if (score == null && !tier) {
    return (
      <Badge tone="neutral" title="Not scored yet: the bot counts as LOCKED until the scorer scores it">
        unscored
      </Badge>
    );
  }
  return (
    <span className="inline-flex items-center gap-1.5" data-testid="autonomy-compact">
      <span className="font-mono text-sm tabular-nums" title="Autonomy score (0–100)">
        {score ?? "—"}
      </span>
      {tier ? <TierBadge tier={tier} /> : <Badge tone="neutral">tier unknown</Badge>}
    </span>
  );
}

function Bar({ value, max = 100, tone, label }: { value: number; max?: number; tone: string; label: string }) {
  const pct = Math.max(0, Math.min(100, (value / max) * 100));
  return (
    <div
      role="meter"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={max}
      aria-valuenow={value}
      className="h-2 w-full overflow-hidden rounded-full bg-surface-2"
    >
      <div className={cn("h-full rounded-full", tone)} style={{ width: `${pct}%` }} />
    </div>
  );
}

function barTone(score: number): string {
  if (score >= 85) return "bg-ok";
  if (score >= 70) return "bg-info";
  if (score >= 40) return "bg-warn";
  return "bg-bad";
}

/** The 0–100 scale with the score and each tier's threshold from the breakdown. */
function ScoreScale({ score, thresholds }: { score: number; thresholds: ThresholdView[] }) {
  return (
    <div className="flex flex-col gap-1">
      <div className="relative">
        <Bar value={score} label="Autonomy score" tone={barTone(score)} />
        {thresholds.map((t) => (
          <span
            key={t.tier}
            aria-hidden
            className="absolute top-[-2px] h-3 w-px bg-fg/60"
            style={{ left: `${t.minScore}%` }}
            title={`${t.tier} from ${t.minScore}`}
          />
        ))}
      </div>
      {thresholds.length > 0 && (
        <p className="text-xs text-muted">
          Tier thresholds (the tiers above LOCKED also need their gates):{" "}
          {thresholds.map((t, i) => (
            <span key={t.tier}>
              <span className="font-mono">{t.tier}</span> ≥ {t.minScore}
              {i < thresholds.length - 1 ? " · " : ""}
            </span>
          ))}
        </p>
      )}
    </div>
  );
}

/** Flat evidence as compact `key value` pairs; anything nested as a key/value table. */
function EvidenceInline({ evidence }: { evidence: Record<string, unknown> | null }) {
  if (!evidence || Object.keys(evidence).length === 0) return <span className="text-xs text-muted italic">no evidence recorded</span>;
  const flat = Object.values(evidence).every((v) => v === null || typeof v !== "object");
  if (!flat) return <KeyValueTable data={evidence} depth={1} />;
  return (
    <dl className="flex flex-wrap gap-x-3 gap-y-0.5 text-xs">
      {Object.entries(evidence).map(([k, v]) => (
        <div key={k} className="flex gap-1">
          <dt className="font-mono text-muted">{k}</dt>
          <dd>
            <Scalar value={v} />
          </dd>
        </div>
      ))}
    </dl>
  );
}

function SubScoreRow({ label, column, sub }: { label: string; column: number; sub: SubScoreView | undefined }) {
  return (
    <li className="flex flex-col gap-1.5 rounded-md border border-line p-3" data-testid={`subscore-${sub?.name ?? label}`}>
      <div className="flex items-baseline gap-2">
        <span className="text-sm font-medium">{label}</span>
        <span className="ml-auto font-mono text-sm tabular-nums">
          {column} <span className="text-muted">/ 100</span>
        </span>
      </div>
      <Bar value={column} label={label} tone={barTone(column)} />
      {sub?.note ? <p className="text-xs text-warn">{sub.note}</p> : null}
      {sub ? (
        <details className="text-xs">
          <summary className="cursor-pointer text-muted hover:text-fg">Evidence</summary>
          <div className="mt-1.5">
            <EvidenceInline evidence={sub.evidence} />
          </div>
        </details>
      ) : (
        <p className="text-xs text-muted italic">The stored breakdown has no evidence for this sub-score.</p>
      )}
    </li>
  );
}

function GateTable({ gates }: { gates: GateView[] }) {
  if (gates.length === 0) return <p className="text-sm text-muted">The stored breakdown lists no gates.</p>;
  return (
    <table className="tp-table text-sm" aria-label="Autonomy gates">
      <thead>
        <tr>
          <th scope="col">Gate</th>
          <th scope="col">Result</th>
          <th scope="col">Evidence</th>
          <th scope="col">Fix</th>
        </tr>
      </thead>
      <tbody>
        {gates.map((g) => (
          <tr key={g.gate} data-gate={g.gate} data-passed={g.passed} className={g.passed ? undefined : "bg-bad/5"}>
            <td>
              <div className="font-medium">{gateLabel(g.gate)}</div>
              <div className="font-mono text-xs text-muted">{g.gate}</div>
            </td>
            <td>
              {g.passed ? (
                <Badge tone="ok">
                  <Check size={12} aria-hidden /> pass
                </Badge>
              ) : (
                <Badge tone="bad">
                  <X size={12} aria-hidden /> fail
                </Badge>
              )}
            </td>
            <td className="min-w-[180px]">
              <EvidenceInline evidence={g.evidence} />
            </td>
            <td className={cn("text-xs", g.passed ? "text-muted" : "text-fg")}>{g.fix ?? <span className="italic">no fix recorded</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const TEXT_TONE = { ok: "text-ok", warn: "text-warn", bad: "text-bad", info: "text-info", neutral: "text-muted" } as const;

interface TierChange {
  from: string;
  to: string;
  at: number;
}

/** Remembers the tier seen on the previous poll and reports a change, timed by the poll that saw it. */
function useTierChange(tier: string | null, observedAt: number): TierChange | null {
  const [seen, setSeen] = useState<string | null>(tier);
  const [change, setChange] = useState<TierChange | null>(null);
  if (tier !== null && tier !== seen) {
    if (seen !== null) setChange({ from: seen, to: tier, at: observedAt });
    setSeen(tier);
  }
  return change;
}

function Scored({ row, now }: { row: AutonomyScoreRow; now: number }) {
  const b = parseBreakdown(row.breakdown);
  const computed = parseTime(row.last_updated_at);
  const failing = b.gates.filter((g) => !g.passed);
  return (
    <div className="flex flex-col gap-5">
      <div className="flex flex-wrap items-end gap-x-6 gap-y-2">
        <div className="flex items-baseline gap-1" data-testid="autonomy-score-value">
          <span className="text-4xl font-semibold tabular-nums">{row.autonomy_score}</span>
          <span className="text-muted">/ 100</span>
        </div>
        <div className="flex flex-col gap-1">
          <span className="text-xs text-muted">Tier</span>
          <span data-testid="autonomy-tier">
            <TierBadge tier={row.autonomy_tier} />
          </span>
        </div>
        <div className="flex flex-col gap-1">
          <span className="text-xs text-muted">Computed</span>
          <span className="text-sm" title={row.last_updated_at}>
            <span className="font-mono">{formatTime(row.last_updated_at)}</span>
            {computed !== null && <span className="text-muted"> · {ago(computed, now)}</span>}
          </span>
        </div>
        <div className="flex flex-col gap-1">
          <span className="text-xs text-muted">Gates</span>
          <span className="text-sm">
            {b.gates.length - failing.length} of {b.gates.length} pass
            {failing.length > 0 && (
              <>
                {" · "}
                <span className="text-bad">first failing: {gateLabel(failing[0]!.gate)}</span>
              </>
            )}
          </span>
        </div>
      </div>
      <ScoreScale score={row.autonomy_score} thresholds={b.thresholds} />

      <section className="flex flex-col gap-2">
        <h3 className="text-xs font-semibold tracking-wide text-muted uppercase">Sub-scores (the score is their average)</h3>
        <ul className="grid grid-cols-1 gap-3 md:grid-cols-2 xl:grid-cols-3">
          {SUB_SCORES.map((s) => (
            <SubScoreRow key={s.name} label={s.label} column={row[s.column]} sub={b.subScores.find((x) => x.name === s.name)} />
          ))}
        </ul>
      </section>

      <section className="flex flex-col gap-2">
        <h3 className="text-xs font-semibold tracking-wide text-muted uppercase">Gates</h3>
        <div className="relative overflow-x-auto" tabIndex={0}>
          <GateTable gates={b.gates} />
        </div>
      </section>
      <RawJson value={row} label="Raw score JSON" />
    </div>
  );
}

/** The full autonomy component: score, tier, five sub-scores, every gate with evidence and fix. */
export function AutonomyScore({ botId }: { botId: string }) {
  const now = useNow(1000);
  const q = useQuery(autonomyScoreQuery(botId));
  const me = useMe();
  const recompute = useRecomputeAutonomy(botId);
  const gate = useActionGate([AUTONOMY_SCORE_PATH]);
  const row = q.data?.autonomy_score ?? null;
  const change = useTierChange(row?.autonomy_tier ?? null, q.dataUpdatedAt);

  const role = me.data?.user.role;
  const disabledReason = me.isPending
    ? "Checking your role…"
    : !hasRole(role, "operator")
      ? `Recomputing needs the operator role (you are ${role ?? "not signed in"})`
      : gate;

  const action = (
    <Button size="sm" onClick={() => recompute.mutate()} disabledReason={disabledReason} disabled={recompute.isPending}>
      <RefreshCw size={12} aria-hidden className={recompute.isPending ? "animate-spin" : undefined} />
      {recompute.isPending ? "Recomputing…" : "Recompute"}
    </Button>
  );

  const dropped = change ? tierRank(change.to) < tierRank(change.from) : false;
  return (
    <Card title="Autonomy" status={<PanelStatus query={q} />} actions={action}>
      <div className="flex flex-col gap-4" data-testid="autonomy-score">
        <div aria-live="polite">
          {change && (
            <p
              className={cn(
                "flex items-center gap-2 rounded-md border px-3 py-2 text-sm",
                dropped ? "border-bad/40 bg-bad/10" : "border-ok/40 bg-ok/10",
              )}
              data-testid="tier-change"
            >
              {dropped ? <TrendingDown size={14} className="text-bad" aria-hidden /> : <TrendingUp size={14} className="text-ok" aria-hidden />}
              Tier {dropped ? "dropped" : "rose"} from <span className="font-mono">{change.from}</span> to{" "}
              <span className={cn("font-mono", TEXT_TONE[tierTone(change.to)])}>{change.to}</span> ({ago(change.at, now)})
            </p>
          )}
        </div>
        {recompute.isError && <QueryError error={recompute.error} />}
        {q.isError && <QueryError error={q.error} />}
        {q.isPending ? (
          <p className="text-sm text-muted">Loading the autonomy score…</p>
        ) : row ? (
          <Scored row={row} now={now} />
        ) : (
          q.data && (
            <EmptyState
              title="Not scored yet"
              reason={
                <>
                  {q.data.no_score_reason ?? "The server returned no score and gave no reason."} Until it is scored the bot counts as{" "}
                  <span className="font-mono">LOCKED</span>.
                </>
              }
            />
          )
        )}
      </div>
    </Card>
  );
}
