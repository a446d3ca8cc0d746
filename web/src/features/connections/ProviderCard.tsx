import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ListTree, RefreshCw, RotateCcw } from "lucide-react";
import { ActionError } from "../../components/ActionError";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { cn } from "../../lib/cn";
import { recentCalls, resetProviderBreaker, verifyProvider, type ProviderStatus } from "../../queries/integrations";
import { BrokerSession } from "./BrokerSession";
import { ConnectionBadge } from "./ConnectionBadge";
import { UptimeBar } from "./UptimeBar";
import { VerifyOutcome } from "./VerifyOutcome";
import { When } from "./When";

/** Why this provider cannot be verified right now, or null. */
function verifyReason(p: ProviderStatus, pageReason: string | null): string | null {
  if (pageReason) return pageReason;
  if (!p.configured) return `Not configured: set ${p.missing_env_vars.join(", ") || "its required variables"} first`;
  if (!p.supports_verify) return "This provider has no safe verify call";
  return null;
}

/** What a sandbox endpoint means for LIVE: a sandbox broker or market-data provider refuses it. */
function sandboxHint(p: ProviderStatus): string {
  const host = "The endpoint is not the vendor's official host";
  if (p.category === "execution") return `${host}; refused for LIVE (SHADOW may record against it)`;
  if (p.category === "market_data") return `${host}; while it is configured no bot starts or is promoted in LIVE (LIVE reads only official market data)`;
  return `${host}; LIVE bots still use it (only sandbox brokers and market data refuse LIVE)`;
}

/** Why this provider's breaker cannot be reset right now, or null. */
function resetReason(p: ProviderStatus, pageReason: string | null): string | null {
  if (pageReason) return pageReason;
  if (!p.configured) return "Not configured: no breaker runs for it";
  if (!p.breaker_state) return "No breaker runs for it in this process";
  if (p.breaker_state === "CLOSED") return "The breaker is CLOSED: calls already pass";
  return null;
}

/** The latest failed call: code, the vendor's words, when. */
function LastError({ p }: { p: ProviderStatus }) {
  if (p.last_error) {
    return (
      <span className="flex flex-col">
        <span>
          <span className="font-mono text-xs text-bad">{p.last_error.code}</span>{" "}
          <span className="text-xs text-muted">
            · <When iso={p.last_error.at} never="" neverTitle="" />
          </span>
        </span>
        {p.last_error.message && <span className="text-xs break-words text-muted">{p.last_error.message}</span>}
      </span>
    );
  }
  if (p.last_error_code_24h) {
    return (
      <span className="font-mono text-xs text-bad" title="From the usage events of the last 24 hours">
        {p.last_error_code_24h}
      </span>
    );
  }
  return <span className="text-muted">none recorded</span>;
}

const BREAKER_TONE = { CLOSED: "neutral", OPEN: "bad", HALF_OPEN: "warn" } as const;

/** Reset the breaker: what the server really does, asked first; the answer or the error. */
function BreakerReset({ p, reason }: { p: ProviderStatus; reason: string | null }) {
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const reset = useMutation({
    mutationFn: () => resetProviderBreaker(p.id),
    onSuccess: () => setOpen(false),
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["/api/integrations/status"] });
      void client.invalidateQueries({ queryKey: ["/api/system/status"] });
    },
  });
  return (
    <>
      <Button size="sm" variant="secondary" aria-label="Reset breaker" disabledReason={reason} onClick={() => { reset.reset(); setOpen(true); }}>
        <RotateCcw size={13} aria-hidden /> Reset breaker
      </Button>
      {reset.isSuccess && !open && (
        <span role="status" className="text-xs text-muted">
          Breaker reset to {reset.data.state}; waiting for a call to prove the connection.
        </span>
      )}
      {open && (
        <ConfirmDialog
          title={`Reset ${p.label}'s circuit breaker`}
          confirmLabel="Reset breaker"
          busy={reset.isPending}
          error={reset.isError ? <ActionError error={reset.error} /> : undefined}
          onConfirm={() => reset.mutate()}
          onCancel={() => setOpen(false)}
          consequences={
            <ul className="flex list-disc flex-col gap-1 pl-4">
              <li>
                The breaker goes from <strong>{p.breaker_state}</strong> to <strong>CLOSED</strong> and its failure count is cleared: calls to {p.label} pass again at once
                {p.calls_refused > 0 ? ` (${p.calls_refused} were refused while it was open)` : ""}.
              </li>
              <li>The live success rate starts afresh: the badge shows no proof until the next call succeeds.</li>
              <li>It does not fix the vendor: if the cause remains, 3 failures within 30 minutes open it again.</li>
              <li>Audited, and recorded as a CIRCUIT_BREAKER_RESET system event naming you.</li>
            </ul>
          }
        />
      )}
    </>
  );
}

/**
 * One provider: live health in words (breaker, recent success rate, last error), its 24 h
 * uptime bar, sandbox, proof of use, last use / verify, missing variables, the server's error
 * and fix, Verify with its outcome, and the breaker reset.
 */
