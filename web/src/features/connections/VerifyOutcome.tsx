import { Badge, type Tone } from "../../components/Badge";
import { QueryError } from "../../components/PanelStatus";
import { TraceId } from "../../components/TraceId";
import { formatTime } from "../../lib/time";
import type { VerifyAnswer } from "../../queries/integrations";

const OUTCOME: Record<string, { tone: Tone; text: string }> = {
  ok: { tone: "ok", text: "Verify passed: the vendor accepted the credentials" },
  invalid_credentials: { tone: "bad", text: "The vendor rejected the credentials" },
  insufficient_plan: { tone: "bad", text: "The key is valid but its plan lacks this access" },
  rate_limited: { tone: "warn", text: "The vendor is throttling; nothing was proven" },
  unreachable: { tone: "warn", text: "The endpoint did not answer in time" },
  provider_error: { tone: "bad", text: "The vendor answered with an error" },
  unverifiable: { tone: "neutral", text: "This vendor cannot prove a key without a billed call" },
};

/** What the latest Verify click returned (or why it failed), with its trace id. */
export function VerifyOutcome({ answer, error }: { answer?: VerifyAnswer; error?: unknown }) {
  if (error) {
    return (
      <div data-testid="verify-outcome">
        <p className="mb-1 text-xs font-semibold text-muted uppercase">Verify failed</p>
        <QueryError error={error} />
      </div>
    );
  }
  if (!answer) return null;
  const o = OUTCOME[answer.outcome] ?? { tone: "neutral" as Tone, text: "Unrecognised outcome" };
  return (
    <div role="status" className="rounded-md border border-line bg-surface-2 p-3 text-sm" data-testid="verify-outcome">
      <div className="flex flex-wrap items-center gap-2">
        <Badge tone={o.tone}>{answer.outcome}</Badge>
        <span className="font-medium">{o.text}</span>
      </div>
      <p className="mt-1 text-muted">{answer.message}</p>
      <dl className="mt-2 flex flex-wrap gap-x-4 gap-y-1 text-xs text-muted">
        {answer.error_code && (
          <div className="flex gap-1">
            <dt>Error</dt>
            <dd className="font-mono text-fg">{answer.error_code}</dd>
          </div>
        )}
        <div className="flex gap-1">
          <dt>Latency</dt>
          <dd className="text-fg tabular-nums">{answer.latency_ms} ms</dd>
        </div>
        <div className="flex gap-1">
          <dt>At</dt>
          <dd className="text-fg">{formatTime(answer.verified_at)}</dd>
        </div>
        {answer.sandbox && (
          <div>
            <dd>
              <Badge tone="warn">sandbox endpoint</Badge>
            </dd>
          </div>
        )}
      </dl>
      <div className="mt-2">
        <TraceId id={answer.trace_id} />
      </div>
    </div>
  );
}
