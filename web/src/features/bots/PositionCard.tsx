// Position & PnL: GET /api/bots/{id}/position (net position, working orders, the mark and the
// open PnL at it) plus today's PnL from the bot's summary. An unknown value says why; a zero
// is shown only when the server says zero. Each PnL is as fresh as the answer that carried it:
// the open PnL the position's, today's PnL the bot's (GET /api/bots/{id}).
import { useQuery } from "@tanstack/react-query";
import { Card } from "../../components/Card";
import { Badge } from "../../components/Badge";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { positionQuery, type BotSummary } from "../../queries/bots";
import { formatAge, freshForMs, pnlFreshness, timeframeSeconds, type Freshness } from "../../lib/freshness";
import { POLL } from "../../lib/queryClient";
import { dec, pnlClass, price, usd } from "./format";

function Stat({ label, children, hint }: { label: string; children: React.ReactNode; hint?: React.ReactNode }) {
  return (
    <div className="flex flex-col gap-0.5">
      <dt className="text-xs uppercase tracking-wide text-muted">{label}</dt>
      <dd className="text-base font-semibold tabular-nums">{children}</dd>
      {hint && <dd className="text-xs text-muted">{hint}</dd>}
    </div>
  );
}

/** A USD amount; one resting on a stale mark is greyed with its age, never coloured as fresh. */
function Money({ value, unknown, freshness }: { value: number | null; unknown: string; freshness?: Freshness }) {
  if (value === null) return <span className="text-muted">{unknown}</span>;
  if (freshness?.stale) {
    return (
      <span className="text-muted" title={freshness.reason ?? undefined} data-stale="true">
        {usd(value)} <span className="text-xs font-normal">({freshness.ageMs === null ? "age unknown" : `${formatAge(freshness.ageMs)} old`})</span>
      </span>
    );
  }
  return <span className={pnlClass(value)}>{usd(value)}</span>;
}

/** Both answers are polled every POLL.fast: past this, a PnL is no longer "now". */
const ANSWER_FRESH_FOR_MS = freshForMs(POLL.fast);

export function PositionCard({ botId, symbol, summary, summaryQuery, timeframe, maxDataAgeSeconds }: {
  botId: string;
  symbol: string;
  summary: BotSummary;
  /** The bot query that carried `summary`: when it was fetched and whether its latest refetch failed. */
  summaryQuery: { dataUpdatedAt: number; isError: boolean };
  /** The bot's timeframe and freshness limit: a PnL on an older mark is shown stale. */
  timeframe: string;
  maxDataAgeSeconds: number;
}) {
  const query = useQuery(positionQuery(botId));
  const now = useNow(5000);
  const data = query.data;
  const position = data?.position ?? null;
  const qty = position?.quantity ?? 0;
  const mark = data?.mark ?? null;
  const markAt = parseTime(mark?.bar_at);
  const unrealized = dec(data?.unrealized_pnl);
  const freshness = pnlFreshness({
    positionQuantity: qty,
    markedAt: mark?.bar_at,
    timeframeSeconds: timeframeSeconds(timeframe),
    maxDataAgeSeconds,
    fetchedAt: query.dataUpdatedAt,
    fetchFailed: query.isError,
    maxAnswerAgeMs: ANSWER_FRESH_FOR_MS,
    now,
  });
  const today = summary.today_pnl;
  const todayFreshness = pnlFreshness({
    positionQuantity: today.position_quantity,
    markedAt: today.marked_at,
    timeframeSeconds: timeframeSeconds(timeframe),
    maxDataAgeSeconds,
    fetchedAt: summaryQuery.dataUpdatedAt,
    fetchFailed: summaryQuery.isError,
    maxAnswerAgeMs: ANSWER_FRESH_FOR_MS,
    now,
  });

  return (
    <Card title="Position & PnL" status={<PanelStatus query={query} />} className="h-full">
      {query.isError && <div className="mb-3"><QueryError error={query.error} /></div>}
      {query.isPending && <p className="text-sm text-muted">Loading position…</p>}
      {data && (
        <div className="flex flex-col gap-4">
          <dl className="grid grid-cols-2 gap-4 md:grid-cols-3">
            <Stat
              label="Position"
              hint={position ? `as of ${formatTime(position.updated_at)}` : "never filled: no position row yet"}
            >
              {!position || qty === 0 ? (
                <span data-testid="position-qty">Flat</span>
              ) : (
                // A direction, not a verdict: neutral (severity colours are for severity only).
                <span data-testid="position-qty">
                  {qty > 0 ? "Long" : "Short"} {Math.abs(qty)} {symbol}
                </span>
              )}
            </Stat>
            <Stat label="Average price">{position && qty !== 0 ? price(position.average_price) : "—"}</Stat>
            <Stat
              label="Mark"
              hint={mark ? <>{mark.timeframe} close from {mark.provider_id}, bar of {formatTime(mark.bar_at)}{markAt !== null ? ` (${ago(markAt, now)})` : ""}</> : `no bar of ${symbol} was ever fetched`}
            >
              {mark ? price(mark.price) : <span className="text-muted">unknown</span>}
            </Stat>
            <Stat label="Unrealized PnL" hint={unrealized === null ? undefined : mark ? `at the mark ${price(mark.price)}` : undefined}>
              <span data-testid="unrealized-pnl">
                <Money value={unrealized} unknown="unknown without a mark" freshness={freshness} />
              </span>
            </Stat>
            <Stat label="Realized PnL (all time)" hint="gross, before commissions">
              {position ? <Money value={dec(position.realized_pnl)} unknown="unknown" /> : <span className="text-muted">none: never filled</span>}
            </Stat>
            <TodayStat summary={summary} freshness={todayFreshness} />
          </dl>

          <div>
            <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-muted">Working orders</h3>
            {data.working_orders.length === 0 ? (
              <p className="text-sm text-muted">None NEW or WORKING (a LIVE send still awaiting the broker&apos;s answer is not listed).</p>
            ) : (
              <ul className="flex flex-col gap-1 text-sm" aria-label="Working orders">
                {data.working_orders.map((o) => (
                  <li key={o.id} className="flex flex-wrap items-center gap-2">
                    <Badge tone={o.side === "BUY" ? "ok" : "bad"}>{o.side}</Badge>
                    <span className="font-mono">
                      {o.quantity} × {o.order_type}
                      {o.limit_price ? ` @ ${price(o.limit_price)}` : ""}
                      {o.stop_price ? ` stop ${price(o.stop_price)}` : ""}
                    </span>
                    <Badge tone="info">{o.status}</Badge>
                    <span className="text-xs text-muted">decided {formatTime(o.created_at)}</span>
                  </li>
                ))}
              </ul>
            )}
          </div>
        </div>
      )}
    </Card>
  );
}

function TodayStat({ summary, freshness }: { summary: BotSummary; freshness: Freshness }) {
  const t = summary.today_pnl;
  const realized = dec(t.realized);
  const unrealized = dec(t.unrealized);
  const total = realized !== null && unrealized !== null ? realized + unrealized : null;
  return (
    <Stat
      label="Today's PnL"
      hint={
        <>
          trade date {t.trade_date}: realized {realized === null ? "unknown" : usd(realized)} net ({t.trades_closed} closed)
          {" + "}open {unrealized === null ? "unknown (no mark)" : usd(unrealized)}
        </>
      }
    >
      <span data-testid="today-pnl">
        <Money value={total} unknown="unknown" freshness={freshness} />
      </span>
    </Stat>
  );
}