export function ProviderCard({ provider: p, stale, pageReason, resetGate, onOpenEvents }: {
  provider: ProviderStatus;
  /** The status list is the last good one (the endpoint is failing). */
  stale: boolean;
  /** Why Verify is unavailable on the whole page (role, failed endpoint), or null. */
  pageReason: string | null;
  /** Why breaker resets are unavailable on the whole page (role, failed endpoint), or null. */
  resetGate: string | null;
  onOpenEvents: () => void;
}) {
  const client = useQueryClient();
  const verify = useMutation({
    mutationFn: () => verifyProvider(p.id),
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["/api/integrations/status"] });
      void client.invalidateQueries({ queryKey: ["/api/integrations/{id}/events", { id: p.id }] });
      void client.invalidateQueries({ queryKey: ["/api/system/status"] });
    },
  });
  const reason = verifyReason(p, pageReason);
  return (
    <article
      aria-label={p.label}
      data-testid={`provider-${p.id}`}
      className={cn("flex flex-col gap-3 rounded-lg border border-line bg-surface p-4", stale && "opacity-70")}
    >
      <header className="flex flex-wrap items-start gap-x-3 gap-y-2">
        <div className="min-w-0">
          <h3 className="text-sm font-semibold">{p.label}</h3>
          <p className="font-mono text-xs text-muted">{p.id}</p>
        </div>
        <div className="ml-auto flex flex-wrap items-center justify-end gap-1.5">
          {p.sandbox && (
            <Badge tone="warn" title={sandboxHint(p)}>
              Sandbox
            </Badge>
          )}
          <ConnectionBadge provider={p} />
        </div>
      </header>

      <dl className="grid grid-cols-3 gap-x-4 gap-y-2 text-sm">
        <div>
          <dt className="text-xs text-muted">Breaker</dt>
          <dd data-testid="breaker-state">
            {p.breaker_state ? <Badge tone={BREAKER_TONE[p.breaker_state]}>{p.breaker_state}</Badge> : <span className="text-muted">none</span>}
            {p.breakers_elsewhere.map((b) => (
              <Badge key={b.node} tone={BREAKER_TONE[b.state]} title={`Its breaker on node ${b.node} since ${b.updated_at}: reset it through that node`}>
                {b.state} on {b.node}
              </Badge>
            ))}
          </dd>
        </div>
        <div className="col-span-2">
          <dt className="text-xs text-muted">Live calls (15 min)</dt>
          <dd data-testid="success-rate" className="tabular-nums" title="Calls that counted in the last 15 minutes: successes and the provider's failures">
            {p.breaker_state ? recentCalls(p) : <span className="text-muted">not measured</span>}
            {p.calls_refused > 0 && <span className="text-xs text-muted"> · {p.calls_refused} refused by the open breaker</span>}
          </dd>
        </div>
        <div className="col-span-3">
          <dt className="text-xs text-muted">Last error</dt>
          <dd data-testid="last-error">
            <LastError p={p} />
          </dd>
        </div>
        <div>
          <dt className="text-xs text-muted">Configured</dt>
          <dd>{p.configured ? "Yes" : "No"}</dd>
        </div>
        <div>
          <dt className="text-xs text-muted">Proof of use (24h)</dt>
          <dd data-testid="proof-count" title="Successful calls recorded in the last 24 hours">
            <span className="font-semibold tabular-nums">{p.proof_of_use_count_24h}</span>{" "}
            <span className="text-xs text-muted">successful call{p.proof_of_use_count_24h === 1 ? "" : "s"}</span>
          </dd>
        </div>
        <div>
          <dt className="text-xs text-muted">Last used</dt>
          <dd data-testid="last-used">
            <When iso={p.last_used_at} never="never" neverTitle="No successful call recorded" />
          </dd>
        </div>
        <div className="col-span-3">
          <dt className="text-xs text-muted">Last verified</dt>
          <dd>
            <When iso={p.last_verified_at} never="never" neverTitle="Never verified at the current endpoint" />
            {p.verify_outcome && <span className="ml-1 font-mono text-xs text-muted">· {p.verify_outcome}</span>}
          </dd>
        </div>
      </dl>

      {p.configured && <UptimeBar buckets={p.uptime_24h} label={p.label} />}

      {p.configured && p.category === "execution" && <BrokerSession broker={p.id} />}

      {p.missing_env_vars.length > 0 && (
        <div className="text-sm">
          <p className="text-xs text-muted">Missing environment variables</p>
          <ul className="mt-1 flex flex-wrap gap-1.5" aria-label={`Missing environment variables for ${p.label}`}>
            {p.missing_env_vars.map((v) => (
              <li key={v} className="rounded border border-line bg-surface-2 px-1.5 py-0.5 font-mono text-xs">
                {v}
              </li>
            ))}
          </ul>
        </div>
      )}

      {(p.error_code || p.suggested_fix) && (
        <div className={cn("rounded-md border p-2.5 text-sm", p.configured ? "border-bad/40 bg-bad/10" : "border-line bg-surface-2")}>
          {p.error_code && <p className={cn("font-mono text-xs font-semibold", p.configured && "text-bad")}>{p.error_code}</p>}
          {p.suggested_fix && <p className="mt-0.5 text-muted">{p.suggested_fix}</p>}
        </div>
      )}

      <div className="mt-auto flex flex-wrap items-center gap-2 pt-1">
        <Button
          size="sm"
          variant="primary"
          aria-label="Verify"
          disabledReason={reason}
          disabled={verify.isPending}
          onClick={() => verify.mutate()}
        >
          <RefreshCw size={13} className={cn(verify.isPending && "animate-spin")} aria-hidden />
          {verify.isPending ? "Verifying…" : "Verify"}
        </Button>
        {p.configured && <BreakerReset p={p} reason={resetReason(p, resetGate)} />}
        <Button size="sm" variant="ghost" onClick={onOpenEvents} aria-label={`Usage events for ${p.label}`}>
          <ListTree size={13} aria-hidden /> Usage events
        </Button>
        {reason && reason !== pageReason && p.configured && <span className="text-xs text-muted">{reason}</span>}
      </div>

      {(verify.isSuccess || verify.isError) && <VerifyOutcome answer={verify.data} error={verify.error ?? undefined} />}
    </article>
  );
}
