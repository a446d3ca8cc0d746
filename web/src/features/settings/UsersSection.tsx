import { useCallback, useState } from "react";
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { UserPlus } from "lucide-react";
import { api, unwrap } from "../../api/client";
import { isApiError } from "../../api/errors";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { useActionGate } from "../../lib/health";
import { formatTime, useNow } from "../../lib/time";
import { useMe } from "../../queries/auth";
import { usersQuery, type Role, type UserView } from "../../queries/settings";
import { ActionError } from "./ActionError";
import { Forbidden } from "./AdminOnly";
import { FormDialog, SelectField, TextField } from "./Dialog";
import { ROLE_MEANING, ROLES } from "./roles";
import { needsStepUp, stepUp, useStepUpState } from "./stepUp";

/** Why the caller cannot change users: every POST /api/users and PATCH /api/users/{id} needs
 *  their own recent 2FA step-up, impossible without 2FA enrolled. */
const NO_STEP_UP = "Changing users needs your own two-factor step-up: set up two-factor for your account first (Settings → Two-factor).";

type Pending =
  | { kind: "role"; user: UserView; role: Role }
  | { kind: "disable"; user: UserView; disabled: boolean }
  | { kind: "reset2fa"; user: UserView };

function patchOf(p: Pending) {
  if (p.kind === "role") return { role: p.role };
  if (p.kind === "disable") return { disabled: p.disabled };
  return { reset_two_factor: true };
}

