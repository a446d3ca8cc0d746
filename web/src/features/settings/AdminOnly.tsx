import type { ReactNode } from "react";
import { Lock } from "lucide-react";
import { isApiError } from "../../api/errors";
import { Card } from "../../components/Card";
import { TraceId } from "../../components/TraceId";
import { hasRole, useMe } from "../../queries/auth";

/** What a non-admin sees instead of an admin section: why, not an error. */
export function Forbidden({ title, what, error }: { title: string; what: string; error?: unknown }) {
  const me = useMe();
  const role = me.data?.user.role ?? "unknown";
  const api = isApiError(error) ? error : null;
  return (
    <Card title={title}>
      <div role="status" className="flex items-start gap-3 rounded-md border border-line bg-surface-2 p-4 text-sm">
        <Lock size={16} className="mt-0.5 shrink-0 text-muted" aria-hidden />
        <div className="flex flex-col gap-1">
          <p className="font-medium">Only admins can see {what}.</p>
          <p className="text-muted">
            You are signed in with the <strong className="text-fg">{role}</strong> role. Ask an admin to change your role
            under Settings → Users, or to do this for you.
          </p>
          {api && (
            <p className="flex flex-wrap items-center gap-2 text-xs text-muted">
              The server refused with {api.code}: {api.message} <TraceId id={api.traceId} short />
            </p>
          )}
        </div>
      </div>
    </Card>
  );
}

/** Renders `children` for admins only; everyone else gets the explanation (no request is made). */
export function AdminOnly({ title, what, children }: { title: string; what: string; children: ReactNode }) {
  const me = useMe();
  if (!me.data) return null;
  if (!hasRole(me.data.user.role, "admin")) return <Forbidden title={title} what={what} />;
  return <>{children}</>;
}
