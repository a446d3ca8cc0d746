// The bot's trades (round trips), newest first: GET /api/bots/{id}/trades; "Export CSV" downloads all.
import { useQuery } from "@tanstack/react-query";
import { Badge } from "../../components/Badge";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { formatTime } from "../../lib/time";
import { tradesQuery } from "../../queries/bots";
import { dec, pnlClass, price, usd } from "./format";
import { Pager, useCursor } from "./Pager";
import { ExportTradesCsv } from "./ExportTradesCsv";

export function TradesTable({ botId, botName }: { botId: string; botName: string }) {
  const paging = useCursor();
  const query = useQuery(tradesQuery(botId, paging.cursor));
  const items = query.data?.items ?? [];
  return (
    <Card title="Trades" status={<PanelStatus query={query} />} actions={<ExportTradesCsv botId={botId} botName={botName} />}>
      {query.isError && <div className="mb-3"><QueryError error={query.error} /></div>}
      {query.isPending && <p className="text-sm text-muted">Loading trades…</p>}
      {query.data && items.length === 0 && (
        <EmptyState title="No trades yet" reason="A trade is opened by the bot's first fill; this bot has never been filled." />
      )}
      {items.length > 0 && (
        <div className="relative overflow-x-auto" tabIndex={0}>
          <table className="tp-table" aria-label="Trades">
            <thead>
              <tr>
                <th>Opened</th>
                <th>Side</th>
                <th>Qty</th>
                <th>Entry</th>
                <th>Exit</th>
                <th>Realized (gross)</th>
                <th>Commission</th>
                <th>Net</th>
                <th>Closed</th>
                <th>Stage</th>
              </tr>
            </thead>
            <tbody>
              {items.map((t) => {
                const gross = dec(t.realized_pnl);
                const commission = dec(t.commission);
                const net = gross !== null && commission !== null ? gross - commission : null;
                return (
                  <tr key={t.id}>
                    <td className="whitespace-nowrap">{formatTime(t.opened_at)}</td>
                    <td><Badge tone={t.side === "LONG" ? "ok" : "bad"}>{t.side}</Badge></td>
                    <td className="tabular-nums">{t.quantity}</td>
                    <td className="font-mono">{price(t.entry_price)}</td>
                    <td className="font-mono">{t.exit_price ? price(t.exit_price) : "—"}</td>
                    <td className={`tabular-nums ${pnlClass(gross)}`}>{gross === null ? <span className="text-muted">not yet</span> : usd(gross)}</td>
                    <td className="tabular-nums">{commission === null ? "—" : usd(-commission)}</td>
                    <td className={`tabular-nums ${pnlClass(net)}`}>{net === null ? <span className="text-muted">—</span> : usd(net)}</td>
                    <td className="whitespace-nowrap">{t.closed_at ? formatTime(t.closed_at) : <Badge tone="info">open</Badge>}</td>
                    <td>{t.stage}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <Pager label="Trades" first={paging.first} nextCursor={query.data?.next_cursor} onNext={paging.next} onPrevious={paging.previous} />
    </Card>
  );
}
