import { AlertCircle, Clock } from "lucide-react";
import type { ApiError } from "../../api/errors";
import { TraceId } from "../../components/TraceId";

/**
 * One sign-in failure in plain words: what happened (`headline`, else the server's message),
 * what to do, and the code and trace id for a report.
 */
export function LoginError({ error, headline, detail }: { error: ApiError; headline?: string; detail?: string }) {
  return (
    <div role="alert" className="rounded-md border border-bad/40 bg-bad/10 p-3 text-sm">
      <p className="flex items-start gap-2 font-medium text-bad">
        <AlertCircle size={16} className="mt-0.5 shrink-0" aria-hidden />
        <span>{headline ?? error.message}</span>
      </p>
      {detail && <p className="mt-1 pl-6">{detail}</p>}
      {error.suggestedFix && <p className="mt-1 pl-6 text-muted">{error.suggestedFix}</p>}
      <p className="mt-2 flex flex-wrap items-center gap-x-3 gap-y-1 pl-6 text-xs text-muted">
        <span className="font-mono">{error.code}</span>
        <TraceId id={error.traceId} />
      </p>
    </div>
  );
}

/** A RATE_LIMITED answer with its wait counting down (or "try again now" once it is over). */
export function ThrottledNotice({ error, secondsLeft }: { error: ApiError; secondsLeft: number }) {
  const known = error.retryAfterSecs !== null;
  return (
    <div role="alert" className="rounded-md border border-warn/40 bg-warn/10 p-3 text-sm" data-testid="throttled">
      <p className="flex items-start gap-2 font-medium text-warn">
        <Clock size={16} className="mt-0.5 shrink-0" aria-hidden />
        <span>
          Too many attempts.{" "}
          {!known
            ? "Wait a moment, then try again."
            : secondsLeft > 0
              ? `Try again in ${secondsLeft} s.`
              : "You can try again now."}
        </span>
      </p>
      <p className="mt-1 pl-6 text-muted">Repeated failures add a growing wait; it protects the account from guessing.</p>
      <p className="mt-2 flex flex-wrap items-center gap-x-3 gap-y-1 pl-6 text-xs text-muted">
        <span className="font-mono">{error.code}</span>
        <TraceId id={error.traceId} />
      </p>
    </div>
  );
}
