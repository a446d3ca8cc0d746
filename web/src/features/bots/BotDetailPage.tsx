// Bot detail: header with status and lifecycle actions, the "Not trading" callout, position and
// PnL, autonomy, risk limits (Edit opens the edit form), equity curve, "Why traded" / "Why not" traces, trades and orders.
// Deep links: ?panel=why-not opens the Why-not drawer; ?panel=traces&tab=decision|no-trade
// selects the traces section (the trace viewers read `trace=` themselves).
import { useCallback, useEffect, useRef, useState } from "react";
import { Link, useParams } from "@tanstack/react-router";
import { useQuery } from "@tanstack/react-query";
import { AlertOctagon, ArrowLeft, CircleHelp, PauseCircle } from "lucide-react";
import { Button } from "../../components/Button";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { isApiError } from "../../api/errors";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { botQuery, type BotDetail as BotDetailBody } from "../../queries/bots";
import { AutonomyCompact, AutonomyScore } from "../autonomy/AutonomyScore";
import { TraceViewer, WhyNotDrawer } from "./traces";
import { BreakerBadge, StageBadge, StatusBadge } from "./badges";
import { BotBacktests } from "./BotBacktests";
import { EquityCurve } from "./EquityCurve";
import { LifecycleActions } from "./LifecycleActions";
import { DeskActions } from "./DeskActions";
import { EditBotButton } from "./EditBotButton";
import { RiskLimitsCard } from "./RiskLimitsCard";
import { OrdersTable } from "./OrdersTable";
import { PositionCard } from "./PositionCard";
import { TradesTable } from "./TradesTable";
import { useSearchParams } from "./search";
import { useTitle } from "../../lib/title";

/** Route component for /bots/$botId. */
export function BotDetailPage() {
  const { botId } = useParams({ strict: false }) as { botId?: string };
  if (!botId) return <EmptyState title="No bot selected" reason="The address names no bot id." />;
  return <BotDetail botId={botId} />;
}

const NOT_TRADING: Record<string, { title: string; body: string }> = {
  SUSPENDED: {
    title: "Not trading: SUSPENDED",
    body: "The runner is up and evaluating, but a gate blocks every trade. The Why-not drawer names each blocking gate, since when, and how to fix it.",
  },
  KILLED: {
    title: "Not trading: KILLED",
    body: "The runner was halted and the bot is latched KILLED. It will not start until an admin re-arms it; see why it was killed before you do.",
  },
  ERROR: {
    title: "Not trading: ERROR",
    body: "The runner failed and its restart was refused. Check the runner's last error below and the Why-not drawer.",
  },
};

function NotTradingCallout({ status, killReason, onWhyNot }: { status: string; killReason: string | null | undefined; onWhyNot: () => void }) {
  const info = NOT_TRADING[status];
  if (!info) return null;
  const Icon = status === "SUSPENDED" ? PauseCircle : AlertOctagon;
  return (
    <section
      role="alert"
      aria-label="Not trading"
      className={`flex flex-wrap items-center gap-3 rounded-lg border p-4 ${status === "SUSPENDED" ? "border-warn/50 bg-warn/10" : "border-bad/50 bg-bad/10"}`}
    >
      <Icon size={22} className={status === "SUSPENDED" ? "text-warn" : "text-bad"} aria-hidden />
      <div className="min-w-0 flex-1">
        <p className="font-semibold">{info.title}</p>
        <p className="text-sm text-muted">{info.body}</p>
        {killReason && <p className="mt-1 text-sm">Kill reason: <span className="font-medium">{killReason}</span></p>}
      </div>
      <Button variant="primary" onClick={onWhyNot}>
        <CircleHelp size={14} aria-hidden /> Why not trading
      </Button>
    </section>
  );
}

function RunnerFacts({ detail }: { detail: BotDetailBody }) {
  const now = useNow(5000);
  const r = detail.runner;
  if (!r) {
    return <p className="text-xs text-muted">No runner in this process: the bot is not being evaluated here.</p>;
  }
  const beat = parseTime(r.last_heartbeat_at);
  return (
    <dl className="flex flex-wrap gap-x-5 gap-y-1 text-xs text-muted">
      <div><dt className="inline">Runner: </dt><dd className="inline font-medium text-fg">{r.status}</dd></div>
      <div><dt className="inline">Heartbeat: </dt><dd className="inline">{beat === null ? "none yet" : ago(beat, now)}</dd></div>
      <div><dt className="inline">Started: </dt><dd className="inline">{formatTime(r.started_at)}</dd></div>
      <div><dt className="inline">Ticks: </dt><dd className="inline tabular-nums">{r.ticks}</dd></div>
      <div><dt className="inline">Restarts: </dt><dd className="inline tabular-nums">{r.restart_count}</dd></div>
      <div><dt className="inline">Breaker: </dt><dd className={`inline ${r.breaker_state === "OPEN" ? "font-semibold text-bad" : ""}`}>{r.breaker_state}</dd></div>
      {r.last_error && <div><dt className="inline">Last error: </dt><dd className="inline text-bad">{r.last_error}</dd></div>}
    </dl>
  );
}

type Tab = "decision" | "no-trade";

