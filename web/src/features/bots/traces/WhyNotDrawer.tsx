// "Why not trading": the bot's newest suppression with every blocking gate (reason, code, fix),
// since when and for how many evaluations, its trace id; then the history of suppressions.
// It never says "trading" while the bot is suppressed or not RUNNING (see verdict.ts).
import { useMemo, type ReactNode } from "react";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { Activity, AlertOctagon, AlertTriangle, HelpCircle, Pin } from "lucide-react";
import { Badge } from "../../../components/Badge";
import { Button } from "../../../components/Button";
import { Drawer } from "../../../components/Drawer";
import { EmptyState } from "../../../components/EmptyState";
import { PanelStatus, QueryError } from "../../../components/PanelStatus";
import { TraceId } from "../../../components/TraceId";
import { POLL } from "../../../lib/queryClient";
import { ago, formatTime, parseTime, useNow } from "../../../lib/time";
import { killSwitchQuery } from "../../../queries/status";
import {
  botDetailQuery,
  fetchTracePage,
  TRACE_PATHS,
  traceListQuery,
  traceMatches,
  traceQuery,
  type DecisionTrace,
  type NoTradeTrace,
} from "../../../queries/traces";
import { ExplainPanel } from "../../explain/ExplainPanel";
import { NewsGateCard } from "../NewsGateCard";
import { blockersOf, decisionTone, TraceCard } from "./TraceCard";
import { uniqueItems, useExpansion, useScrollTo } from "./TraceViewer";
import { BlockerList, CopyLinkButton, NotFoundForBot, Section } from "./parts";
import type { ApiError } from "../../../api/errors";
import { useLinkTo, usePatchSearch, useSearchParams } from "./search";
import { botStatusTone, statusWord, verdict, type Verdict } from "./verdict";

export const HISTORY_PAGE = 10;

function When({ iso, now }: { iso: string; now: number }) {
  const t = parseTime(iso);
  return (
    <span title={iso}>
      <span className="font-mono">{formatTime(iso)}</span>
      {t !== null && <span className="text-muted"> ({ago(t, now)})</span>}
    </span>
  );
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="flex flex-col">
      <span className="text-xs text-muted">{label}</span>
      <span className="text-sm">{children}</span>
    </div>
  );
}

