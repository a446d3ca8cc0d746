// "Review" (an AI action) on a backtest or sweep result: the server's overfitting checks
// (FEW_TRADES, ONE_REGIME, IS_OOS_GAP, MANY_COMBINATIONS), computed from the stored results
// without the LLM and each shown with the figures it used, and the LLM's plain-language
// summary. Without a usable LLM the refusal (code, fix, trace id) is shown and the checks,
// which the refusal still carries, are shown anyway.
import { Sparkles } from "lucide-react";
import { ActionError } from "../../components/ActionError";
import { Badge, type Tone } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { isApiError } from "../../api/errors";
import { checksOfRefusal, useReview, type ReviewCheck, type ReviewSubject } from "../../queries/ai";
import type { JobStatus } from "../../queries/lab";

const OUTCOME: Record<ReviewCheck["outcome"], { tone: Tone; label: string }> = {
  FLAGGED: { tone: "bad", label: "flagged" },
  PASSED: { tone: "ok", label: "passed" },
  NOT_APPLICABLE: { tone: "neutral", label: "not applicable" },
};

function figureText(v: unknown): string {
  if (v === null || v === undefined) return "n/a";
  if (Array.isArray(v)) return v.map(figureText).join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** The checks, flagged first, each with its figures. */
export function Checks({ checks }: { checks: ReviewCheck[] }) {
  const order = { FLAGGED: 0, PASSED: 1, NOT_APPLICABLE: 2 } as const;
  const sorted = [...checks].sort((a, b) => order[a.outcome] - order[b.outcome]);
  return (
    <ul className="flex flex-col gap-2" aria-label="Review checks">
      {sorted.map((c) => (
        <li key={c.code} className="rounded border border-line bg-surface-2 p-2 text-sm" data-check={c.code} data-outcome={c.outcome}>
          <p className="flex flex-wrap items-center gap-2">
            <Badge tone={OUTCOME[c.outcome].tone}>{OUTCOME[c.outcome].label}</Badge>
            <span className="font-mono text-xs font-semibold">{c.code}</span>
            <span>{c.message}</span>
          </p>
          {Object.keys(c.figures ?? {}).length > 0 && (
            <dl className="mt-1 flex flex-wrap gap-x-4 gap-y-0.5 text-xs text-muted">
              {Object.entries(c.figures as Record<string, unknown>).map(([k, v]) => (
                <div key={k} className="flex gap-1">
                  <dt>{k}</dt>
                  <dd className="font-mono text-fg">{figureText(v)}</dd>
                </div>
              ))}
            </dl>
          )}
        </li>
      ))}
    </ul>
  );
}

export function ReviewCard({ subject, id, status }: { subject: ReviewSubject; id: string; status: JobStatus }) {
  const review = useReview(subject, id);
  const finished = status === "SUCCEEDED";
  const refusedChecks = review.isError && isApiError(review.error) ? checksOfRefusal(review.error.details) : [];
  return (
    <div data-testid="review-card">
      <Card
        title={
          <span className="flex items-center gap-2">
            <Sparkles size={14} aria-hidden /> Review for overfitting (AI)
          </span>
        }
        actions={
          <Button size="sm" onClick={() => review.mutate()} disabled={review.isPending} disabledReason={finished ? null : `Only a SUCCEEDED ${subject} has results to review`}>
            {review.isPending ? "Reviewing…" : review.data ? "Review again" : "Review"}
          </Button>
        }
      >
        <div className="flex flex-col gap-3">
          <p className="text-xs text-muted">
            Checks this {subject}'s stored results for signs of overfitting — fewer than 30 trades, one market regime over the range, out-of-sample much worse than
            in-sample, 20 or more combinations tried — then asks the configured LLM to summarize them. The checks never depend on the LLM.
          </p>
          {review.isError && (
            <div className="flex flex-col gap-2" data-testid="review-refusal">
              <ActionError error={review.error} />
              {refusedChecks.length > 0 && (
                <>
                  <p className="text-xs text-muted">No summary, but the checks were computed:</p>
                  <Checks checks={refusedChecks} />
                </>
              )}
            </div>
          )}
          {review.data && (
            <div className="flex flex-col gap-3" data-testid="review-result">
              <p className="text-sm">
                {review.data.flags.length === 0 ? (
                  <Badge tone="ok">no flags</Badge>
                ) : (
                  review.data.flags.map((f) => (
                    <Badge key={f} tone="bad" className="mr-1 font-mono">
                      {f}
                    </Badge>
                  ))
                )}
              </p>
              <p className="whitespace-pre-wrap text-sm" data-testid="review-summary">
                {review.data.summary}
              </p>
              <Checks checks={review.data.checks} />
              <p className="text-xs text-muted">
                Summary by <span className="font-mono">{review.data.provider_id}</span> / <span className="font-mono">{review.data.model}</span>
                {review.data.attempts.length > 1 ? ` after ${review.data.attempts.length - 1} failover(s)` : ""} · {review.data.input_tokens + review.data.output_tokens} tokens
              </p>
            </div>
          )}
        </div>
      </Card>
    </div>
  );
}