function TracesSection({ botId, botName, tab, onTab, focus }: { botId: string; botName: string; tab: Tab; onTab: (t: Tab) => void; focus: boolean }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    if (focus) ref.current?.scrollIntoView?.({ block: "start" });
  }, [focus]);
  const tabs: { id: Tab; label: string }[] = [
    { id: "decision", label: "Why traded" },
    { id: "no-trade", label: "Why not" },
  ];
  return (
    <section ref={ref} aria-label="Traces" className="rounded-lg border border-line bg-surface p-4">
      <div role="tablist" aria-label="Trace kind" className="mb-3 flex gap-1 border-b border-line">
        {tabs.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`tabpanel-${t.id}`}
            onClick={() => onTab(t.id)}
            className={`-mb-px border-b-2 px-3 py-1.5 text-sm font-medium ${tab === t.id ? "border-accent text-fg" : "border-transparent text-muted hover:text-fg"}`}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`tabpanel-${tab}`} aria-labelledby={`tab-${tab}`}>
        <TraceViewer key={tab} botId={botId} kind={tab} botName={botName} />
      </div>
    </section>
  );
}

export function BotDetail({ botId }: { botId: string }) {
  const query = useQuery(botQuery(botId));
  useTitle(query.data ? `${query.data.bot.name} · Bot` : "Bot");
  const [search, setSearch] = useSearchParams();
  const [notice, setNotice] = useState<string | null>(null);
  useEffect(() => {
    if (!notice) return;
    const id = setTimeout(() => setNotice(null), 6000);
    return () => clearTimeout(id);
  }, [notice]);

  const openWhyNot = useCallback(() => setSearch({ panel: "why-not" }), [setSearch]);
  const closeWhyNot = useCallback(() => setSearch({ panel: undefined, trace: undefined }), [setSearch]);
  const tab: Tab = search.tab === "no-trade" ? "no-trade" : "decision";

  const detail = query.data;
  if (!detail) {
    const notFound = isApiError(query.error) && query.error.code === "BOT_NOT_FOUND";
    return (
      <div className="flex flex-col gap-4">
        <BackLink />
        {query.isPending && <p className="text-sm text-muted">Loading bot…</p>}
        {notFound && <EmptyState title="Bot not found" reason={`No bot with id ${botId} exists (it may have been removed, or the link is wrong).`} />}
        {query.isError && <QueryError error={query.error} />}
      </div>
    );
  }

  const bot = detail.bot;
  const summary = detail.summary;

  return (
    <div className="flex flex-col gap-4">
      <BackLink />
      <header className="flex flex-col gap-3 rounded-lg border border-line bg-surface p-4">
        <div className="flex flex-wrap items-center gap-3">
          <h1 className="text-xl font-semibold">{bot.name}</h1>
          <span className="font-mono text-sm text-muted">
            {bot.symbol} · {bot.timeframe}
          </span>
          <StageBadge stage={bot.stage} />
          {bot.archived_at && (
            <span className="rounded-md border border-line px-1.5 py-0.5 text-xs text-muted" title={`archived by ${bot.archived_by ?? "?"}`}>
              Archived
            </span>
          )}
          <span data-testid="bot-status" className="inline-flex">
            <StatusBadge status={bot.status} />
          </span>
          <AutonomyCompact score={summary.autonomy?.score} tier={summary.autonomy?.tier} />
          <BreakerBadge scopes={summary.open_breakers} />
          <PanelStatus query={query} />
          {/* The callout below carries the button while the bot is not trading. */}
          {!NOT_TRADING[bot.status] && (
            <div className="ml-auto">
              <Button onClick={openWhyNot}>
                <CircleHelp size={14} aria-hidden /> Why not trading
              </Button>
            </div>
          )}
        </div>
        {query.isError && <QueryError error={query.error} />}
        <RunnerFacts detail={detail} />
        <div className="flex flex-wrap items-center gap-2">
          <LifecycleActions bot={bot} runtimeLatched={Boolean(detail.runner?.kill_reason)} autonomy={summary.autonomy ?? null} onDone={setNotice} />
          <span className="mx-1 h-5 w-px bg-line" aria-hidden />
          <EditBotButton bot={bot} onSaved={setNotice} />
        </div>
        <DeskActions bot={bot} onDone={setNotice} />
        {notice && (
          <p role="status" className="rounded-md border border-ok/40 bg-ok/10 px-3 py-1.5 text-sm">
            {notice}
          </p>
        )}
      </header>

      <NotTradingCallout status={bot.status} killReason={detail.runner?.kill_reason} onWhyNot={openWhyNot} />

      <div className="grid gap-4 lg:grid-cols-2">
        <PositionCard botId={botId} symbol={bot.symbol} summary={summary} summaryQuery={query} timeframe={bot.timeframe} maxDataAgeSeconds={bot.risk_limits.max_data_age_seconds} />
        <div className="min-w-0">
          <AutonomyScore botId={botId} />
        </div>
      </div>

      <RiskLimitsCard bot={bot} />

      <EquityCurve botId={botId} />

      <TracesSection botId={botId} botName={bot.name} tab={tab} onTab={(t) => setSearch({ panel: "traces", tab: t, trace: undefined })} focus={search.panel === "traces"} />

      <TradesTable botId={botId} botName={bot.name} />
      <BotBacktests botId={botId} />
      <OrdersTable botId={botId} botName={bot.name} />

      {search.panel === "why-not" && <WhyNotDrawer botId={botId} onClose={closeWhyNot} />}
    </div>
  );
}

function BackLink() {
  return (
    <Link to="/bots" className="inline-flex items-center gap-1 self-start text-sm text-muted hover:text-fg">
      <ArrowLeft size={14} aria-hidden /> Bots
    </Link>
  );
}