/** "Why not trading": the bot's latest suppression, every blocking gate, and its history. */
export function WhyNotDrawer({ botId, onClose }: { botId: string; onClose: () => void }) {
  const now = useNow(1000);
  const search = useSearchParams();
  const patch = usePatchSearch();
  const linkTo = useLinkTo();
  const bot = useQuery(botDetailQuery(botId));
  const killSwitch = useQuery(killSwitchQuery);
  const latestDecision = useQuery({
    queryKey: [TRACE_PATHS.decision, botId, { limit: 1 }],
    queryFn: () => fetchTracePage("decision", botId, { limit: 1 }),
    refetchInterval: POLL.fast,
  });
  const history = useInfiniteQuery(traceListQuery("no-trade", botId, {}, HISTORY_PAGE));
  const items = useMemo(() => uniqueItems(history.data?.pages) as NoTradeTrace[], [history.data]);

  const v = verdict({
    status: bot.data?.bot.status ?? (bot.isError ? undefined : null),
    statusFailed: bot.isError && !bot.data,
    noTrade: history.data ? (items[0] ?? null) : undefined,
    noTradeFailed: history.isError && !history.data,
    decision: latestDecision.data ? ((latestDecision.data.items[0] as DecisionTrace | undefined) ?? null) : undefined,
    decisionFailed: latestDecision.isError && !latestDecision.data,
  });

  // Deep link: ?panel=why-not&trace=<id> highlights one suppression (read by id if not loaded).
  const ref = search.panel === "why-not" ? (search.trace ?? null) : null;
  const inList = ref ? (items.find((t) => traceMatches(t, ref)) ?? null) : null;
  const needLocate = Boolean(ref && !inList && (history.isSuccess || history.isError));
  const located = useQuery({ ...traceQuery("no-trade", botId, ref ?? ""), enabled: needLocate });
  const pinned = !inList && located.data?.found ? (located.data.found as NoTradeTrace) : null;
  const target = inList ?? pinned;
  const expansion = useExpansion(target?.id ?? null);
  const register = useScrollTo(target?.id ?? null);
  const hrefOf = (t: NoTradeTrace) => linkTo({ panel: "why-not", trace: t.id });

  const status = bot.data?.bot.status;
  const runner = bot.data?.runner;
  return (
    <Drawer title="Why not trading" onClose={onClose} width={680}>
      <div className="flex flex-col gap-5" data-testid="why-not">
        <section aria-label="Bot state" className="flex flex-wrap items-center gap-x-4 gap-y-2">
          <Fact label="Status">
            {status ? (
              <Badge tone={botStatusTone(status)}>{status}</Badge>
            ) : bot.isError ? (
              <Badge tone="bad">unknown</Badge>
            ) : (
              <span className="text-muted">loading…</span>
            )}
          </Fact>
          {runner?.kill_reason && <Fact label="Kill reason">{runner.kill_reason}</Fact>}
          {runner?.last_error && runner.last_error !== runner.kill_reason && <Fact label="Last runner error">{runner.last_error}</Fact>}
          {runner && runner.breaker_state !== "CLOSED" && (
            <Fact label="Runner breaker">
              <Badge tone={runner.breaker_state === "OPEN" ? "bad" : "warn"}>{runner.breaker_state}</Badge>
            </Fact>
          )}
          {(bot.data?.summary?.open_breakers.length ?? 0) > 0 && (
            <Fact label="Open breakers">
              <span className="flex flex-wrap gap-1">
                {bot.data!.summary.open_breakers.map((b) => (
                  <Badge key={b} tone="bad" className="font-mono">
                    {b}
                  </Badge>
                ))}
              </span>
            </Fact>
          )}
          {killSwitch.data?.kill_switch.active && (
            <Fact label="Global kill switch">
              <Badge tone="bad">ON — all trading halted</Badge>
            </Fact>
          )}
          <span className="ml-auto">
            <PanelStatus query={history} />
          </span>
        </section>
        {bot.isError && <QueryError error={bot.error} />}

        <Current v={v} now={now} status={status} killReason={runner?.kill_reason ?? null} hrefOf={hrefOf} highlighted={target?.id ?? null} />
        {latestDecision.isError && <QueryError error={latestDecision.error} />}

        <NewsGateCard botId={botId} />

        <ExplainPanel botId={botId} />

        <Section title="Suppression history">
          {ref && !inList && (
            <LinkNote ref_={ref} error={located.isError ? located.error : null} pinned={Boolean(pinned)} notFound={located.data?.notFound ?? null} onClear={() => patch({ trace: undefined })} />
          )}
          {pinned && (
            <ul className="flex flex-col gap-2" aria-label="Linked suppression">
              <TraceCard
                ref={register(pinned.id)}
                trace={pinned}
                botId={botId}
                expanded={expansion.isExpanded(pinned.id)}
                onToggle={() => expansion.toggle(pinned.id)}
                highlighted
                href={hrefOf(pinned)}
                now={now}
                badge={<Badge tone="info"><Pin size={11} aria-hidden /> linked</Badge>}
              />
            </ul>
          )}
          {history.isError && <QueryError error={history.error} />}
          {history.isPending ? (
            <p className="text-sm text-muted">Loading suppressions…</p>
          ) : items.length === 0 && history.isSuccess ? (
            <EmptyState
              title="No suppressions recorded"
              reason="No evaluation of this bot has been blocked by a gate. Evaluations run only while the bot is RUNNING; a bot that is not running records nothing here."
            />
          ) : (
            items.length > 0 && (
              <>
                <ul className="flex flex-col gap-2" aria-label="Suppressions">
                  {items.map((t, i) => (
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
                      badge={i === 0 ? <Badge tone="neutral">latest</Badge> : undefined}
                    />
                  ))}
                </ul>
                <div className="flex items-center gap-3 text-xs text-muted">
                  <span>
                    {items.length} suppression{items.length === 1 ? "" : "s"} shown, newest first
                    {history.hasNextPage ? "" : " — that is all of them"}
                  </span>
                  {history.hasNextPage && (
                    <Button size="sm" onClick={() => void history.fetchNextPage()} disabled={history.isFetchingNextPage}>
                      {history.isFetchingNextPage ? "Loading…" : "Load more"}
                    </Button>
                  )}
                </div>
                {history.isFetchNextPageError && <QueryError error={history.error} />}
              </>
            )
          )}
        </Section>
      </div>
    </Drawer>
  );
}

