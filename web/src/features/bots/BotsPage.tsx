// The Bots list: GET /api/bots with stage/status/symbol filters in the URL, client-side sorting
// of the loaded page, cursor paging and the "New bot" form.
import { useMemo, useState } from "react";
import { Link } from "@tanstack/react-router";
import { useQuery } from "@tanstack/react-query";
import { ArrowDown, ArrowUp, ArrowUpDown, ChevronLeft, ChevronRight, Plus } from "lucide-react";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { useActionGate } from "../../lib/health";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { hasRole, useMe } from "../../queries/auth";
import { tierRank } from "../../queries/autonomy";
import { botsQuery, STAGES, STATUSES, SYMBOLS, TIMEFRAMES, type BotListItem, type BotSummary } from "../../queries/bots";
import { AutonomyCompact } from "../autonomy/AutonomyScore";
import { BreakerBadge, StageBadge, StatusBadge } from "./badges";
import { dec, pnlClass, usd } from "./format";
import { NewBotForm } from "./NewBotForm";
import { BulkBar } from "./BulkBar";
import { useSearchParams } from "./search";
import { useTitle } from "../../lib/title";
import { formatAge, pnlFreshness, timeframeSeconds } from "../../lib/freshness";

/** Today's PnL = realized (net, closed today) + unrealized (open position at the mark). */
export function todayPnl(summary: BotSummary): { total: number | null; realized: number | null; why: string | null } {
  const realized = dec(summary.today_pnl.realized);
  const unrealized = dec(summary.today_pnl.unrealized);
  if (realized === null) return { total: null, realized: null, why: "The server did not report today's realized PnL." };
  if (unrealized === null) {
    return { total: null, realized, why: "A position is open and no price of the symbol was ever fetched, so its open PnL is unknown." };
  }
  return { total: realized + unrealized, realized, why: null };
}

type SortKey = "name" | "symbol" | "timeframe" | "stage" | "status" | "autonomy" | "pnl" | "evaluated";

/** The sort value of a row; null sorts last whatever the direction. */
function sortValue(item: BotListItem, key: SortKey): string | number | null {
  const s = item.summary;
  switch (key) {
    case "name":
      return item.name.toLowerCase();
    case "symbol":
      return item.symbol;
    case "timeframe":
      return TIMEFRAMES.indexOf(item.timeframe);
    case "stage":
      return STAGES.indexOf(item.stage);
    case "status":
      return item.status;
    case "autonomy":
      return s.autonomy ? tierRank(s.autonomy.tier) * 1000 + s.autonomy.score : null;
    case "pnl":
      return todayPnl(s).total;
    case "evaluated":
      return parseTime(s.last_evaluation_at);
  }
}

function sortItems(items: BotListItem[], key: SortKey | null, dir: "asc" | "desc"): BotListItem[] {
  if (!key) return items;
  const sign = dir === "asc" ? 1 : -1;
  return [...items].sort((a, b) => {
    const va = sortValue(a, key);
    const vb = sortValue(b, key);
    if (va === null && vb === null) return 0;
    if (va === null) return 1;
    if (vb === null) return -1;
    return (va < vb ? -1 : va > vb ? 1 : 0) * sign;
  });
}

const COLUMNS: { key: SortKey; label: string }[] = [
  { key: "name", label: "Name" },
  { key: "symbol", label: "Symbol" },
  { key: "timeframe", label: "Timeframe" },
  { key: "stage", label: "Stage" },
  { key: "status", label: "Status" },
  { key: "autonomy", label: "Autonomy" },
  { key: "pnl", label: "Today's PnL" },
  { key: "evaluated", label: "Last evaluation" },
];

function FilterSelect({ label, value, options, onChange }: {
  label: string;
  value: string | undefined;
  options: readonly string[];
  onChange: (v: string | undefined) => void;
}) {
  return (
    <label className="flex items-center gap-2 text-sm">
      <span className="text-muted">{label}</span>
      <select
        value={value ?? ""}
        onChange={(e) => onChange(e.target.value || undefined)}
        className="rounded-md border border-line bg-surface-2 px-2 py-1 text-sm"
      >
        <option value="">All</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );
}

