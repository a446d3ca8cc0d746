// "Does anything need me?": the needs-attention queue at the top of the Overview. One row per
// item, SEV-1 first then oldest first: severity, what (bot name, provider, job), since when,
// the message, the fix and a link to where it is handled. "Nothing needs you" only when the
// queue and the system status both answered empty just now (see `queueVerdict`).
import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { AlertTriangle, CheckCircle2, ChevronRight } from "lucide-react";
import { Badge, SeverityBadge } from "../../components/Badge";
import { Card } from "../../components/Card";
import { PanelStatus } from "../../components/PanelStatus";
import { cn } from "../../lib/cn";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { attentionQuery, type AttentionItem } from "../../queries/attention";
import { systemStatusQuery } from "../../queries/status";
import { queueVerdict } from "./attention";

/** Routes an item may link to; anything else falls back to the Overview. */
const ROUTES = ["/", "/connections", "/proof-of-use", "/events", "/bots", "/autonomy", "/jobs", "/nodes", "/ai-ops", "/settings"] as const;

/** The page a route shows, by the name the navigation gives it. */
const PAGE_NAMES: Record<string, string> = {
  "/": "Overview",
  "/connections": "Connections",
  "/proof-of-use": "Proof of Use",
  "/events": "Events",
  "/bots": "Bots",
  "/autonomy": "Autonomy",
  "/jobs": "Jobs",
  "/nodes": "Nodes",
  "/ai-ops": "AI Ops",
  "/settings": "Settings",
};

function ItemLink({ link, botName }: { link: string; botName: string | null }) {
  const [path = "/", query = ""] = link.split("?");
  const search = Object.fromEntries(new URLSearchParams(query));
  const className = "inline-flex items-center gap-0.5 self-start text-sm text-accent hover:underline";
  const bot = /^\/bots\/([0-9a-f-]{36})$/.exec(path);
  const label = (
    <>
      Open {bot ? (botName ?? "the bot") : (PAGE_NAMES[path] ?? "Overview")}
      <ChevronRight size={14} aria-hidden />
    </>
  );
  if (bot?.[1]) {
    return (
      <Link to="/bots/$botId" params={{ botId: bot[1] }} className={className} data-testid="attention-link">
        {label}
      </Link>
    );
  }
  const to = ROUTES.find((r) => r === path) ?? "/";
  return (
    <Link to={to} search={search} className={className} data-testid="attention-link">
      {label}
    </Link>
  );
}

function subjectLabel(item: AttentionItem): string | null {
  const s = item.subject;
  if (s.kind === "bot") return s.name ?? s.id ?? null;
  if (s.kind === "provider") return s.name ?? null;
  if (s.kind === "job") return `${s.name ?? "job"} job${s.bot_name ? ` · ${s.bot_name}` : ""}`;
  return null;
}

function QueueItem({ item, now }: { item: AttentionItem; now: number }) {
  const since = parseTime(item.since);
  const subject = subjectLabel(item);
  return (
    <li data-testid="attention-item" data-code={item.code} className="flex flex-col gap-1 py-3 first:pt-0 last:pb-0">
      <div className="flex flex-wrap items-center gap-2">
        <SeverityBadge severity={item.severity} />
        <span className="font-mono text-xs font-semibold">{item.code}</span>
        {subject && (
          <span className="min-w-0 break-words text-sm font-medium" title={item.subject.id ?? undefined} data-testid="attention-subject">
            {subject}
          </span>
        )}
        {since !== null && (
          <span className="text-xs text-muted" title={formatTime(item.since)}>
            since {ago(since, now)}
          </span>
        )}
      </div>
      <p className="break-words text-sm">{item.message}</p>
      <p className="break-words text-sm text-muted">
        <span className="font-medium text-fg">Fix: </span>
        {item.fix}
      </p>
      <ItemLink link={item.link} botName={item.subject.kind === "bot" ? (item.subject.name ?? null) : null} />
    </li>
  );
}

export function AttentionQueue() {
  const queue = useQuery(attentionQuery);
  const status = useQuery(systemStatusQuery);
  const now = useNow(1000);
  const items = queue.data?.items ?? null;
  const verdict = queueVerdict({
    queue: { status: queue.status, dataUpdatedAt: queue.dataUpdatedAt, isError: queue.isError, items: items?.length ?? null },
    status: { status: status.status, dataUpdatedAt: status.dataUpdatedAt, isError: status.isError, blockers: status.data?.blockers.length ?? null },
    now,
  });
  const counts = queue.data?.counts;
  return (
    <Card
      title="Needs attention"
      status={
        <>
          {counts && counts.sev1 > 0 && <Badge tone="bad">{counts.sev1} SEV-1</Badge>}
          {counts && counts.sev2 > 0 && <Badge tone="warn">{counts.sev2} SEV-2</Badge>}
          {counts && counts.sev3 > 0 && <Badge tone="info">{counts.sev3} SEV-3</Badge>}
          <PanelStatus query={queue} />
        </>
      }
    >
      {verdict.kind === "loading" && <p className="text-sm text-muted">Loading…</p>}
      {verdict.kind === "unknown" && (
        <p role="alert" className="flex items-center gap-2 text-sm text-warn" data-testid="attention-unknown">
          <AlertTriangle size={14} aria-hidden /> Unknown: {verdict.reason}, so whether anything needs you is not known.
        </p>
      )}
      {verdict.kind === "unconfirmed" && (
        <p className="text-sm text-muted" data-testid="attention-unconfirmed">
          No item in the last answer, but not confirmed: {verdict.reason}.
        </p>
      )}
      {verdict.kind === "empty" && (
        <p role="status" className="flex items-center gap-2 text-sm font-medium" data-testid="attention-empty">
          <CheckCircle2 size={16} className="text-ok" aria-hidden /> Nothing needs you.
          <span className="font-normal text-muted">The queue and the system status were both read just now.</span>
        </p>
      )}
      {verdict.kind === "items" && items && (
        <>
          {verdict.stale && (
            <p className="mb-2 text-xs text-warn">Stale: these items are from the last good answer; what holds now is unknown.</p>
          )}
          <ul aria-label="Needs attention" className={cn("divide-y divide-line", verdict.stale && "opacity-70")}>
            {items.map((item, i) => (
              <QueueItem key={`${item.code}-${item.subject.id ?? ""}-${i}`} item={item} now={now} />
            ))}
          </ul>
        </>
      )}
    </Card>
  );
}
