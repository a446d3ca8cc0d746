import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ListTree, RefreshCw } from "lucide-react";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { cn } from "../../lib/cn";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { verifyProvider, type ProviderStatus } from "../../queries/integrations";
import { ConnectionBadge } from "./ConnectionBadge";
import { VerifyOutcome } from "./VerifyOutcome";

/** "2 min ago" with the exact time as its tooltip, or `never` (explained by `neverTitle`). */
function When({ iso, never, neverTitle }: { iso: string | null | undefined; never: string; neverTitle: string }) {
  const now = useNow(1000);
  const t = parseTime(iso);
  if (t === null) return <span className="text-muted" title={neverTitle}>{never}</span>;
  return <time dateTime={iso ?? undefined} title={formatTime(iso)}>{ago(t, now)}</time>;
}

/** Why this provider cannot be verified right now, or null. */
function verifyReason(p: ProviderStatus, pageReason: string | null): string | null {
  if (pageReason) return pageReason;
  if (!p.configured) return `Not configured: set ${p.missing_env_vars.join(", ") || "its required variables"} first`;
  if (!p.supports_verify) return "This provider has no safe verify call";
  return null;
}

/**
 * One provider: connection state in words, sandbox, proof of use, last use / verify / error,
 * missing variables, the server's error and fix, and Verify with its outcome.
 */
export function ProviderCard({ provider: p, stale, pageReason, onOpenEvents }: {
  provider: ProviderStatus;
  /** The status list is the last good one (the endpoint is failing). */
  stale: boolean;
  /** Why Verify is unavailable on the whole page (role, failed endpoint), or null. */
  pageReason: string | null;
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
            <Badge tone="warn" title="The endpoint is not the vendor's official host; never usable for LIVE">
              Sandbox
            </Badge>
          )}
          <ConnectionBadge provider={p} />
        </div>
      </header>

      <dl className="grid grid-cols-3 gap-x-4 gap-y-2 text-sm">
        <div>
          <dt className="text-xs text-muted">Configured</dt>
          <dd>{p.configured ? "Yes" : <span className="text-muted">No</span>}</dd>
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
        <div>
          <dt className="text-xs text-muted">Last verified</dt>
          <dd>
            <When iso={p.last_verified_at} never="never" neverTitle="Never verified at the current endpoint" />
            {p.verify_outcome && <span className="ml-1 font-mono text-xs text-muted">· {p.verify_outcome}</span>}
          </dd>
        </div>
        <div className="col-span-2">
          <dt className="text-xs text-muted">Last error (24h)</dt>
          <dd>
            {p.last_error_code_24h ? (
              <span className="font-mono text-xs text-bad">{p.last_error_code_24h}</span>
            ) : (
              <span className="text-muted">none recorded</span>
            )}
          </dd>
        </div>
      </dl>

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
        <Button size="sm" variant="ghost" onClick={onOpenEvents} aria-label={`Usage events for ${p.label}`}>
          <ListTree size={13} aria-hidden /> Usage events
        </Button>
        {reason && reason !== pageReason && p.configured && <span className="text-xs text-muted">{reason}</span>}
      </div>

      {(verify.isSuccess || verify.isError) && <VerifyOutcome answer={verify.data} error={verify.error ?? undefined} />}
    </article>
  );
}