/** When the list was fetched and whether its latest refetch failed (for the PnL's freshness). */
interface Fetched {
  at: number;
  failed: boolean;
}

function PnlCell({ item, fetched, now }: { item: BotListItem; fetched: Fetched; now: number }) {
  const summary = item.summary;
  const pnl = todayPnl(summary);
  if (pnl.total !== null) {
    const trades = summary.today_pnl.trades_closed;
    // A PnL resting on an old mark (or a failed refresh) is greyed with its age, never green/red.
    const f = pnlFreshness({
      positionQuantity: summary.today_pnl.position_quantity,
      markedAt: summary.today_pnl.marked_at,
      timeframeSeconds: timeframeSeconds(item.timeframe),
      maxDataAgeSeconds: item.risk_limits.max_data_age_seconds,
      fetchedAt: fetched.at,
      fetchFailed: fetched.failed,
      now,
    });
    const title = `Realized ${usd(pnl.realized ?? 0)} (net, ${trades} round trip${trades === 1 ? "" : "s"} closed today) + open PnL at the mark`;
    return (
      <span data-testid="bot-pnl" data-stale={f.stale ? "true" : "false"}>
        <span className={`font-mono tabular-nums ${f.stale ? "text-muted" : pnlClass(pnl.total)}`} title={f.reason ? `${title}. Stale: ${f.reason}` : title}>
          {usd(pnl.total)}
        </span>
        {f.stale && <span className="block text-xs text-muted">{f.ageMs === null ? "age unknown" : `${formatAge(f.ageMs)} old`}</span>}
      </span>
    );
  }
  return (
    <span className="text-muted" title={pnl.why ?? undefined}>
      unknown
      {pnl.realized !== null && <span className="block text-xs">realized {usd(pnl.realized)}; open PnL unknown</span>}
    </span>
  );
}

function LastEvaluation({ summary, now }: { summary: BotSummary; now: number }) {
  const t = parseTime(summary.last_evaluation_at);
  if (t === null) return <span className="text-muted" title="No decision or no-trade trace was ever recorded for this bot.">never</span>;
  return <span title={formatTime(summary.last_evaluation_at)}>{ago(t, now)}</span>;
}

function SortHeader({ col, sort, dir, onSort }: { col: (typeof COLUMNS)[number]; sort: SortKey | null; dir: "asc" | "desc"; onSort: (k: SortKey) => void }) {
  const active = sort === col.key;
  const Icon = active ? (dir === "asc" ? ArrowUp : ArrowDown) : ArrowUpDown;
  return (
    <th aria-sort={active ? (dir === "asc" ? "ascending" : "descending") : "none"}>
      <button type="button" onClick={() => onSort(col.key)} className="inline-flex items-center gap-1 uppercase hover:text-fg">
        {col.label}
        <Icon size={12} aria-hidden className={active ? "text-fg" : "opacity-50"} />
      </button>
    </th>
  );
}

function BotRow({ item, now, fetched, selected, onSelect }: { item: BotListItem; now: number; fetched: Fetched; selected: boolean; onSelect: (on: boolean) => void }) {
  const summary = item.summary;
  return (
    <tr data-testid={`bot-row-${item.id}`}>
      <td>
        <input type="checkbox" checked={selected} onChange={(e) => onSelect(e.target.checked)} aria-label={`Select ${item.name}`} />
      </td>
      <td>
        <Link to="/bots/$botId" params={{ botId: item.id }} className="font-medium text-accent hover:underline">
          {item.name}
        </Link>
        {item.archived_at && <span className="ml-2 text-xs text-muted">archived</span>}
      </td>
      <td className="font-mono">{item.symbol}</td>
      <td className="font-mono">{item.timeframe}</td>
      <td>
        <StageBadge stage={item.stage} />
      </td>
      <td>
        <StatusBadge status={item.status} />
      </td>
      <td>
        <AutonomyCompact score={summary.autonomy?.score} tier={summary.autonomy?.tier} />
      </td>
      <td>
        <PnlCell item={item} fetched={fetched} now={now} />
      </td>
      <td>
        <LastEvaluation summary={summary} now={now} />
      </td>
      <td>
        {summary.open_breakers.length > 0 ? <BreakerBadge scopes={summary.open_breakers} /> : <span className="text-xs text-muted">none open</span>}
      </td>
    </tr>
  );
}

