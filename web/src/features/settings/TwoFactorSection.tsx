import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ShieldCheck, ShieldOff } from "lucide-react";
import { api, unwrap } from "../../api/client";
import type { components } from "../../api/schema";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { formatTime, parseTime, useNow } from "../../lib/time";
import { stepUp, useMe } from "../../queries/auth";
import { ActionError } from "./ActionError";
import { BackupCodesPanel } from "./BackupCodes";
import { CopyButton } from "./CopyButton";
import { FormDialog, TextField } from "./Dialog";

type SetupBody = components["schemas"]["SetupBody"];

/** Secrets are held here (component state) only; these mutations are dropped from the cache at once. */
const ONCE = { gcTime: 0 } as const;

type Flow =
  | { step: "idle" }
  | { step: "password" }
  | { step: "scan"; setup: SetupBody }
  | { step: "codes"; codes: string[]; otherSessions: number; title: string };

export function TwoFactorSection() {
  const me = useMe();
  const client = useQueryClient();
  const [flow, setFlow] = useState<Flow>({ step: "idle" });
  const [regenerating, setRegenerating] = useState(false);

  const user = me.data?.user;
  const refreshAccount = () => {
    void client.invalidateQueries({ queryKey: ["/api/auth/me"] });
    void client.invalidateQueries({ queryKey: ["/api/auth/sessions"] });
  };

  return (
    <Card title="Two-factor authentication" status={<PanelStatus query={me} />}>
      {me.isPending ? null : !user ? (
        <div className="flex flex-col gap-2">
          <p className="text-sm text-muted">Your account could not be read, so its two-factor state is unknown.</p>
          <QueryError error={me.error} />
        </div>
      ) : flow.step === "scan" ? (
        <ScanStep
          setup={flow.setup}
          onCancel={() => setFlow({ step: "idle" })}
          onConfirmed={(body) => {
            refreshAccount();
            setFlow({ step: "codes", codes: body.backup_codes, otherSessions: body.other_sessions, title: "Two-factor is on. Save your backup codes" });
          }}
        />
      ) : flow.step === "codes" ? (
        <BackupCodesPanel codes={flow.codes} title={flow.title} otherSessions={flow.otherSessions} onDone={() => setFlow({ step: "idle" })} />
      ) : (
        <Status user={user} stepUpUntil={me.data?.step_up_valid_until ?? null} onEnroll={() => setFlow({ step: "password" })} onRegenerate={() => setRegenerating(true)} />
      )}
      {flow.step === "password" && (
        <PasswordStep onCancel={() => setFlow({ step: "idle" })} onReady={(setup) => setFlow({ step: "scan", setup })} />
      )}
      {regenerating && (
        <RegenerateDialog
          remaining={user?.backup_codes_remaining ?? 0}
          onCancel={() => setRegenerating(false)}
          onDone={(codes, otherSessions) => {
            setRegenerating(false);
            refreshAccount();
            setFlow({ step: "codes", codes, otherSessions, title: "New backup codes" });
          }}
        />
      )}
    </Card>
  );
}