function Callout({ tone, icon, title, children, testId }: { tone: "bad" | "warn" | "info"; icon: ReactNode; title: ReactNode; children?: ReactNode; testId: string }) {
  const tones = { bad: "border-bad/40 bg-bad/10", warn: "border-warn/40 bg-warn/10", info: "border-info/40 bg-info/10" };
  return (
    <section role="status" aria-label="Current state" data-testid={testId} className={`flex flex-col gap-3 rounded-lg border p-4 ${tones[tone]}`}>
      <h3 className="flex items-center gap-2 text-base font-semibold">
        {icon}
        {title}
      </h3>
      {children}
    </section>
  );
}

function Current({ v, now, status, killReason, hrefOf, highlighted }: {
  v: Verdict;
  now: number;
  status: string | undefined;
  killReason: string | null;
  hrefOf: (t: NoTradeTrace) => string;
  highlighted: string | null;
}) {
  switch (v.kind) {
    case "loading":
      return <p className="text-sm text-muted">Reading the bot's latest evaluations…</p>;
    case "unknown":
      return (
        <Callout tone="warn" icon={<HelpCircle size={18} className="text-warn" aria-hidden />} title="Cannot tell whether the bot is trading" testId="why-not-unknown">
          <p className="text-sm">Unknown: {v.why}. The errors are shown below; nothing here means the bot is trading.</p>
        </Callout>
      );
    case "suppressed": {
      const t = v.trace;
      const blockers = blockersOf(t);
      const notRunning = status && status !== "RUNNING";
      // The strategy itself (gate "signal") is not a blocked gate: the bot waits for its condition.
      const signalOnly = blockers.length > 0 && blockers.every((b) => b.gate === "signal");
      const gateCodes = [...new Set(blockers.filter((b) => b.gate !== "signal").map((b) => b.code))];
      const title = signalOnly
        ? "Not trading: waiting for a signal"
        : gateCodes.length > 0
          ? `Not trading: blocked by ${gateCodes.join(", ")}`
          : `Not trading: ${t.reason_code}`;
      return (
        <Callout
          tone={signalOnly ? "warn" : "bad"}
          icon={<AlertOctagon size={18} className={signalOnly ? "text-warn" : "text-bad"} aria-hidden />}
          title={title}
          testId="why-not-suppressed"
        >
          <p className="text-sm font-medium">{t.reason_human}</p>
          {notRunning && (
            <p className="text-sm">
              The bot is <Badge tone={botStatusTone(status)}>{status}</Badge>
              {killReason ? <> — kill reason: {killReason}</> : null}. Its last evaluation was this suppression.
            </p>
          )}
          {v.decisionUnchecked && (
            <p className="text-sm text-warn">The decision traces could not be read: a newer decision may exist.</p>
          )}
          <div className="grid grid-cols-2 gap-x-4 gap-y-2 sm:grid-cols-4">
            <Fact label="Suppressed since">
              <When iso={t.created_at} now={now} />
            </Fact>
            <Fact label="Lasted">
              <span className="font-mono">{t.count}</span> evaluation{t.count === 1 ? "" : "s"}
            </Fact>
            <Fact label="Last seen">
              <When iso={t.last_seen_at} now={now} />
            </Fact>
            <Fact label="Type">
              <Badge tone="warn">{t.suppression_type}</Badge>
            </Fact>
          </div>
          <div className="flex flex-wrap items-center gap-x-4 gap-y-1 text-sm">
            <span>
              Reason code <span className="font-mono">{t.reason_code}</span>
            </span>
            <span>
              Would have <span className="font-mono">{t.suppression_decision}</span>
            </span>
            <TraceId id={t.trace_id} />
            <CopyLinkButton href={hrefOf(t)} label="Copy link to this suppression" />
            {highlighted === t.id && <Badge tone="info">linked</Badge>}
          </div>
          <Section title={`Blocking gates (${blockers.length})`}>
            <BlockerList blockers={blockers} />
          </Section>
        </Callout>
      );
    }
    case "not-running":
      return (
        <Callout tone={v.status === "KILLED" || v.status === "ERROR" ? "bad" : "warn"} icon={<AlertTriangle size={18} className="text-warn" aria-hidden />} title={`${statusWord(v.status)} — no suppression trace recorded yet`} testId="why-not-not-running">
          <p className="text-sm">
            The bot's status is <Badge tone={botStatusTone(v.status)}>{v.status}</Badge>, so it is not trading, and no no-trade trace explains it
            {v.decision ? " (its last evaluation was a decision)" : ""}.
            {killReason ? <> Kill reason: {killReason}.</> : " The bot detail gives no kill reason."}
          </p>
          {v.decision && <LastDecision d={v.decision} now={now} />}
        </Callout>
      );
    case "no-evaluation":
      return (
        <Callout tone="warn" icon={<HelpCircle size={18} className="text-warn" aria-hidden />} title="Running — no evaluation recorded yet" testId="why-not-no-evaluation">
          <p className="text-sm">The bot is RUNNING but has recorded neither a decision nor a suppression yet. Its first evaluation comes at the next bar close.</p>
        </Callout>
      );
    case "trading":
      return (
        <Callout tone="info" icon={<Activity size={18} className="text-info" aria-hidden />} title={<>Trading: last decision at {formatTime(v.decision.created_at)}</>} testId="why-not-trading">
          <p className="text-sm">The bot is RUNNING and its newest evaluation decided to trade; no suppression came after it.</p>
          <LastDecision d={v.decision} now={now} />
        </Callout>
      );
  }
}

