// The bot's orders, newest first: GET /api/bots/{id}/orders. Each links to the decision trace
// that placed it (?panel=traces&tab=decision&trace=<id>).
import { Link } from "@tanstack/react-router";
import { useQuery } from "@tanstack/react-query";
import { Badge, type Tone } from "../../components/Badge";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { formatTime } from "../../lib/time";
import { ordersQuery } from "../../queries/bots";
import { price } from "./format";
import { Pager, useCursor } from "./Pager";
import { ExportCsvButton } from "../../components/ExportCsvButton";
import { api, unwrap } from "../../api/client";

const ORDER_TONE: Record<string, Tone> = {
  NEW: "info",
  WORKING: "info",
  PARTIALLY_FILLED: "info",
  RECORDED: "neutral",
  FILLED: "ok",
  CANCELLED: "neutral",
  REJECTED: "bad",
};

export function OrdersTable({ botId, botName }: { botId: string; botName: string }) {
  const paging = useCursor();
  const query = useQuery(ordersQuery(botId, paging.cursor));
  const items = query.data?.items ?? [];
  return (
    <Card
      title="Orders"
      status={<PanelStatus query={query} />}
      actions={
        <ExportCsvButton
          subject={botName}
          what="orders"
          title="Every order of this bot (all pages) as CSV"
          page={(cursor) => unwrap(api.GET("/api/bots/{id}/orders", { params: { path: { id: botId }, query: { limit: 500, cursor } } }))}
        />
      }
    >
      {query.isError && <div className="mb-3"><QueryError error={query.error} /></div>}
      {query.isPending && <p className="text-sm text-muted">Loading orders…</p>}
      {query.data && items.length === 0 && (
        <EmptyState title="No orders yet" reason="Orders are placed by decisions; this bot has not decided to trade yet (see Why not)." />
      )}
      {items.length > 0 && (
        <div className="relative overflow-x-auto" tabIndex={0}>
          <table className="tp-table" aria-label="Orders">
            <thead>
              <tr>
                <th>Created</th>
                <th>Side</th>
                <th>Qty</th>
                <th>Type</th>
                <th>Price</th>
                <th>Status</th>
                <th>Stage</th>
                <th>Decision</th>
              </tr>
            </thead>
            <tbody>
              {items.map((o) => (
                <tr key={o.id}>
                  <td className="whitespace-nowrap">{formatTime(o.created_at)}</td>
                  <td><Badge tone={o.side === "BUY" ? "ok" : "bad"}>{o.side}</Badge></td>
                  <td className="tabular-nums">{o.quantity}</td>
                  <td>{o.order_type}</td>
                  <td className="font-mono">
                    {o.limit_price ? `limit ${price(o.limit_price)}` : o.stop_price ? `stop ${price(o.stop_price)}` : o.reference_price ? `ref ${price(o.reference_price)}` : "—"}
                  </td>
                  <td>
                    <Badge tone={ORDER_TONE[o.status] ?? "neutral"}>{o.status}</Badge>
                    {o.reject_reason && <span className="block text-xs text-muted">{o.reject_reason}</span>}
                  </td>
                  <td>{o.stage}</td>
                  <td>
                    {o.decision_trace_id ? (
                      <Link
                        to="."
                        search={((prev: Record<string, string | undefined>) => ({ ...prev, panel: "traces", tab: "decision", trace: o.decision_trace_id })) as never}
                        className="text-accent hover:underline"
                      >
                        Why traded
                      </Link>
                    ) : (
                      <span className="text-xs text-muted">no trace</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager label="Orders" first={paging.first} nextCursor={query.data?.next_cursor} onNext={paging.next} onPrevious={paging.previous} />
    </Card>
  );
}