function Status({ user, stepUpUntil, onEnroll, onRegenerate }: {
  user: components["schemas"]["UserView"];
  stepUpUntil: string | null;
  onEnroll: () => void;
  onRegenerate: () => void;
}) {
  const now = useNow(5000);
  if (!user.two_factor_enabled) {
    return (
      <div className="flex flex-col gap-3">
        <div className="flex items-center gap-2">
          <ShieldOff size={16} className="text-warn" aria-hidden />
          <Badge tone="warn">Not enabled</Badge>
          <span className="text-sm text-muted">Your account signs in with a password only.</span>
        </div>
        <p className="max-w-prose text-sm text-muted">
          Two-factor adds a 6-digit code from an authenticator app (1Password, Aegis, Google Authenticator…) to every
          sign-in. An operator or admin without it can do nothing but enroll and sign out (the first admin only after
          its grace period).
        </p>
        <p className="max-w-prose text-sm text-muted">
          It is also what step-up asks for before sensitive actions: releasing the kill switch (not activating it),
          turning trading on, globally or for a LIVE bot (not off), promotion to LIVE, a LIVE close and kill-and-flatten, reconciliation, account
          risk limits and re-arm, users and service tokens, and new backup codes.
        </p>
        <div>
          <Button variant="primary" onClick={onEnroll}>Set up two-factor</Button>
        </div>
      </div>
    );
  }
  const low = user.backup_codes_remaining <= 3;
  const stepUp = parseTime(stepUpUntil);
  return (
    <div className="flex flex-col gap-3">
      <div className="flex items-center gap-2">
        <ShieldCheck size={16} className="text-ok" aria-hidden />
        <Badge tone="ok">Enabled</Badge>
        <span className="text-sm text-muted">{user.two_factor_method ?? "method not reported"}</span>
      </div>
      <dl className="grid max-w-xl grid-cols-[max-content_1fr] gap-x-6 gap-y-1 text-sm">
        <dt className="text-muted">Enrolled</dt>
        <dd>{user.two_factor_enrolled_at ? formatTime(user.two_factor_enrolled_at) : "unknown"}</dd>
        <dt className="text-muted">Last code accepted</dt>
        <dd>{user.two_factor_last_verified_at ? formatTime(user.two_factor_last_verified_at) : "not yet used"}</dd>
        <dt className="text-muted">Backup codes left</dt>
        <dd data-testid="backup-codes-remaining" className={low ? "font-medium text-warn" : undefined}>
          {user.backup_codes_remaining} of 10{low ? " — regenerate soon" : ""}
        </dd>
        <dt className="text-muted">Step-up</dt>
        <dd>{stepUp && stepUp > now ? `valid until ${formatTime(stepUpUntil)}` : "none active"}</dd>
      </dl>
      <div>
        <Button onClick={onRegenerate}>Regenerate backup codes</Button>
      </div>
    </div>
  );
}

function PasswordStep({ onCancel, onReady }: { onCancel: () => void; onReady: (setup: SetupBody) => void }) {
  const [password, setPassword] = useState("");
  const setup = useMutation({
    ...ONCE,
    mutationFn: (pw: string) => unwrap(api.POST("/api/auth/2fa/setup", { body: { password: pw } })),
  });
  return (
    <FormDialog
      title="Set up two-factor"
      description="Confirm your password to create a new authenticator secret. Nothing changes until you confirm a code from the app."
      submitLabel="Continue"
      busy={setup.isPending}
      canSubmit={password.length > 0}
      error={<ActionError error={setup.error} />}
      onCancel={onCancel}
      onSubmit={() =>
        setup.mutate(password, {
          onSuccess: (body) => {
            setPassword("");
            // Copied into the parent's state; the mutation's copy goes now.
            setup.reset();
            onReady({ otpauth_url: body.otpauth_url, qr_png_base64: body.qr_png_base64, secret_base32: body.secret_base32 });
          },
        })
      }
    >
      <TextField label="Current password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
    </FormDialog>
  );
}