function LastDecision({ d, now }: { d: DecisionTrace; now: number }) {
  return (
    <div className="flex flex-wrap items-center gap-2 text-sm">
      <Badge tone={decisionTone(d.decision_type)}>{d.decision_type}</Badge>
      <span className="font-mono text-xs">{d.reason_code}</span>
      <span>{d.reason_human}</span>
      <span className="text-muted">
        <When iso={d.created_at} now={now} />
      </span>
      <TraceId id={d.trace_id} short />
    </div>
  );
}

function LinkNote({ ref_, error, pinned, notFound, onClear }: {
  ref_: string;
  error: unknown;
  pinned: boolean;
  notFound: ApiError | null;
  onClear: () => void;
}) {
  // Until the history has loaded and the by-id read answered.
  if (!error && !pinned && !notFound) return <p className="text-xs text-muted">Looking up linked suppression <span className="font-mono">{ref_}</span>…</p>;
  if (error) return <QueryError error={error} />;
  return (
    <div role="status" className={`flex flex-wrap items-center gap-2 text-xs ${pinned ? "text-muted" : "rounded-md border border-warn/40 bg-warn/10 px-3 py-2 text-sm"}`}>
      {pinned ? (
        <span>
          Linked suppression <span className="font-mono">{ref_}</span> is older than the loaded history; shown on its own below.
        </span>
      ) : (
        notFound && <NotFoundForBot what="Linked suppression" id={ref_} detail="No no-trade trace of this bot has this row id or trace id." error={notFound} />
      )}
      <Button size="sm" variant="ghost" onClick={onClear}>
        Clear link
      </Button>
    </div>
  );
}
