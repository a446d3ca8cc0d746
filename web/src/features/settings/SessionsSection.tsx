import { useCallback, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "@tanstack/react-router";
import { LogOut } from "lucide-react";
import { api, unwrap } from "../../api/client";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { useActionGate } from "../../lib/health";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { sessionsQuery, type SessionView } from "../../queries/settings";
import { describeUserAgent } from "./userAgent";

type Pending = { kind: "one"; session: SessionView } | { kind: "others"; count: number };

export function SessionsSection() {
  const sessions = useQuery(sessionsQuery);
  const client = useQueryClient();
  const navigate = useNavigate();
  const gate = useActionGate(["/api/auth/sessions"]);
  const [pending, setPending] = useState<Pending | null>(null);
  const now = useNow(5000);

  const revoke = useMutation({
    mutationFn: async (p: Pending) => {
      if (p.kind === "one") return unwrap(api.DELETE("/api/auth/sessions/{id}", { params: { path: { id: p.session.id } } }));
      return unwrap(api.POST("/api/auth/sessions/revoke-others"));
    },
    onSuccess: (_data, p) => {
      setPending(null);
      if (p.kind === "one" && p.session.current) {
        // This browser's own session ended: nothing else can be read now.
        client.clear();
        void navigate({ to: "/login", search: {} });
        return;
      }
      void client.invalidateQueries({ queryKey: ["/api/auth/sessions"] });
    },
  });

  const items = sessions.data?.items ?? [];
  const others = items.filter((s) => !s.current).length;
  const { reset } = revoke;
  const close = useCallback(() => {
    setPending(null);
    reset();
  }, [reset]);

  return (
    <Card
      title="Sessions"
      status={<PanelStatus query={sessions} />}
      actions={
        <Button
          variant="danger"
          size="sm"
          disabledReason={gate ?? (sessions.data && others === 0 ? "No other sessions are signed in." : null)}
          disabled={!sessions.data}
          onClick={() => setPending({ kind: "others", count: others })}
        >
          <LogOut size={12} aria-hidden /> Sign out all other sessions
        </Button>
      }
    >
      <p className="mb-3 text-sm text-muted">
        Browsers signed in to your account. A session ends after 15 minutes idle or 12 hours in total (the server's defaults: TRADEPLANE_SESSION_IDLE_MINUTES, TRADEPLANE_SESSION_ABSOLUTE_HOURS); ending one here
        signs that browser out at once.
      </p>
      {sessions.isError && !sessions.data ? (
        <QueryError error={sessions.error} />
      ) : sessions.isPending ? null : items.length === 0 ? (
        <EmptyState title="No live sessions listed" reason="The server returned no session, not even this one. Reload the page; if it persists, your session may have just expired." />
      ) : (
        <div className="relative overflow-x-auto" tabIndex={0}>
          <table className="w-full text-left text-sm">
            <thead className="text-xs text-muted">
              <tr className="border-b border-line">
                <th className="py-2 pr-3 font-medium">Device</th>
                <th className="py-2 pr-3 font-medium">IP address</th>
                <th className="py-2 pr-3 font-medium">Signed in</th>
                <th className="py-2 pr-3 font-medium">Last seen</th>
                <th className="py-2 pr-3 font-medium">Expires</th>
                <th className="py-2 pr-3 font-medium">Step-up</th>
                <th className="py-2 font-medium"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {items.map((s) => {
                const device = describeUserAgent(s.user_agent);
                const seen = parseTime(s.last_seen_at);
                return (
                  <tr key={s.id} className="border-b border-line/60 align-top" data-testid="session-row">
                    <td className="py-2 pr-3">
                      <div className="flex flex-wrap items-center gap-2">
                        <span title={s.user_agent ?? undefined}>{device ?? "Unknown device (no user agent sent)"}</span>
                        {s.current && <Badge tone="info">This session</Badge>}
                      </div>
                    </td>
                    <td className="py-2 pr-3 font-mono text-xs">{s.ip ?? "unknown"}</td>
                    <td className="py-2 pr-3">{formatTime(s.created_at)}</td>
                    <td className="py-2 pr-3" title={formatTime(s.last_seen_at)}>{seen ? ago(seen, now) : "unknown"}</td>
                    <td className="py-2 pr-3">{formatTime(s.expires_at)}</td>
                    <td className="py-2 pr-3">{s.step_up_at ? formatTime(s.step_up_at) : <span className="text-muted">none</span>}</td>
                    <td className="py-2 text-right">
                      <Button
                        size="sm"
                        disabledReason={gate}
                        aria-label={s.current ? "Sign out this session" : `Revoke session ${device ?? s.id}`}
                        onClick={() => setPending({ kind: "one", session: s })}
                      >
                        {s.current ? "Sign out here" : "Revoke"}
                      </Button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {pending && (
        <ConfirmDialog
          title={pending.kind === "others" ? "Sign out all other sessions" : pending.session.current ? "Sign out this session" : "Revoke session"}
          consequences={
            pending.kind === "others"
              ? `${pending.count} other session${pending.count === 1 ? "" : "s"} will be signed out at once. This browser stays signed in.`
              : pending.session.current
                ? "This browser is signed out at once and you return to the sign-in page."
                : `${describeUserAgent(pending.session.user_agent) ?? "This device"} (${pending.session.ip ?? "unknown IP"}), last seen ${formatTime(pending.session.last_seen_at)}, is signed out at once.`
          }
          confirmLabel={pending.kind === "others" ? "Sign out others" : pending.session.current ? "Sign out" : "Revoke"}
          danger
          busy={revoke.isPending}
          error={revoke.error ? <QueryError error={revoke.error} /> : null}
          onConfirm={() => revoke.mutate(pending)}
          onCancel={close}
        />
      )}
    </Card>
  );
}