function ScanStep({ setup, onCancel, onConfirmed }: {
  setup: SetupBody;
  onCancel: () => void;
  onConfirmed: (body: components["schemas"]["BackupCodesBody"]) => void;
}) {
  const [code, setCode] = useState("");
  const confirm = useMutation({
    ...ONCE,
    mutationFn: (c: string) => unwrap(api.POST("/api/auth/2fa/confirm", { body: { code: c } })),
  });
  const submit = () =>
    confirm.mutate(code.replace(/\s+/g, ""), {
      onSuccess: (body) => {
        confirm.reset();
        onConfirmed(body);
      },
      onError: () => setCode(""),
    });
  return (
    <div className="flex flex-col gap-4">
      <ol className="flex list-decimal flex-col gap-1 pl-5 text-sm text-muted">
        <li>Scan the QR code with your authenticator app, or type the secret key in by hand.</li>
        <li>Enter the 6-digit code the app shows to turn two-factor on.</li>
      </ol>
      <p className="text-sm text-warn">The QR code and secret key are shown only now. Leaving this page cancels the setup.</p>
      <div className="flex flex-wrap items-start gap-6">
        {setup.qr_png_base64 ? (
          <img
            src={`data:image/png;base64,${setup.qr_png_base64}`}
            alt="QR code for your authenticator app"
            width={192}
            height={192}
            className="rounded-md border border-line bg-white p-2 [image-rendering:pixelated]"
          />
        ) : (
          <p className="w-48 text-sm text-muted">The server sent no QR image: enter the secret key by hand.</p>
        )}
        <div className="flex min-w-0 flex-1 flex-col gap-3">
          <div>
            <p aria-hidden className="text-xs font-medium uppercase tracking-wide text-muted">Secret key</p>
            <div className="mt-1 flex flex-wrap items-center gap-2">
              <code aria-label="Secret key" className="break-all rounded-md border border-line bg-surface-2 px-2 py-1 font-mono text-sm tracking-wider select-all">
                {setup.secret_base32}
              </code>
              <CopyButton text={setup.secret_base32} label="Copy key" />
            </div>
            <p className="mt-1 text-xs text-muted">{otpParams(setup.otpauth_url)}</p>
          </div>
          <details className="text-sm">
            <summary className="cursor-pointer text-muted">Setup link (otpauth URL)</summary>
            <div className="mt-1 flex items-center gap-2">
              <code className="break-all font-mono text-xs">{setup.otpauth_url}</code>
              <CopyButton text={setup.otpauth_url} label="Copy setup link" />
            </div>
          </details>
          <form
            className="flex flex-wrap items-end gap-2"
            onSubmit={(e) => {
              e.preventDefault();
              if (code.trim()) submit();
            }}
          >
            <TextField
              label="Authenticator code"
              className="block w-40 text-sm"
              inputMode="numeric"
              autoComplete="one-time-code"
              maxLength={8}
              value={code}
              onChange={(e) => setCode(e.target.value)}
            />
            <Button type="submit" variant="primary" disabled={confirm.isPending || code.trim().length === 0}>
              {confirm.isPending ? "Checking…" : "Confirm"}
            </Button>
            <Button onClick={onCancel}>Cancel setup</Button>
          </form>
          <ActionError error={confirm.error} />
        </div>
      </div>
    </div>
  );
}

/** "TOTP, SHA1, 6 digits, 30-second period" from the otpauth URL (RFC 6238 defaults when absent). */
export function otpParams(otpauth: string): string {
  try {
    const url = new URL(otpauth);
    const q = url.searchParams;
    const kind = url.host.toUpperCase() || "TOTP";
    return `${kind}, ${(q.get("algorithm") ?? "SHA1").toUpperCase()}, ${q.get("digits") ?? "6"} digits, ${q.get("period") ?? "30"}-second period`;
  } catch {
    return "Settings for manual entry are in the setup link.";
  }
}

function RegenerateDialog({ remaining, onCancel, onDone }: { remaining: number; onCancel: () => void; onDone: (codes: string[], otherSessions: number) => void }) {
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const client = useQueryClient();
  // New codes re-authenticate with a factor you hold (the server asks for a fresh step-up),
  // not the password alone: they would pass every later step-up.
  const regen = useMutation({
    ...ONCE,
    mutationFn: async ({ pw, factor }: { pw: string; factor: string }) => {
      await stepUp(factor);
      void client.invalidateQueries({ queryKey: ["/api/auth/me"] });
      return unwrap(api.POST("/api/auth/2fa/backup-codes", { body: { password: pw } }));
    },
  });
  return (
    <FormDialog
      title="Regenerate backup codes"
      description={
        <>
          Your {remaining} remaining backup code{remaining === 1 ? "" : "s"} stop working at once and 10 new ones are shown,
          once. Confirm with your password and a code from your authenticator (or one of your backup codes).
        </>
      }
      submitLabel="Replace codes"
      danger
      busy={regen.isPending}
      canSubmit={password.length > 0 && code.trim().length > 0}
      error={<ActionError error={regen.error} />}
      onCancel={onCancel}
      onSubmit={() =>
        regen.mutate({ pw: password, factor: code }, {
          onSuccess: (body) => {
            setPassword("");
            setCode("");
            regen.reset();
            onDone(body.backup_codes, body.other_sessions);
          },
        })
      }
    >
      <TextField label="Current password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      <TextField label="Authenticator code" inputMode="numeric" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} />
    </FormDialog>
  );
}
