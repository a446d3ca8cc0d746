// A failed action in full: code, message, suggested fix, trace id, and — for safe-start and
// promotion refusals — every failed gate the server listed in `details.failed`.
import { isApiError } from "../api/errors";
import { Badge } from "./Badge";
import { TraceId } from "./TraceId";

interface FailedGate {
  code: string;
  message: string;
  suggested_fix?: string;
}

export function failedGates(details: unknown): FailedGate[] {
  if (!details || typeof details !== "object") return [];
  const failed = (details as { failed?: unknown }).failed;
  if (!Array.isArray(failed)) return [];
  return failed.filter((f): f is FailedGate => Boolean(f) && typeof f === "object" && typeof f.code === "string" && typeof f.message === "string");
}

/** Env vars the server says are missing (INTEGRATION_KEY_MISSING). */
function missingEnvVars(details: unknown): string[] {
  if (!details || typeof details !== "object") return [];
  const v = (details as { missing_env_vars?: unknown }).missing_env_vars;
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

export function ActionError({ error }: { error: unknown }) {
  const api = isApiError(error) ? error : null;
  const gates = failedGates(api?.details);
  const missing = missingEnvVars(api?.details);
  return (
    <div role="alert" className="rounded-md border border-bad/40 bg-bad/10 p-3 text-sm" data-testid="action-error">
      <p className="flex flex-wrap items-center gap-2 font-medium text-bad">
        <Badge tone="bad">{api?.code ?? "ERROR"}</Badge>
        <span>{error instanceof Error ? error.message : String(error)}</span>
      </p>
      {api?.suggestedFix && <p className="mt-1 text-fg">Fix: {api.suggestedFix}</p>}
      {missing.length > 0 && <p className="mt-1 text-muted">Missing: <span className="font-mono">{missing.join(", ")}</span></p>}
      {gates.length > 0 && (
        <ul className="mt-2 flex flex-col gap-2" aria-label="Failed gates">
          {gates.map((g, i) => (
            <li key={`${g.code}-${i}`} className="rounded border border-line bg-surface p-2">
              <p className="flex flex-wrap items-center gap-2">
                <Badge tone="bad">{g.code}</Badge>
                <span>{g.message}</span>
              </p>
              {g.suggested_fix && <p className="mt-1 text-xs text-muted">Fix: {g.suggested_fix}</p>}
            </li>
          ))}
        </ul>
      )}
      <p className="mt-2 flex flex-wrap items-center gap-2 text-xs text-muted">
        {api?.endpoint && <span className="font-mono">{api.endpoint}</span>}
        {api?.status ? <span>HTTP {api.status}</span> : null}
        <TraceId id={api?.traceId} />
      </p>
    </div>
  );
}