export function BotsPage() {
  useTitle("Bots");
  const [search, setSearch] = useSearchParams();
  const archived = ARCHIVED.find((a) => a.value === search.archived)?.value;
  const filter = { stage: search.stage, status: search.status, symbol: search.symbol, archived, cursor: search.cursor };
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const query = useQuery(botsQuery(filter));
  const now = useNow(5000);
  const me = useMe();
  const gate = useActionGate(["/api/bots"]);
  const [previous, setPrevious] = useState<(string | undefined)[]>([]);
  const sort = (COLUMNS.find((c) => c.key === search.sort)?.key ?? null) as SortKey | null;
  const dir = search.dir === "desc" ? "desc" : "asc";
  const items = useMemo(() => sortItems(query.data?.items ?? [], sort, dir), [query.data, sort, dir]);
  const filtered = Boolean(search.stage || search.status || search.symbol || archived);
  const names = useMemo(() => new Map(items.map((i) => [i.id, i.name] as const)), [items]);
  const visibleSelected = items.filter((i) => selected.has(i.id)).map((i) => i.id);
  const select = (id: string, on: boolean) =>
    setSelected((prev) => {
      const next = new Set(prev);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  const allSelected = items.length > 0 && visibleSelected.length === items.length;
  const newOpen = search.panel === "new-bot";

  const createReason = !me.data
    ? "Checking your role…"
    : !hasRole(me.data.user.role, "operator")
      ? `Creating a bot needs the operator role; you are ${me.data.user.role}.`
      : gate;

  const setFilter = (key: "stage" | "status" | "symbol" | "archived", value: string | undefined) => {
    setPrevious([]);
    setSearch({ [key]: value, cursor: undefined });
  };
  const onSort = (key: SortKey) => {
    if (sort === key) setSearch({ dir: dir === "asc" ? "desc" : "asc" }, { replace: true });
    else setSearch({ sort: key, dir: "asc" }, { replace: true });
  };

  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold">Bots</h1>
        <PanelStatus query={query} />
        <div className="ml-auto">
          <Button variant="primary" disabledReason={createReason} onClick={() => setSearch({ panel: "new-bot" })}>
            <Plus size={14} aria-hidden /> New bot
          </Button>
        </div>
      </div>

      <Card>
        <div role="group" aria-label="Filters" className="mb-3 flex flex-wrap items-center gap-4">
          <FilterSelect label="Stage" value={search.stage} options={STAGES} onChange={(v) => setFilter("stage", v)} />
          <FilterSelect label="Status" value={search.status} options={STATUSES} onChange={(v) => setFilter("status", v)} />
          <FilterSelect label="Symbol" value={search.symbol} options={SYMBOLS} onChange={(v) => setFilter("symbol", v)} />
          <label className="flex items-center gap-2 text-sm">
            <span className="text-muted">Archived</span>
            <select value={archived ?? ""} onChange={(e) => setFilter("archived", e.target.value || undefined)} className="rounded-md border border-line bg-surface-2 px-2 py-1 text-sm">
              <option value="">Hidden</option>
              {ARCHIVED.map((a) => (
                <option key={a.value} value={a.value}>
                  {a.label}
                </option>
              ))}
            </select>
          </label>
          {filtered && (
            <Button size="sm" variant="ghost" onClick={() => { setPrevious([]); setSearch({ stage: undefined, status: undefined, symbol: undefined, archived: undefined, cursor: undefined }); }}>
              Clear filters
            </Button>
          )}
          <span className="ml-auto text-xs text-muted">Sorting applies to the loaded page ({PAGE_SIZE_TEXT}); filters are applied by the server.</span>
        </div>

        <div className="mb-3">
          <BulkBar selected={visibleSelected} names={names} onDone={() => setSelected(new Set())} />
        </div>
        {query.isError && !query.data && <QueryError error={query.error} />}
        {query.isError && query.data && (
          <div className="mb-3">
            <QueryError error={query.error} />
            <p className="mt-1 text-xs text-muted">The rows below are the last good data (see its age above), not current.</p>
          </div>
        )}
        {query.isPending && <p className="py-6 text-center text-sm text-muted">Loading bots…</p>}
        {query.data && items.length === 0 && (
          filtered ? (
            <EmptyState
              title="No bots match these filters"
              reason={`No bot has ${[search.stage && `stage ${search.stage}`, search.status && `status ${search.status}`, search.symbol && `symbol ${search.symbol}`, archived === "only" && "been archived"].filter(Boolean).join(", ")}.`}
            />
          ) : search.cursor ? (
            <EmptyState title="No more bots" reason="This page is past the last bot." />
          ) : (
            <EmptyState
              title="No bots yet"
              reason="No bot has been created on this server. Create one to run a strategy in LAB or PAPER."
              action={!createReason && <Button variant="primary" onClick={() => setSearch({ panel: "new-bot" })}>New bot</Button>}
            />
          )
        )}
        {items.length > 0 && (
          <div className={`relative overflow-x-auto ${query.isPlaceholderData ? "opacity-60" : ""}`} aria-busy={query.isPlaceholderData} tabIndex={0}>
            <table className="tp-table" aria-label="Bots">
              <thead>
                <tr>
                  <th>
                    <input
                      type="checkbox"
                      checked={allSelected}
                      onChange={(e) => setSelected(e.target.checked ? new Set(items.map((i) => i.id)) : new Set())}
                      aria-label="Select every bot on this page"
                    />
                  </th>
                  {COLUMNS.map((c) => (
                    <SortHeader key={c.key} col={c} sort={sort} dir={dir} onSort={onSort} />
                  ))}
                  <th>Breakers</th>
                </tr>
              </thead>
              <tbody>
                {items.map((item) => (
                  <BotRow key={item.id} item={item} now={now} fetched={{ at: query.dataUpdatedAt, failed: query.isError }} selected={selected.has(item.id)} onSelect={(on) => select(item.id, on)} />
                ))}
              </tbody>
            </table>
          </div>
        )}
        {(search.cursor || query.data?.next_cursor) && (
          <nav aria-label="Pages" className="mt-3 flex items-center gap-2">
            <Button
              size="sm"
              disabledReason={search.cursor ? null : "This is the first page."}
              onClick={() => {
                const prev = previous.slice(0, -1);
                const cursor = previous.length > 0 ? previous[previous.length - 1] : undefined;
                setPrevious(prev);
                setSearch({ cursor });
              }}
            >
              <ChevronLeft size={14} aria-hidden /> Previous page
            </Button>
            <Button
              size="sm"
              disabledReason={query.data?.next_cursor ? null : "This is the last page."}
              onClick={() => {
                setPrevious([...previous, search.cursor]);
                setSearch({ cursor: query.data?.next_cursor ?? undefined });
              }}
            >
              Next page <ChevronRight size={14} aria-hidden />
            </Button>
          </nav>
        )}
      </Card>

      {newOpen && <NewBotForm onClose={() => setSearch({ panel: undefined })} />}
    </div>
  );
}

const PAGE_SIZE_TEXT = "up to 50 bots";

const ARCHIVED = [
  { value: "include", label: "Shown too" },
  { value: "only", label: "Only archived" },
] as const;
