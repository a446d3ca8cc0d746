// AI Ops from real generation calls (not verify pings): per provider and model calls, errors by
// code, latency percentiles, tokens and cost; per AI action success rate and fallbacks taken;
// today's spend against each budget with what is left.
import { Badge } from "../../components/Badge";
import { EmptyState } from "../../components/EmptyState";
import type { AiOpsSummary } from "../../queries/aiops";
import { formatCount, formatMs, formatRate } from "./format";

type Model = AiOpsSummary["models"][number];
type Action = AiOpsSummary["actions"][number];
type Budget = AiOpsSummary["budgets"][number];

const th = "py-2 pr-3 text-left font-medium";
const thr = "py-2 pr-3 text-right font-medium";
const td = "py-2 pr-3";
const tdr = "py-2 pr-3 text-right font-mono whitespace-nowrap";

function usd(v: string | null | undefined): string {
  if (v == null) return "—";
  const n = Number(v);
  return Number.isFinite(n) ? `$${n < 0.01 && n > 0 ? n.toPrecision(2) : n.toFixed(n < 10 ? 4 : 2)}` : v;
}

function Codes({ codes }: { codes: Record<string, number> }) {
  const entries = Object.entries(codes).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return <span className="text-muted">none</span>;
  return (
    <span className="flex flex-wrap gap-1">
      {entries.map(([code, n]) => (
        <Badge key={code} tone="bad">
          <span className="font-mono">{code}</span> ×{formatCount(n)}
        </Badge>
      ))}
    </span>
  );
}

export function ModelsTable({ models }: { models: Model[] }) {
  if (models.length === 0)
    return <EmptyState title="No generation calls in the window" reason="No AI action (Explain, backtest review, news classification) called an LLM in this window; verify pings are not counted here." />;
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-sm" aria-label="Generation calls per model">
        <thead className="text-xs text-muted">
          <tr>
            <th className={th}>Provider / model</th>
            <th className={thr}>Calls</th>
            <th className={thr}>OK</th>
            <th className={th}>Errors by code</th>
            <th className={thr}>p50</th>
            <th className={thr}>p95</th>
            <th className={thr}>p99</th>
            <th className={thr}>Tokens in / out</th>
            <th className={thr}>Cost</th>
          </tr>
        </thead>
        <tbody>
          {models.map((m) => (
            <tr key={`${m.provider_id}/${m.model ?? ""}`} className="border-t border-line" data-model-row={`${m.provider_id}/${m.model ?? ""}`}>
              <td className={td}>
                <span className="font-medium">{m.provider_id}</span> <span className="font-mono text-xs text-muted">{m.model ?? "(refused before a model was asked)"}</span>
              </td>
              <td className={tdr}>{formatCount(m.calls)}</td>
              <td className={tdr}>{formatCount(m.ok)}</td>
              <td className={td}>
                <Codes codes={m.errors_by_code} />
              </td>
              <td className={tdr}>{formatMs(m.latency_ms?.p50)}</td>
              <td className={tdr}>{formatMs(m.latency_ms?.p95)}</td>
              <td className={tdr}>{formatMs(m.latency_ms?.p99)}</td>
              <td className={tdr}>
                {formatCount(m.input_tokens)} / {formatCount(m.output_tokens)}
              </td>
              <td className={tdr} title={m.unpriced_calls > 0 ? `${m.unpriced_calls} successful call(s) have no price in TRADEPLANE_LLM_PRICES: their cost is unknown, not zero` : undefined}>
                {usd(m.cost_usd)}
                {m.unpriced_calls > 0 && <span className="block text-xs text-warn">{formatCount(m.unpriced_calls)} unpriced</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ActionsTable({ actions }: { actions: Action[] }) {
  if (actions.length === 0) return <EmptyState title="No AI action in the window" reason="Nobody asked for Explain or a backtest review, and no news was classified, in this window." />;
  return (
    <table className="w-full text-sm" aria-label="AI actions">
      <thead className="text-xs text-muted">
        <tr>
          <th className={th}>Action</th>
          <th className={thr}>Calls</th>
          <th className={thr}>Answered</th>
          <th className={thr}>Success rate</th>
          <th className={thr}>Fallbacks taken</th>
        </tr>
      </thead>
      <tbody>
        {actions.map((a) => (
          <tr key={a.action} className="border-t border-line" data-action-row={a.action}>
            <td className={`${td} font-mono`}>{a.action}</td>
            <td className={tdr}>{formatCount(a.calls)}</td>
            <td className={tdr}>{formatCount(a.ok)}</td>
            <td className={tdr}>{formatRate(a.success_rate)}</td>
            <td className={tdr} title="Answered by a provider other than the first one tried">
              {formatCount(a.fallbacks)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function BudgetsTable({ budgets }: { budgets: Budget[] }) {
  return (
    <table className="w-full text-sm" aria-label="Budgets today">
      <thead className="text-xs text-muted">
        <tr>
          <th className={th}>Scope</th>
          <th className={thr}>Tokens spent</th>
          <th className={thr}>Tokens left</th>
          <th className={thr}>Cost spent</th>
          <th className={thr}>Cost left</th>
        </tr>
      </thead>
      <tbody>
        {budgets.map((b) => (
          <tr key={b.scope} className="border-t border-line" data-budget-row={b.scope}>
            <td className={`${td} font-medium`}>{b.scope}</td>
            <td className={tdr}>{formatCount(b.spent.tokens)}</td>
            <td className={tdr}>{b.tokens_left == null ? <span className="text-muted">no limit</span> : `${formatCount(b.tokens_left)} of ${formatCount(b.tokens_per_day ?? 0)}`}</td>
            <td className={tdr}>{usd(b.spent.cost)}</td>
            <td className={tdr}>{b.cost_left == null ? <span className="text-muted">no limit</span> : `${usd(b.cost_left)} of ${usd(b.cost_per_day)}`}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
