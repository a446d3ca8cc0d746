// Explain (an AI action) in a drawer: on request, a plain-language account of why the bot is or
// isn't trading, built by the server only from the bot's traces, events and trades; the answer's
// citations link to those records. Without a usable LLM the refusal (AI_PROVIDER_UNAVAILABLE or
// AI_BUDGET_EXCEEDED, with its fix and trace id) is shown here alone: the rest of the page is
// unaffected.
import { Link } from "@tanstack/react-router";
import { Sparkles } from "lucide-react";
import { ActionError } from "../../components/ActionError";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { isApiError } from "../../api/errors";
import { formatTime } from "../../lib/time";
import { useExplain, type Citation, type Explanation } from "../../queries/ai";

const KIND_LABEL: Record<Citation["kind"], string> = {
  decision: "decision",
  no_trade: "no-trade",
  event: "event",
};

/** Where a cited record is shown: the bot's trace viewer, its Why-not drawer, or the event list. */
export function citationLink(botId: string, c: Citation): { to: string; search: Record<string, string> } {
  switch (c.kind) {
    case "decision":
      return { to: `/bots/${botId}`, search: { panel: "traces", tab: "decision", trace: c.trace_id } };
    case "no_trade":
      return { to: `/bots/${botId}`, search: { panel: "why-not", trace: c.trace_id } };
    case "event":
      return { to: "/events", search: { bot: botId, code: c.code, event: c.record_id } };
  }
}

function Answer({ botId, e }: { botId: string; e: Explanation }) {
  return (
    <div className="flex flex-col gap-3" data-testid="explain-answer">
      <p className="whitespace-pre-wrap text-sm">{e.text}</p>
      <div>
        <h4 className="text-xs font-semibold text-muted">Cited records ({e.citations.length})</h4>
        {e.citations.length === 0 ? (
          <p className="text-xs text-muted">The answer cites no trace id of this bot's records.</p>
        ) : (
          <ul className="mt-1 flex flex-col gap-1" aria-label="Citations">
            {e.citations.map((c) => {
              const link = citationLink(botId, c);
              return (
                <li key={c.trace_id} className="flex flex-wrap items-center gap-2 text-xs" data-citation={c.trace_id}>
                  <Badge tone={c.kind === "event" ? "info" : c.kind === "decision" ? "ok" : "warn"}>{KIND_LABEL[c.kind]}</Badge>
                  <span className="font-mono">{c.code}</span>
                  <span className="text-muted">{formatTime(c.at)}</span>
                  <Link to={link.to} search={link.search as never} className="font-mono text-accent hover:underline" aria-label={`Open ${KIND_LABEL[c.kind]} trace ${c.trace_id}`}>
                    trace {c.trace_id}
                  </Link>
                </li>
              );
            })}
          </ul>
        )}
        {e.unverified_citations.length > 0 && (
          <p className="mt-1 text-xs text-warn" data-testid="unverified-citations">
            The answer also names {e.unverified_citations.length === 1 ? "an id that is" : "ids that are"} not among this bot's records (not linked):{" "}
            <span className="font-mono">{e.unverified_citations.join(", ")}</span>
          </p>
        )}
      </div>
      <p className="flex flex-wrap gap-x-3 text-xs text-muted">
        <span>
          Answered by <span className="font-mono">{e.provider_id}</span> / <span className="font-mono">{e.model}</span>
        </span>
        {e.attempts.length > 1 && <span>after {e.attempts.length - 1} failover{e.attempts.length > 2 ? "s" : ""} ({e.attempts.filter((a) => a.error_code).map((a) => `${a.provider_id} ${a.error_code}`).join(", ")})</span>}
        <span>
          from {e.traces_used} traces, {e.events_used} events, {e.trades_used} trades
        </span>
        <span>
          {e.input_tokens + e.output_tokens} tokens{e.cost_usd ? `, ${e.cost_usd} USD` : ""}
        </span>
        <span>{formatTime(e.generated_at)}</span>
      </p>
    </div>
  );
}

/** The Explain section of a drawer about `botId`. */
export function ExplainPanel({ botId }: { botId: string }) {
  const explain = useExplain(botId);
  const refused = isApiError(explain.error) && (explain.error.code === "AI_PROVIDER_UNAVAILABLE" || explain.error.code === "AI_BUDGET_EXCEEDED");
  return (
    <section aria-label="Explain" className="flex flex-col gap-3 rounded-lg border border-line p-4" data-testid="explain-panel">
      <div className="flex flex-wrap items-center gap-2">
        <h3 className="flex items-center gap-2 text-sm font-semibold">
          <Sparkles size={15} aria-hidden /> Explain (AI)
        </h3>
        <Button size="sm" className="ml-auto" disabled={explain.isPending} onClick={() => explain.mutate()}>
          {explain.isPending ? "Asking the LLM…" : explain.data ? "Explain again" : "Explain"}
        </Button>
      </div>
      <p className="text-xs text-muted">
        A plain-language account of why this bot is or isn't trading, written by the configured LLM from this bot's traces, events and trades only, citing the
        traces it used. The prompt and answer are kept for audit.
      </p>
      {explain.isError && (
        <div className="flex flex-col gap-1" data-testid="explain-refusal">
          <ActionError error={explain.error} />
          {refused && <p className="text-xs text-muted">Only Explain is affected: the bot, its traces and every other action work as before.</p>}
        </div>
      )}
      {explain.data && <Answer botId={botId} e={explain.data} />}
    </section>
  );
}
