import { isApiError } from "../../api/errors";
import { QueryError } from "../../components/PanelStatus";

/** A failed action's error (code, message, fix, trace id), plus the wait a 429 asks for. */
export function ActionError({ error }: { error: unknown }) {
  if (!error) return null;
  const wait = isApiError(error) ? error.retryAfterSecs : null;
  return (
    <div className="flex flex-col gap-1">
      <QueryError error={error} />
      {wait != null && <p className="text-xs text-warn">Too many attempts: try again in {wait} s.</p>}
    </div>
  );
}
