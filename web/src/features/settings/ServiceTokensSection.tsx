import { useCallback, useState } from "react";
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { KeySquare, Plus } from "lucide-react";
import { api, unwrap } from "../../api/client";
import { isApiError } from "../../api/errors";
import { Badge, type Tone } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { useActionGate } from "../../lib/health";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { serviceTokensQuery, type ServiceToken } from "../../queries/settings";
import { ActionError } from "./ActionError";
import { Forbidden } from "./AdminOnly";
import { CopyButton } from "./CopyButton";
import { FormDialog, TextField } from "./Dialog";
import { LeaveGuard } from "./LeaveGuard";

/** The token's state from its own fields: REVOKED, EXPIRED (expires_at passed) or ACTIVE. */
export function tokenState(t: ServiceToken, now: number): { label: string; tone: Tone } {
  if (t.revoked_at) return { label: "REVOKED", tone: "neutral" };
  const expires = parseTime(t.expires_at);
  if (expires != null && expires <= now) return { label: "EXPIRED", tone: "warn" };
  return { label: "ACTIVE", tone: "ok" };
}

interface Created {
  name: string;
  token: string;
}

export function ServiceTokensSection() {
  const tokens = useInfiniteQuery(serviceTokensQuery);
  const client = useQueryClient();
  const gate = useActionGate(["/api/service-tokens"]);
  const now = useNow(5000);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<Created | null>(null);
  const [revoking, setRevoking] = useState<ServiceToken | null>(null);

  const revoke = useMutation({
    mutationFn: (t: ServiceToken) => unwrap(api.DELETE("/api/service-tokens/{id}", { params: { path: { id: t.id } } })),
    onSuccess: () => {
      setRevoking(null);
      void client.invalidateQueries({ queryKey: ["/api/service-tokens"] });
    },
  });
  const { reset } = revoke;
  const closeRevoke = useCallback(() => {
    setRevoking(null);
    reset();
  }, [reset]);
  const closeCreate = useCallback(() => setCreating(false), []);

  if (tokens.isError && isApiError(tokens.error) && tokens.error.forbidden) {
    return <Forbidden title="Service tokens" what="service tokens" error={tokens.error} />;
  }
  const items = tokens.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <Card
      title="Service tokens"
      status={<PanelStatus query={tokens} />}
      actions={
        <Button size="sm" variant="primary" disabledReason={gate ?? (created ? "Save the new token first." : null)} onClick={() => setCreating(true)}>
          <Plus size={12} aria-hidden /> New token
        </Button>
      }
    >
      <p className="mb-3 text-sm text-muted">
        Bearer credentials for internal writers (e.g. a runner posting decision traces). The value is shown once at
        creation; the server keeps only its hash.
      </p>
      {created && <NewTokenValue created={created} onDone={() => setCreated(null)} />}
      {tokens.isError && !tokens.data ? (
        <QueryError error={tokens.error} />
      ) : tokens.isPending ? null : items.length === 0 ? (
        <EmptyState title="No service tokens" reason="None has been created yet, so no internal writer can post to the API. Create one for each writer that needs it." />
      ) : (
        <div className="relative overflow-x-auto" tabIndex={0}>
          <table className="w-full text-left text-sm">
            <thead className="text-xs text-muted">
              <tr className="border-b border-line">
                <th className="py-2 pr-3 font-medium">Name</th>
                <th className="py-2 pr-3 font-medium">Scopes</th>
                <th className="py-2 pr-3 font-medium">State</th>
                <th className="py-2 pr-3 font-medium">Created</th>
                <th className="py-2 pr-3 font-medium">Expires</th>
                <th className="py-2 pr-3 font-medium">Last used</th>
                <th className="py-2 font-medium"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {items.map((t) => {
                const state = tokenState(t, now);
                const used = parseTime(t.last_used_at);
                return (
                  <tr key={t.id} className="border-b border-line/60" data-testid="token-row">
                    <td className="py-2 pr-3 font-medium">{t.name}</td>
                    <td className="py-2 pr-3">
                      <span className="flex flex-wrap gap-1">
                        {t.scopes.map((s) => (
                          <Badge key={s} tone="info">{s}</Badge>
                        ))}
                      </span>
                    </td>
                    <td className="py-2 pr-3">
                      <Badge tone={state.tone} title={t.revoked_at ? `revoked ${formatTime(t.revoked_at)}` : undefined}>{state.label}</Badge>
                    </td>
                    <td className="py-2 pr-3">{formatTime(t.created_at)}</td>
                    <td className="py-2 pr-3">{formatTime(t.expires_at)}</td>
                    <td className="py-2 pr-3" title={t.last_used_at ? formatTime(t.last_used_at) : undefined}>
                      {used ? ago(used, now) : <span className="text-muted">never used</span>}
                    </td>
                    <td className="py-2 text-right">
                      {!t.revoked_at && (
                        <Button size="sm" variant="danger" aria-label={`Revoke ${t.name}`} disabledReason={gate} onClick={() => setRevoking(t)}>
                          Revoke
                        </Button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {tokens.hasNextPage && (
            <div className="mt-3">
              <Button size="sm" onClick={() => void tokens.fetchNextPage()} disabled={tokens.isFetchingNextPage}>
                {tokens.isFetchingNextPage ? "Loading…" : "Load more tokens"}
              </Button>
            </div>
          )}
        </div>
      )}
      {revoking && (
        <ConfirmDialog
          title="Revoke service token"
          consequences={
            <>
              <strong className="text-fg">{revoking.name}</strong> ({revoking.scopes.join(", ")}) stops working at once: every
              request with it gets 401. This cannot be undone; create a new token to restore access.
            </>
          }
          confirmLabel="Revoke"
          danger
          busy={revoke.isPending}
          error={revoke.error ? <QueryError error={revoke.error} /> : null}
          onConfirm={() => revoke.mutate(revoking)}
          onCancel={closeRevoke}
        />
      )}
      {creating && (
        <CreateTokenDialog
          onCancel={closeCreate}
          onCreated={(c) => {
            setCreating(false);
            setCreated(c);
          }}
        />
      )}
    </Card>
  );
}

/** The new token's value, once: copy it, tick "I saved it", and it is gone. */
function NewTokenValue({ created, onDone }: { created: Created; onDone: () => void }) {
  const [saved, setSaved] = useState(false);
  return (
    <div className="mb-4 flex flex-col gap-3 rounded-md border border-warn/50 bg-warn/10 p-3" data-testid="new-token">
      <div className="flex items-center gap-2 text-sm font-medium">
        <KeySquare size={14} className="text-warn" aria-hidden />
        Token “{created.name}” created. Copy it now: it will not be shown again.
      </div>
      <div className="flex flex-wrap items-center gap-2">
        <code aria-label="Service token value" className="break-all rounded-md border border-line bg-surface px-2 py-1 font-mono text-xs select-all">
          {created.token}
        </code>
        <CopyButton text={created.token} label="Copy token" />
      </div>
      <p className="text-xs text-muted">Send it as <code className="font-mono">Authorization: Bearer &lt;token&gt;</code>.</p>
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" checked={saved} onChange={(e) => setSaved(e.target.checked)} />
        I saved it
      </label>
      <div>
        <Button variant="primary" size="sm" disabledReason={saved ? null : "Tick \u201cI saved it\u201d first: the value is not shown again."} onClick={onDone}>
          Done
        </Button>
      </div>
      <LeaveGuard active={!saved} title="Leave without saving the token?">
        The token value will not be shown again. If you leave without copying it, revoke this token and create a new one.
      </LeaveGuard>
    </div>
  );
}

const DEFAULT_SCOPE = "traces:write";

function CreateTokenDialog({ onCancel, onCreated }: { onCancel: () => void; onCreated: (c: Created) => void }) {
  const client = useQueryClient();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState(DEFAULT_SCOPE);
  const [days, setDays] = useState("90");
  const create = useMutation({
    gcTime: 0,
    mutationFn: () =>
      unwrap(
        api.POST("/api/service-tokens", {
          body: {
            name: name.trim(),
            scopes: scopes.split(/[\s,]+/).filter(Boolean),
            expires_in_days: Number(days),
          },
        }),
      ),
  });
  const known = knownScopes(create.error);
  const daysOk = /^\d+$/.test(days) && Number(days) >= 1 && Number(days) <= 365;
  return (
    <FormDialog
      title="New service token"
      description="A bearer token for one internal writer. Name it after the writer that will hold it."
      submitLabel="Create token"
      busy={create.isPending}
      canSubmit={name.trim().length > 0 && scopes.trim().length > 0 && daysOk}
      error={
        <>
          <ActionError error={create.error} />
          {known && (
            <p className="text-xs text-muted">
              Scopes the server accepts:{" "}
              {known.map((s) => (
                <button key={s} type="button" className="mr-1 font-mono text-accent underline" onClick={() => setScopes(s)}>
                  {s}
                </button>
              ))}
            </p>
          )}
        </>
      }
      onCancel={onCancel}
      onSubmit={() =>
        create.mutate(undefined, {
          onSuccess: (body) => {
            void client.invalidateQueries({ queryKey: ["/api/service-tokens"] });
            const c = { name: body.service_token.name, token: body.token };
            create.reset();
            onCreated(c);
          },
        })
      }
    >
      <TextField label="Name" placeholder="runner-1 traces" maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
      <TextField label="Scopes" value={scopes} onChange={(e) => setScopes(e.target.value)} hint="Comma-separated, e.g. traces:write. The server refuses scopes no route accepts." />
      <TextField
        label="Lifetime (days)"
        type="number"
        min={1}
        max={365}
        value={days}
        onChange={(e) => setDays(e.target.value)}
        hint={daysOk ? "1–365 days; the token stops working after that." : <span className="text-warn">Enter 1–365 days.</span>}
      />
    </FormDialog>
  );
}

/** `known_scopes` from a VALIDATION_FAILED answer about scopes, if the server sent them. */
function knownScopes(error: unknown): string[] | null {
  if (!isApiError(error) || !error.details || typeof error.details !== "object") return null;
  const k = (error.details as Record<string, unknown>).known_scopes;
  return Array.isArray(k) && k.every((s) => typeof s === "string") ? (k as string[]) : null;
}
