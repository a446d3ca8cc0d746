// Sign-in: email + password, then (with 2FA enrolled) a TOTP or backup code. Every refusal is
// named: wrong password, wrong code (with attempts left), throttled (with the wait counting
// down), expired sign-in attempt (back to the password step). Afterwards the user returns to
// `next` when it is a path on this site.
import { useState, type ReactNode } from "react";
import { useNavigate, useSearch } from "@tanstack/react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Clock, ShieldCheck } from "lucide-react";
import { ApiError, isApiError } from "../../api/errors";
import { codeRejection, firstRun, login, registerFirstAdmin, safeNext, verifyTwoFactor } from "../../queries/login";
import { CodeStep, type CodeMode } from "./CodeStep";
import { FirstRunStep } from "./FirstRunStep";
import { LoginError, ThrottledNotice } from "./LoginError";
import { PasswordStep } from "./PasswordStep";
import { useRetryCountdown } from "./useRetryCountdown";
import { useTitle } from "../../lib/title";

type Step = { kind: "password" } | { kind: "code"; tempToken: string; email: string };

/** Why the user is back on the password step. */
type Notice = { tone: "info" | "warn"; text: string };

function asApiError(e: unknown): ApiError {
  if (isApiError(e)) return e;
  return new ApiError({ status: 0, code: "CLIENT_ERROR", message: e instanceof Error ? e.message : String(e), traceId: null, endpoint: "" });
}

