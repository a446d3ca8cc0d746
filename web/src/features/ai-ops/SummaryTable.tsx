import { Badge } from "../../components/Badge";
import { formatTime } from "../../lib/time";
import type { AiOpsTotals, ProviderAiOps } from "../../queries/aiops";
import { formatCount, formatMs, formatRate } from "./format";

function ErrorCodes({ codes }: { codes: Record<string, number> }) {
  const entries = Object.entries(codes).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return <span className="text-muted">none</span>;
  return (
    <span className="flex flex-wrap gap-1">
      {entries.map(([code, n]) => (
        <Badge key={code} tone="bad" title={`${n} error${n === 1 ? "" : "s"} with code ${code}`}>
          <span className="font-mono">{code}</span> ×{formatCount(n)}
        </Badge>
      ))}
    </span>
  );
}

/** Latency cells; "not measured" when calls happened but none reached the vendor. */
function Latency({ row }: { row: ProviderAiOps | AiOpsTotals }) {
  if (row.latency_ms) {
    return (
      <>
        <td className="py-2 pr-3 text-right font-mono whitespace-nowrap">{formatMs(row.latency_ms.p50)}</td>
        <td className="py-2 pr-3 text-right font-mono whitespace-nowrap">{formatMs(row.latency_ms.p95)}</td>
        <td className="py-2 pr-3 text-right font-mono whitespace-nowrap">{formatMs(row.latency_ms.p99)}</td>
      </>
    );
  }
  return (
    <td colSpan={3} className="py-2 pr-3 text-center text-xs text-muted">
      not measured: no call reached the vendor (breaker refusals are not timed)
    </td>
  );
}

/** One row per LLM provider in registry order; a row without data says why instead of zeros. */
export function SummaryTable({ providers, totals }: { providers: ProviderAiOps[]; totals: AiOpsTotals }) {
  return (
    <div className="relative overflow-x-auto" tabIndex={0}>
      <table className="w-full text-left text-sm">
        <thead className="text-xs text-muted">
          <tr className="border-b border-line">
            <th className="py-2 pr-3 font-medium">Provider</th>
            <th className="py-2 pr-3 text-right font-medium whitespace-nowrap">Calls</th>
            <th className="py-2 pr-3 text-right font-medium whitespace-nowrap">Errors</th>
            <th className="py-2 pr-3 text-right font-medium whitespace-nowrap">Error rate</th>
            <th className="py-2 pr-3 text-right font-medium whitespace-nowrap">p50</th>
            <th className="py-2 pr-3 text-right font-medium whitespace-nowrap">p95</th>
            <th className="py-2 pr-3 text-right font-medium whitespace-nowrap">p99</th>
            <th className="py-2 pr-3 font-medium">Errors by code</th>
            <th className="py-2 pr-3 font-medium">Last call</th>
            <th className="py-2 font-medium">Last success</th>
          </tr>
        </thead>
        <tbody>
          {providers.map((p) => (
            <tr key={p.provider_id} className="border-b border-line/60 align-top" data-testid="provider-row" data-provider={p.provider_id}>
              <td className="py-2 pr-3">
                <div className="flex flex-wrap items-center gap-2">
                  <span className="font-medium">{p.label}</span>
                  {p.configured ? <Badge tone="info">configured</Badge> : <Badge tone="neutral">not configured</Badge>}
                </div>
              </td>
              {p.no_data_reason ? (
                <td colSpan={9} className="py-2 pr-3 text-sm text-muted" data-testid="no-data-reason">
                  No data: {p.no_data_reason}
                  {p.last_used_at && <span> — last successful call {formatTime(p.last_used_at)}</span>}
                </td>
              ) : (
                <>
                  <td className="py-2 pr-3 text-right font-mono whitespace-nowrap">{formatCount(p.calls)}</td>
                  <td className={`py-2 pr-3 text-right font-mono whitespace-nowrap ${p.errors > 0 ? "text-bad" : ""}`}>{formatCount(p.errors)}</td>
                  <td className="py-2 pr-3 text-right font-mono whitespace-nowrap">{formatRate(p.error_rate)}</td>
                  <Latency row={p} />
                  <td className="py-2 pr-3"><ErrorCodes codes={p.errors_by_code} /></td>
                  <td className="py-2 pr-3 whitespace-nowrap">{p.last_call_at ? formatTime(p.last_call_at) : "—"}</td>
                </>
              )}
              {!p.no_data_reason && (
                <td className="py-2 whitespace-nowrap">{p.last_used_at ? formatTime(p.last_used_at) : <span className="text-muted">never</span>}</td>
              )}
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr className="font-medium" data-testid="totals-row">
            <td className="py-2 pr-3">All LLM providers</td>
            {totals.no_data_reason ? (
              <td colSpan={9} className="py-2 pr-3 text-sm font-normal text-muted">No data: {totals.no_data_reason}</td>
            ) : (
              <>
                <td className="py-2 pr-3 text-right font-mono whitespace-nowrap">{formatCount(totals.calls)}</td>
                <td className={`py-2 pr-3 text-right font-mono whitespace-nowrap ${totals.errors > 0 ? "text-bad" : ""}`}>{formatCount(totals.errors)}</td>
                <td className="py-2 pr-3 text-right font-mono whitespace-nowrap">{formatRate(totals.error_rate)}</td>
                <Latency row={totals} />
                <td className="py-2 pr-3"><ErrorCodes codes={totals.errors_by_code} /></td>
                <td className="py-2 pr-3 whitespace-nowrap">{totals.last_call_at ? formatTime(totals.last_call_at) : "—"}</td>
                <td />
              </>
            )}
          </tr>
        </tfoot>
      </table>
    </div>
  );
}
