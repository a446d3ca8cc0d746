// The bot's backtests (GET /api/backtests?bot_id=), newest first: what was tested, how it ended,
// its net PnL and trades, each opening its result in the Strategy Lab. Progress is polled while
// one is queued or running.
import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { Badge, type Tone } from "../../components/Badge";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { formatTime } from "../../lib/time";
import { backtestsQuery, type JobStatus } from "../../queries/lab";
import { dec, pnlClass, usd } from "./format";

const TONE: Record<JobStatus, Tone> = { QUEUED: "neutral", RUNNING: "info", SUCCEEDED: "ok", FAILED: "bad", TIMEOUT: "bad", CANCELLED: "neutral" };

function netOf(metrics: unknown): { net: number | null; raw: string | null; trades: number | null } {
  if (!metrics || typeof metrics !== "object") return { net: null, raw: null, trades: null };
  const m = metrics as { net_pnl?: unknown; trades?: unknown };
  const raw = typeof m.net_pnl === "string" ? m.net_pnl : null;
  return { net: dec(raw), raw, trades: typeof m.trades === "number" ? m.trades : null };
}

export function BotBacktests({ botId }: { botId: string }) {
  const query = useQuery(backtestsQuery({ botId, limit: 20 }));
  const items = query.data?.items ?? [];
  return (
    <Card
      title="Backtests"
      status={<PanelStatus query={query} />}
      actions={
        <Link to="/lab" search={{ bot: botId }} className="text-sm text-accent hover:underline">
          Backtest this bot
        </Link>
      }
    >
      {query.isError && <QueryError error={query.error} />}
      {query.isPending && <p className="text-sm text-muted">Loading backtests…</p>}
      {query.data && items.length === 0 && <EmptyState title="No backtests of this bot" reason="Run one in the Strategy Lab (New backtest → a bot as it is now), or create a bot from a backtest's result." />}
      {items.length > 0 && (
        <table className="tp-table" aria-label="Bot backtests">
          <thead>
            <tr>
              <th>Created</th>
              <th>Range (UTC)</th>
              <th>Strategy</th>
              <th>State</th>
              <th>Net PnL</th>
              <th>Trades</th>
            </tr>
          </thead>
          <tbody>
            {items.map((b) => {
              const m = netOf(b.metrics);
              return (
                <tr key={b.id} data-testid={`bot-backtest-${b.id}`}>
                  <td className="whitespace-nowrap">
                    <Link to="/lab/backtests/$backtestId" params={{ backtestId: b.id }} className="text-accent hover:underline">
                      {formatTime(b.created_at)}
                    </Link>
                  </td>
                  <td className="whitespace-nowrap">
                    {b.from.slice(0, 10)} → {b.to.slice(0, 10)}
                  </td>
                  <td className="font-mono text-xs">{b.strategy_kind}</td>
                  <td>
                    <Badge tone={TONE[b.status]}>{b.status}</Badge>
                    {(b.status === "QUEUED" || b.status === "RUNNING") && <span className="ml-1 text-xs tabular-nums">{b.progress_pct}%</span>}
                  </td>
                  <td className={`tabular-nums ${pnlClass(m.net)}`} title={m.raw ? `${m.raw} USD` : "No result"}>
                    {m.net === null ? "—" : usd(m.net)}
                  </td>
                  <td className="tabular-nums">{m.trades ?? "—"}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Card>
  );
}