export function LoginPage() {
  useTitle("Sign in");
  const search = useSearch({ strict: false }) as Record<string, string | undefined>;
  const navigate = useNavigate();
  const client = useQueryClient();
  const [step, setStep] = useState<Step>({ kind: "password" });
  const [email, setEmail] = useState("");
  const [mode, setMode] = useState<CodeMode>("totp");
  const [error, setError] = useState<{ error: ApiError; headline?: string; detail?: string } | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const throttle = useRetryCountdown();
  // No user yet: this page creates the first admin instead of signing in.
  const first = useQuery({ queryKey: ["/api/auth/first-run"], queryFn: firstRun, staleTime: 0 });
  const firstRunNeeded = first.data?.needs_first_admin === true;

  const finish = () => {
    // Whatever was cached belonged to the previous session (or to none).
    client.removeQueries();
    void navigate({ href: safeNext(search.next), replace: true });
  };

  const fail = (e: unknown) => {
    const err = asApiError(e);
    if (err.code === "RATE_LIMITED" && err.retryAfterSecs !== null) throttle.start(err.retryAfterSecs);
    setError({ error: err });
    return err;
  };

  const passwordStep = useMutation({
    mutationFn: (v: { email: string; password: string }) => login(v.email, v.password),
    onMutate: () => {
      setError(null);
      setNotice(null);
    },
    onSuccess: (answer, v) => {
      if (!answer.requires_2fa) return finish();
      if (!answer.temp_token) {
        // 2FA asked for without the token that would let us send a code: nothing to continue with.
        setError({ error: new ApiError({ status: 200, code: "CLIENT_ERROR", message: "The server asked for a 2FA code but sent no sign-in token.", suggestedFix: "Try again; if it repeats, report the trace id.", traceId: answer.trace_id ?? null, endpoint: "/api/auth/login" }) });
        return;
      }
      setMode("totp");
      setStep({ kind: "code", tempToken: answer.temp_token, email: v.email });
    },
    onError: (e) => {
      const err = fail(e);
      if (err.code === "UNAUTHENTICATED") setError({ error: err, headline: "Email or password is wrong." });
    },
  });

  const createAdmin = useMutation({
    mutationFn: async (v: { email: string; password: string }) => {
      await registerFirstAdmin(v.email, v.password);
      return login(v.email, v.password);
    },
    onMutate: () => setError(null),
    onSuccess: () => {
      client.removeQueries();
      // Then 2FA enrollment (the shell's gate, when the role needs it), then Connections.
      void navigate({ to: "/connections", search: { first_run: "1" }, replace: true });
    },
    onError: (e) => {
      const err = fail(e);
      // Someone else created the first admin meanwhile: back to signing in.
      if (err.code === "FORBIDDEN") void first.refetch();
    },
  });

  const codeStep = useMutation({
    mutationFn: (v: { tempToken: string; value: string; mode: CodeMode }) =>
      verifyTwoFactor(v.tempToken, v.mode === "totp" ? { code: v.value } : { backupCode: v.value }),
    onMutate: () => setError(null),
    onSuccess: finish,
    onError: (e, v) => {
      const err = fail(e);
      const rejection = codeRejection(err);
      if (!rejection) return;
      if (rejection.kind === "restart") {
        setError(null);
        setStep({ kind: "password" });
        setNotice({
          tone: "warn",
          text:
            rejection.reason === "expired"
              ? "This sign-in attempt expired (or was already used). Enter your password again to get a new one."
              : "Too many wrong codes for this sign-in attempt. Enter your password again to get a new one.",
        });
        return;
      }
      const left = rejection.attemptsLeft;
      setError({
        error: err,
        headline: v.mode === "totp" ? "That code is wrong or was already used." : "That backup code is wrong or was already used.",
        detail:
          left === null
            ? undefined
            : `${left} attempt${left === 1 ? "" : "s"} left before you must enter your password again.`,
      });
    },
  });

  const busy = passwordStep.isPending || codeStep.isPending || createAdmin.isPending;
  const throttled = error?.error.code === "RATE_LIMITED";
  const message: ReactNode = error ? (
    throttled ? (
      <ThrottledNotice error={error.error} secondsLeft={throttle.secondsLeft} />
    ) : (
      <LoginError error={error.error} headline={error.headline} detail={error.detail} />
    )
  ) : null;
  const waitSecs = throttled ? throttle.secondsLeft : 0;

  return (
    <div className="flex min-h-screen items-center justify-center bg-bg p-4">
      <main className="w-full max-w-[400px]">
        <div className="mb-6 text-center">
          <p className="text-lg font-semibold tracking-tight">tradeplane</p>
          <p className="text-xs text-muted">Control Plane Observatory</p>
        </div>
        <section className="rounded-lg border border-line bg-surface p-6 shadow-sm">
          {firstRunNeeded ? (
            <>
              <h1 className="mb-1 text-base font-semibold">Welcome: create the first admin</h1>
              <p className="mb-5 text-sm text-muted">
                No account exists yet. The account you create here is the first admin; next you set up two-factor
                authentication, then connect market data (or the sandbox).
              </p>
              <FirstRunStep busy={busy} message={message} onSubmit={(em, password) => createAdmin.mutate({ email: em, password })} />
            </>
          ) : (
            <>
          <h1 className="mb-1 flex items-center gap-2 text-base font-semibold">
            {step.kind === "code" && <ShieldCheck size={18} className="text-accent" aria-hidden />}
            {step.kind === "password" ? "Sign in" : "Two-factor authentication"}
          </h1>
          <p className="mb-5 text-sm text-muted">
            {step.kind === "password"
              ? "Sign in with your tradeplane account. Accounts after the first admin are created by an admin."
              : "One more step to confirm it is you."}
          </p>
          {step.kind === "password" && search.expired === "1" && !notice && (
            <p role="status" className="mb-4 flex items-start gap-2 rounded-md border border-info/40 bg-info/10 p-3 text-sm">
              <Clock size={16} className="mt-0.5 shrink-0 text-info" aria-hidden />
              Your session expired — sign in again.
            </p>
          )}
          {step.kind === "password" && notice && (
            <p role="status" className={`mb-4 rounded-md border p-3 text-sm ${notice.tone === "warn" ? "border-warn/40 bg-warn/10" : "border-info/40 bg-info/10"}`}>
              {notice.text}
            </p>
          )}
          {step.kind === "password" ? (
            <PasswordStep
              initialEmail={email}
              busy={busy}
              waitSecs={waitSecs}
              message={message}
              onSubmit={(em, password) => {
                setEmail(em);
                passwordStep.mutate({ email: em, password });
              }}
            />
          ) : (
            <CodeStep
              email={step.email}
              mode={mode}
              onModeChange={(m) => {
                setMode(m);
                if (!throttled) setError(null);
              }}
              busy={busy}
              waitSecs={waitSecs}
              message={message}
              onSubmit={(value) => codeStep.mutate({ tempToken: step.tempToken, value, mode })}
              onStartOver={() => {
                setError(null);
                setNotice(null);
                setStep({ kind: "password" });
              }}
            />
          )}
            </>
          )}
        </section>
        {search.next && safeNext(search.next) !== "/" && (
          <p className="mt-4 text-center text-xs text-muted">
            After signing in you return to <span className="font-mono">{safeNext(search.next)}</span>.
          </p>
        )}
      </main>
    </div>
  );
}