export function UsersSection() {
  const users = useInfiniteQuery(usersQuery);
  const me = useMe();
  const client = useQueryClient();
  const gate = useActionGate(["/api/users"]);
  const now = useNow(5000);
  const step = useStepUpState(now);
  const [pending, setPending] = useState<Pending | null>(null);
  const [forceCode, setForceCode] = useState(false);
  const [creating, setCreating] = useState(false);

  const update = useMutation({
    mutationFn: async ({ p, code }: { p: Pending; code?: string }) => {
      if (code) {
        await stepUp(code);
        void client.invalidateQueries({ queryKey: ["/api/auth/me"] });
      }
      return unwrap(api.PATCH("/api/users/{id}", { params: { path: { id: p.user.id } }, body: patchOf(p) }));
    },
    onSuccess: () => {
      setPending(null);
      setForceCode(false);
      void client.invalidateQueries({ queryKey: ["/api/users"] });
    },
    onError: (e, { code }) => {
      if (needsStepUp(e)) setForceCode(true);
      // The step-up passed and the change itself failed: do not ask for a code again.
      else if (code && isApiError(e) && e.endpoint !== "/api/auth/step-up") setForceCode(false);
    },
  });
  const { reset } = update;
  const enrollGate = step.enrolled ? null : NO_STEP_UP;
  const needsCode = forceCode || !step.active;
  const close = useCallback(() => {
    setPending(null);
    setForceCode(false);
    reset();
  }, [reset]);
  const closeCreate = useCallback(() => setCreating(false), []);

  if (users.isError && isApiError(users.error) && users.error.forbidden) {
    return <Forbidden title="Users" what="users and roles" error={users.error} />;
  }
  const items = users.data?.pages.flatMap((p) => p.items) ?? [];
  const myId = me.data?.user.id;

  return (
    <Card
      title="Users"
      status={<PanelStatus query={users} />}
      actions={
        <Button size="sm" variant="primary" disabledReason={gate ?? enrollGate} onClick={() => setCreating(true)}>
          <UserPlus size={12} aria-hidden /> New user
        </Button>
      }
    >
      <ul className="mb-3 flex flex-col gap-0.5 text-xs text-muted">
        {ROLES.map((r) => (
          <li key={r}>
            <span className="font-medium text-fg">{r}</span>: {ROLE_MEANING[r]}
          </li>
        ))}
      </ul>
      {users.isError && !users.data ? (
        <QueryError error={users.error} />
      ) : users.isPending ? null : items.length === 0 ? (
        <EmptyState title="No users returned" reason="The server listed no user at all, although you are signed in as one. Reload; if it persists, check the server logs with the trace id." />
      ) : (
        <div className="relative overflow-x-auto" tabIndex={0}>
          <table className="w-full text-left text-sm">
            <thead className="text-xs text-muted">
              <tr className="border-b border-line">
                <th className="py-2 pr-3 font-medium">Email</th>
                <th className="py-2 pr-3 font-medium">Role</th>
                <th className="py-2 pr-3 font-medium">Status</th>
                <th className="py-2 pr-3 font-medium">Two-factor</th>
                <th className="py-2 pr-3 font-medium">Created</th>
                <th className="py-2 font-medium"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {items.map((u) => {
                const self = u.id === myId;
                return (
                  <tr key={u.id} className="border-b border-line/60" data-testid="user-row">
                    <td className="py-2 pr-3">
                      <span className="font-medium">{u.email}</span> {self && <Badge tone="info">you</Badge>}
                    </td>
                    <td className="py-2 pr-3">
                      <select
                        aria-label={`Role of ${u.email}`}
                        value={u.role}
                        disabled={self || Boolean(gate ?? enrollGate)}
                        title={self ? "You cannot change your own role; another admin must." : gate ?? enrollGate ?? undefined}
                        onChange={(e) => setPending({ kind: "role", user: u, role: e.target.value as Role })}
                        className="rounded-md border border-line bg-surface-2 px-2 py-1 text-sm disabled:opacity-60"
                      >
                        {ROLES.map((r) => (
                          <option key={r} value={r}>{r}</option>
                        ))}
                      </select>
                    </td>
                    <td className="py-2 pr-3">
                      {u.disabled ? (
                        <Badge tone="bad" title={u.disabled_at ? `since ${formatTime(u.disabled_at)}` : undefined}>DISABLED</Badge>
                      ) : (
                        <Badge tone="neutral">ACTIVE</Badge>
                      )}
                    </td>
                    <td className="py-2 pr-3">
                      {u.two_factor_enabled ? (
                        <span className="flex flex-wrap items-center gap-2">
                          <Badge tone="ok">{u.two_factor_method ?? "enabled"}</Badge>
                          <span className={u.backup_codes_remaining <= 3 ? "text-xs text-warn" : "text-xs text-muted"}>
                            {u.backup_codes_remaining} backup code{u.backup_codes_remaining === 1 ? "" : "s"} left
                          </span>
                        </span>
                      ) : (
                        <Badge tone="warn">not enabled</Badge>
                      )}
                    </td>
                    <td className="py-2 pr-3">{formatTime(u.created_at)}</td>
                    <td className="py-2">
                      <div className="flex justify-end gap-2">
                        {u.two_factor_enabled && (
                          <Button
                            size="sm"
                            aria-label={`Reset two-factor of ${u.email}`}
                            disabledReason={gate ?? enrollGate}
                            onClick={() => setPending({ kind: "reset2fa", user: u })}
                          >
                            Reset 2FA
                          </Button>
                        )}
                        <Button
                          size="sm"
                          variant={u.disabled ? "secondary" : "danger"}
                          aria-label={`${u.disabled ? "Enable" : "Disable"} ${u.email}`}
                          disabledReason={gate ?? (self ? "You cannot disable yourself; another admin must." : enrollGate)}
                          onClick={() => setPending({ kind: "disable", user: u, disabled: !u.disabled })}
                        >
                          {u.disabled ? "Enable" : "Disable"}
                        </Button>
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {users.hasNextPage && (
            <div className="mt-3">
              <Button size="sm" onClick={() => void users.fetchNextPage()} disabled={users.isFetchingNextPage}>
                {users.isFetchingNextPage ? "Loading…" : "Load more users"}
              </Button>
            </div>
          )}
        </div>
      )}
      {pending && (
        <ConfirmDialog
          title={
            pending.kind === "role" ? "Change role" : pending.kind === "disable" ? (pending.disabled ? "Disable user" : "Enable user") : "Reset two-factor"
          }
          consequences={<Consequences p={pending} needsCode={needsCode} />}
          confirmLabel={pending.kind === "role" ? "Change role" : pending.kind === "disable" ? (pending.disabled ? "Disable" : "Enable") : "Reset 2FA"}
          danger={pending.kind !== "role" && !(pending.kind === "disable" && !pending.disabled)}
          needsCode={needsCode}
          busy={update.isPending}
          error={update.error ? <ActionError error={update.error} /> : null}
          onConfirm={(code) => update.mutate({ p: pending, code })}
          onCancel={close}
        />
      )}
      {creating && <CreateUserDialog stepActive={step.active} onCancel={closeCreate} />}
    </Card>
  );
}

const STEP_UP_NOTE = "This needs your own step-up: enter a code from your authenticator (or a backup code).";

function Consequences({ p, needsCode }: { p: Pending; needsCode: boolean }) {
  return (
    <>
      <What p={p} />
      {needsCode && <span className="mt-2 block">{STEP_UP_NOTE}</span>}
    </>
  );
}

function What({ p }: { p: Pending }) {
  if (p.kind === "role") {
    return (
      <>
        <strong className="text-fg">{p.user.email}</strong> goes from {p.user.role} to <strong className="text-fg">{p.role}</strong>: {ROLE_MEANING[p.role]}. It applies to their next request.
      </>
    );
  }
  if (p.kind === "disable") {
    return p.disabled ? (
      <>
        <strong className="text-fg">{p.user.email}</strong> is signed out of every session at once and cannot sign in until
        re-enabled.
      </>
    ) : (
      <>
        <strong className="text-fg">{p.user.email}</strong> can sign in again with their password
        {p.user.two_factor_enabled ? " and two-factor" : ""}.
      </>
    );
  }
  return (
    <>
      <strong className="text-fg">{p.user.email}</strong> loses their authenticator and backup codes and is signed out
      everywhere. They sign in with their password only and should enroll again at once.
    </>
  );
}

function CreateUserDialog({ stepActive, onCancel }: { stepActive: boolean; onCancel: () => void }) {
  const client = useQueryClient();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [code, setCode] = useState("");
  const [forceCode, setForceCode] = useState(false);
  const needsCode = forceCode || !stepActive;
  const create = useMutation({
    mutationFn: async (stepUpCode: string | undefined) => {
      if (stepUpCode) {
        await stepUp(stepUpCode);
        void client.invalidateQueries({ queryKey: ["/api/auth/me"] });
      }
      return unwrap(api.POST("/api/users", { body: { email: email.trim(), password, role } }));
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["/api/users"] });
      onCancel();
    },
    onError: (e, stepUpCode) => {
      if (needsStepUp(e)) setForceCode(true);
      else if (stepUpCode && isApiError(e) && e.endpoint !== "/api/auth/step-up") setForceCode(false);
    },
  });
  const short = password.length > 0 && password.length < 12;
  return (
    <FormDialog
      title="New user"
      description="The user signs in with this email and password and should set up two-factor at once."
      submitLabel="Create user"
      busy={create.isPending}
      canSubmit={email.trim().length > 0 && password.length >= 12 && (!needsCode || code.trim().length > 0)}
      error={<ActionError error={create.error} />}
      onCancel={onCancel}
      onSubmit={() => create.mutate(needsCode ? code : undefined)}
    >
      <TextField label="Email" type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} />
      <TextField
        label="Initial password"
        type="password"
        autoComplete="new-password"
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        hint={short ? <span className="text-warn">At least 12 characters ({password.length} so far).</span> : "12–256 characters; no composition rules."}
      />
      <SelectField label="Role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
        {ROLES.map((r) => (
          <option key={r} value={r}>{r} — {ROLE_MEANING[r]}</option>
        ))}
      </SelectField>
      {needsCode && (
        <TextField
          label="Authenticator code"
          inputMode="numeric"
          autoComplete="one-time-code"
          value={code}
          onChange={(e) => setCode(e.target.value)}
          hint={STEP_UP_NOTE}
        />
      )}
    </FormDialog>
  );
}
