// The news gate of one bot (issue 19): shown only for a bot whose strategy has
// `filters.news_gate`. Its gate now (open, risk-off until when and why, or unavailable and
// why), the newest fetch and classification, and a failing classification's code.
import { useQuery } from "@tanstack/react-query";
import { Badge, type Tone } from "../../components/Badge";
import { QueryError } from "../../components/PanelStatus";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { newsGateQuery, type GatedBot } from "../../queries/newsGate";

const VERDICT: Record<GatedBot["gate"]["verdict"], { tone: Tone; word: string }> = {
  OPEN: { tone: "ok", word: "open — entries allowed" },
  RISK_OFF: { tone: "warn", word: "risk-off — new entries blocked" },
  UNAVAILABLE: { tone: "bad", word: "unavailable — closed for new entries" },
};

function At({ iso, now }: { iso: string | null | undefined; now: number }) {
  if (!iso) return <span className="text-muted">never</span>;
  const t = parseTime(iso);
  return (
    <span title={iso}>
      <span className="font-mono">{formatTime(iso)}</span>
      {t !== null && <span className="text-muted"> ({ago(t, now)})</span>}
    </span>
  );
}

/** The news gate card of `botId`; renders nothing for a bot without the gate. */
export function NewsGateCard({ botId }: { botId: string }) {
  const now = useNow(1000);
  const q = useQuery(newsGateQuery);
  if (q.isError) {
    return (
      <section aria-label="News gate" className="flex flex-col gap-1.5">
        <h4 className="text-xs font-semibold tracking-wide text-muted uppercase">News gate</h4>
        <QueryError error={q.error} />
      </section>
    );
  }
  const view = q.data;
  const bot = view?.bots.find((b) => b.bot_id === botId);
  if (!view || !bot) return null;
  const v = VERDICT[bot.gate.verdict];
  const headline = bot.gate.headline_id == null ? undefined : view.risk_off.find((h) => h.headline_id === bot.gate.headline_id);
  const s = view.status;
  return (
    <section aria-label="News gate" data-testid="news-gate" className="flex flex-col gap-2 rounded-md border border-line p-3">
      <div className="flex flex-wrap items-center gap-2">
        <h4 className="text-xs font-semibold tracking-wide text-muted uppercase">News gate</h4>
        <Badge tone={v.tone}>{v.word}</Badge>
        {bot.gate.code && <Badge tone={v.tone} className="font-mono">{bot.gate.code}</Badge>}
        <span className="ml-auto text-xs text-muted">window {bot.window_minutes} min after a risk-off headline</span>
      </div>
      {bot.gate.verdict === "RISK_OFF" && (
        <p className="text-sm" data-testid="news-gate-headline">
          “{headline?.headline ?? bot.gate.reason}”{headline?.source ? ` (${headline.source})` : ""}
          {bot.gate.until && (
            <>
              {" "}— entries resume at <At iso={bot.gate.until} now={now} />
            </>
          )}
        </p>
      )}
      {bot.gate.verdict === "UNAVAILABLE" && bot.gate.reason && <p className="text-sm text-bad">{bot.gate.reason}</p>}
      <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 text-xs">
        <dt className="text-muted">Last news fetch</dt>
        <dd>
          <At iso={s.last_fetch_ok_at} now={now} />
          {s.last_fetch_error && <span className="text-bad"> — last attempt failed: {s.last_fetch_error}</span>}
        </dd>
        <dt className="text-muted">Last classification</dt>
        <dd>
          <At iso={s.last_classify_ok_at} now={now} />
          {s.classify_error_code && (
            <span className="text-bad">
              {" "}— failing: <span className="font-mono">{s.classify_error_code}</span>
              {s.classify_error ? ` (${s.classify_error})` : ""}
            </span>
          )}
        </dd>
        <dt className="text-muted">Waiting for a class</dt>
        <dd>{s.unclassified}</dd>
      </dl>
    </section>
  );
}
