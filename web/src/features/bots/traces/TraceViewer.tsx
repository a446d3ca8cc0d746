// "Why traded" (decision traces) and "Why not" (no-trade traces) of one bot: newest first, time
// filter, "Load more" pages, every trace expandable. Deep link `?trace=<row id or trace id>`
// expands and scrolls to that trace; one not in the loaded pages is read by id and pinned.
// "Export CSV" downloads every trace the time filter selects (all pages, not only the loaded
// ones) with named columns (traces/csv.ts).
import { useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { AlertTriangle, Pin } from "lucide-react";
import { Badge } from "../../../components/Badge";
import { Button } from "../../../components/Button";
import { Card } from "../../../components/Card";
import { ExportCsvButton } from "../../../components/ExportCsvButton";
import { EmptyState } from "../../../components/EmptyState";
import { PanelStatus, QueryError } from "../../../components/PanelStatus";
import { useNow } from "../../../lib/time";
import type { ApiError } from "../../../api/errors";
import { fetchTracePage, traceListQuery, traceMatches, traceQuery, type Trace, type TraceKind } from "../../../queries/traces";
import { tracesCsv } from "./csv";
import { NotFoundForBot } from "./parts";
import { TraceCard } from "./TraceCard";
import { TimeFilter, useTimeFilter } from "./TimeFilter";
import { useLinkTo, usePatchSearch, useSearchParams } from "./search";

export const PAGE_SIZE = 25;

const TITLES: Record<TraceKind, { title: string; noun: string }> = {
  decision: { title: "Why traded — decision traces", noun: "decision trace" },
  "no-trade": { title: "Why not — no-trade traces", noun: "no-trade trace" },
};

/** The items of every loaded page, once each (a page boundary can shift while new traces arrive). */
export function uniqueItems(pages: { items: Trace[] }[] | undefined): Trace[] {
  const seen = new Set<string>();
  const out: Trace[] = [];
  for (const p of pages ?? []) {
    for (const t of p.items) {
      if (seen.has(t.id)) continue;
      seen.add(t.id);
      out.push(t);
    }
  }
  return out;
}

/** Expanded = toggled XOR opened by the deep link: no effect needed to open the linked trace. */
export function useExpansion(deepId: string | null) {
  const [toggled, setToggled] = useState<Set<string>>(() => new Set());
  return {
    isExpanded: (id: string) => toggled.has(id) !== (id === deepId),
    toggle: (id: string) =>
      setToggled((prev) => {
        const next = new Set(prev);
        if (next.has(id)) next.delete(id);
        else next.add(id);
        return next;
      }),
  };
}

/** Scrolls the element registered under `id` into view once per id. */
export function useScrollTo(id: string | null) {
  const nodes = useRef(new Map<string, HTMLElement>());
  const done = useRef<string | null>(null);
  useEffect(() => {
    if (!id || done.current === id) return;
    const el = nodes.current.get(id);
    if (!el) return;
    done.current = id;
    el.scrollIntoView?.({ block: "start", behavior: "smooth" });
  });
  return (traceId: string) => (el: HTMLElement | null) => {
    if (el) nodes.current.set(traceId, el);
    else nodes.current.delete(traceId);
  };
}

function otherKind(kind: TraceKind): TraceKind {
  return kind === "decision" ? "no-trade" : "decision";
}

/** The API's largest page: the export reads the filtered traces 500 at a time. */
export const EXPORT_PAGE_SIZE = 500;

/** Paginated decision ("Why traded") or no-trade ("Why not") traces of one bot. */
export function TraceViewer({ botId, kind, botName }: { botId: string; kind: "decision" | "no-trade"; /** Names the export file (default the id). */ botName?: string }) {
  const search = useSearchParams();
  const patch = usePatchSearch();
  const linkTo = useLinkTo();
  const now = useNow(5000);
  const filter = useTimeFilter(kind === "decision" ? "dt_" : "nt_");
  const list = useInfiniteQuery({
    ...traceListQuery(kind, botId, filter.range, PAGE_SIZE),
    enabled: !filter.invalid,
  });
  const items = useMemo(() => uniqueItems(list.data?.pages), [list.data]);

  // The deep link is this viewer's unless the Why-not drawer owns it or another tab is selected.
  const ref = search.panel !== "why-not" && (!search.tab || search.tab === kind) ? (search.trace ?? null) : null;
  const inList = ref ? (items.find((t) => traceMatches(t, ref)) ?? null) : null;
  const needLocate = Boolean(ref && !inList && (list.isSuccess || list.isError || filter.invalid));
  const located = useQuery({ ...traceQuery(kind, botId, ref ?? ""), enabled: needLocate });
  // Not a trace of this kind: it may be one of the other kind (a link into the wrong tab).
  const notMine = needLocate && located.isSuccess && !located.data.found;
  const other = useQuery({ ...traceQuery(otherKind(kind), botId, ref ?? ""), enabled: notMine });
  const pinned = !inList && located.data?.found ? located.data.found : null;
  const target = inList ?? pinned;
  const expansion = useExpansion(target?.id ?? null);
  const register = useScrollTo(target?.id ?? null);

  const { title, noun } = TITLES[kind];
  const hrefOf = (t: Trace) => linkTo({ panel: "traces", tab: kind, trace: t.id });
  const card = (t: Trace, badge?: ReactNode) => (
    <TraceCard
      key={t.id}
      ref={register(t.id)}
      trace={t}
      botId={botId}
      expanded={expansion.isExpanded(t.id)}
      onToggle={() => expansion.toggle(t.id)}
      highlighted={target?.id === t.id}
      href={hrefOf(t)}
      now={now}
      badge={badge}
    />
  );

  return (
    <Card
      title={title}
      status={<PanelStatus query={list} />}
      actions={
        <div className="flex flex-wrap items-start gap-2">
          <TimeFilter state={filter} label={`Time range of ${noun}s`} />
          <ExportCsvButton
            key={`${filter.range.from ?? ""}|${filter.range.to ?? ""}`}
            subject={botName ?? botId}
            what={kind === "decision" ? "decision-traces" : "no-trade-traces"}
            title={`Every ${noun} of this bot ${filter.describe || "of all time"} (all pages, not only the loaded ones) as CSV`}
            disabledReason={filter.invalid ? `The time filter is invalid: ${filter.invalid}` : null}
            page={(cursor) => fetchTracePage(kind, botId, { ...filter.range, limit: EXPORT_PAGE_SIZE, cursor }) as Promise<{ items: Record<string, unknown>[]; next_cursor?: string | null }>}
            format={(items) => tracesCsv(kind, items as unknown as Trace[])}
          />
        </div>
      }
    >
      <div className="flex flex-col gap-3" data-testid={`trace-viewer-${kind}`}>
        {ref && !inList && (
          <DeepLinkNote
            ref_={ref}
            kind={kind}
            state={
              located.isError
                ? { kind: "error", error: located.error }
                : pinned
                  ? { kind: "pinned" }
                  : other.data?.found
                    ? { kind: "other" }
                    : notMine && located.data?.notFound && (other.isSuccess || other.isError)
                      ? { kind: "missing", error: located.data.notFound, otherError: other.isError ? other.error : null }
                      : { kind: "looking" }
            }
            onShowOther={() => patch({ tab: otherKind(kind), panel: "traces" })}
            onClear={() => patch({ trace: undefined })}
          />
        )}
        {pinned && <ul className="flex flex-col gap-2" aria-label="Linked trace">{card(pinned, <Badge tone="info"><Pin size={11} aria-hidden /> linked</Badge>)}</ul>}
        {list.isError && <QueryError error={list.error} />}
        {filter.invalid ? null : list.isPending ? (
          <p className="text-sm text-muted">Loading {noun}s…</p>
        ) : items.length === 0 && list.isSuccess ? (
          <EmptyState title={kind === "decision" ? "No decision traces" : "No suppressions"} reason={emptyReason(kind, filter.describe)} />
        ) : (
          items.length > 0 && (
            <>
              <ul className="flex flex-col gap-2" aria-label={`${title}`}>
                {items.map((t) => card(t))}
              </ul>
              <div className="flex flex-wrap items-center gap-3 text-xs text-muted">
                <span>
                  {items.length} {noun}
                  {items.length === 1 ? "" : "s"} {filter.describe && `${filter.describe} `}shown, newest first
                  {list.hasNextPage ? "" : " — that is all of them"}
                </span>
                {list.hasNextPage && (
                  <Button size="sm" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
                    {list.isFetchingNextPage ? "Loading…" : "Load more"}
                  </Button>
                )}
              </div>
              {list.isFetchNextPageError && <QueryError error={list.error} />}
            </>
          )
        )}
      </div>
    </Card>
  );
}

function emptyReason(kind: TraceKind, describe: string): string {
  const when = describe ? ` ${describe}` : "";
  if (kind === "decision") {
    return `This bot recorded no decision${when}: no evaluation decided to enter, exit or adjust. Evaluations run only while the bot is RUNNING; the ones that did not trade are under “Why not”.${describe ? " Widen the time range to see older traces." : ""}`;
  }
  return `No evaluation of this bot was suppressed${when}: no gate blocked it. Evaluations run only while the bot is RUNNING.${describe ? " Widen the time range to see older suppressions." : ""}`;
}

type LinkState =
  | { kind: "looking" }
  | { kind: "error"; error: unknown }
  | { kind: "pinned" }
  | { kind: "other" }
  | { kind: "missing"; error: ApiError; otherError: unknown };

function DeepLinkNote({ ref_, kind, state, onShowOther, onClear }: {
  ref_: string;
  kind: TraceKind;
  state: LinkState;
  onShowOther: () => void;
  onClear: () => void;
}) {
  const clear = (
    <Button size="sm" variant="ghost" onClick={onClear}>
      Clear link
    </Button>
  );
  const id = <span className="font-mono">{ref_}</span>;
  const otherNoun = kind === "decision" ? "no-trade" : "decision";
  switch (state.kind) {
    case "looking":
      return <p className="text-xs text-muted">Looking up linked trace {id}…</p>;
    case "error":
      return (
        <div className="flex flex-col gap-1">
          <p className="text-sm">Could not look up linked trace {id}:</p>
          <QueryError error={state.error} />
        </div>
      );
    case "pinned":
      return (
        <p className="flex flex-wrap items-center gap-2 text-xs text-muted" role="status">
          Linked trace {id} is not in the loaded range; it is shown on its own below.
          {clear}
        </p>
      );
    case "other":
    case "missing":
      return (
        <div role="status" className="flex flex-wrap items-center gap-2 rounded-md border border-warn/40 bg-warn/10 px-3 py-2 text-sm">
          <AlertTriangle size={14} className="text-warn" aria-hidden />
          {state.kind === "other" ? (
            <>
              <span>
                Linked trace {id} is a {kind === "decision" ? "no-trade" : "decision"} trace, not a {kind === "decision" ? "decision" : "no-trade"} trace.
              </span>
              <Button size="sm" onClick={onShowOther}>
                Show it in “{kind === "decision" ? "Why not" : "Why traded"}”
              </Button>
            </>
          ) : (
            <NotFoundForBot
              what="Linked trace"
              id={ref_}
              detail={
                state.otherError
                  ? `No ${kind} trace of this bot has this row id or trace id; its ${otherNoun} traces could not be checked.`
                  : `No ${kind} trace of this bot has this row id or trace id, and no ${otherNoun} trace either.`
              }
              error={state.error}
            />
          )}
          {clear}
          {state.kind === "missing" && state.otherError ? <QueryError error={state.otherError} /> : null}
        </div>
      );
  }
}
