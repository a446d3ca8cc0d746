// The Connections tab: every provider of the registry, grouped by category, with what the
// server can prove about it (live health from its breaker and last 15 minutes of calls,
// configured, verified, used in the last 24 h), Verify and breaker reset for operators, and a
// pop-out of its latest usage events (deep link `?provider=<id>`).
import { useCallback } from "react";
import { useNavigate, useSearch } from "@tanstack/react-router";
import { Info } from "lucide-react";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { EmptyState } from "../../components/EmptyState";
import { AgeLabel } from "../../components/AgeLabel";
import { useRoleGate } from "../../lib/roleGate";
import { CATEGORIES, useIntegrationsStatus, type ProviderStatus } from "../../queries/integrations";
import type { SearchParams } from "../../router";
import { ProviderCard } from "./ProviderCard";
import { ProviderDrawer } from "./ProviderDrawer";
import { useTitle } from "../../lib/title";
import { VerifyAll } from "./VerifyAll";

/** Why nobody on this page may `action` right now (failed endpoint, role), or null. */
function useOperatorGate(action: string, endpoints: string[]): string | null {
  return useRoleGate(action, "operator", ["/api/integrations/status", ...endpoints]);
}

function Summary({ providers }: { providers: ProviderStatus[] }) {
  const health = (h: ProviderStatus["health"]) => providers.filter((p) => p.health === h).length;
  const items = [
    ["providers", providers.length],
    ["configured", providers.filter((p) => p.configured).length],
    ["connected (live)", health("CONNECTED")],
    ["degraded", health("DEGRADED")],
    ["failing", health("FAILING")],
    ["no recent calls", health("UNKNOWN")],
    ["breakers open", providers.filter((p) => (p.breaker_state && p.breaker_state !== "CLOSED") || p.breakers_elsewhere.length > 0).length],
    ["sandbox", providers.filter((p) => p.sandbox).length],
  ] as const;
  return (
    <dl className="flex flex-wrap gap-x-5 gap-y-1 text-sm" data-testid="connections-summary">
      {items.map(([label, n]) => (
        <div key={label} className="flex items-baseline gap-1.5">
          <dd className="font-semibold tabular-nums">{n}</dd>
          <dt className="text-muted">{label}</dt>
        </div>
      ))}
    </dl>
  );
}

/** After the first admin is created (`?first_run=1`): what to connect first, and the sandbox. */
function FirstRunHint() {
  return (
    <section className="rounded-lg border border-info/40 bg-info/10 p-4 text-sm" data-testid="first-run-hint" aria-label="First run">
      <h2 className="mb-1 flex items-center gap-2 font-semibold">
        <Info size={15} className="text-info" aria-hidden /> First run: connect market data
      </h2>
      <p>
        Bots need a market-data provider (databento or polygon): set its key in the server&apos;s environment, restart
        tradeplane, then press Verify on its card below. A connected broker (ironbeam or tradovate) is needed for SHADOW and
        LIVE, not for PAPER.
      </p>
      <p className="mt-2">
        No vendor keys yet? Run the vendor simulator and point every provider at it:{" "}
        <code className="break-all rounded bg-surface-2 px-1 font-mono text-xs">tradeplane sandbox</code>, then restart with{" "}
        <code className="break-all rounded bg-surface-2 px-1 font-mono text-xs">set -a; . ./.env.sandbox; set +a; tradeplane serve</code>.
        Sandbox providers are marked <span className="font-medium">sandbox</span>: while a sandbox broker or market-data
        provider is configured, no bot starts or is promoted in LIVE.
      </p>
    </section>
  );
}

export function ConnectionsPage() {
  useTitle("Connections");
  const status = useIntegrationsStatus();
  const search = useSearch({ strict: false }) as SearchParams;
  const navigate = useNavigate();
  const pageReason = useOperatorGate("Verify", ["/api/integrations/verify"]);
  const resetGate = useOperatorGate("Reset", ["/api/integrations/{id}/breaker/reset"]);
  const providers = status.data?.providers ?? [];
  const stale = status.isError && status.data !== undefined;
  const openId = search.provider;

  const setProvider = useCallback(
    (id: string | undefined) => void navigate({ to: ".", search: (prev: SearchParams) => ({ ...prev, provider: id }) }),
    [navigate],
  );
  const close = useCallback(() => setProvider(undefined), [setProvider]);

  const known = new Set(CATEGORIES.map((c) => c.id));
  const groups = [
    ...CATEGORIES.map((c) => ({ ...c, items: providers.filter((p) => p.category === c.id) })),
    { id: "other", label: "Other", about: "", items: providers.filter((p) => !known.has(p.category)) },
  ].filter((g) => g.items.length > 0);

  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold tracking-tight">Connections</h1>
        <PanelStatus query={status} />
      </div>
      {search.first_run === "1" && <FirstRunHint />}

      {status.isPending && <p className="text-sm text-muted">Loading providers…</p>}
      {status.isError && !status.data && <QueryError error={status.error} />}

      {status.data && (
        <>
          <div className="flex flex-col gap-2 rounded-lg border border-line bg-surface p-4">
            <Summary providers={providers} />
            <VerifyAll providers={providers} gate={pageReason} />
            <p className="flex items-start gap-1.5 text-xs text-muted">
              <Info size={13} className="mt-0.5 shrink-0" aria-hidden />
              Health is live: "Connected" (green) only while the provider's breaker is CLOSED and at least 90% of its calls in the last 15 minutes succeeded, the newest one included. Without recent calls the latest verify is shown, never green.
            </p>
            {pageReason && (
              <p className="text-xs text-warn" data-testid="verify-gate">
                Verify unavailable: {pageReason}
              </p>
            )}
            {stale && (
              <p className="text-xs text-warn">
                Showing the last good list (<AgeLabel updatedAt={status.dataUpdatedAt} />
                ): GET /api/integrations/status is failing, so these states may be out of date.
              </p>
            )}
          </div>

          {providers.length === 0 && (
            <EmptyState
              title="No providers"
              reason="The server's provider registry is empty, so there is nothing to configure or verify. This build ships without integrations."
            />
          )}

          {groups.map((g) => (
            <section key={g.id} aria-labelledby={`cat-${g.id}`} className="flex flex-col gap-3">
              <h2 id={`cat-${g.id}`} className="flex items-baseline gap-2 text-sm font-semibold">
                {g.label}
                <span className="text-xs font-normal text-muted">
                  {g.items.length} provider{g.items.length === 1 ? "" : "s"}
                  {g.about && ` · ${g.about}`}
                </span>
              </h2>
              <div className="grid grid-cols-1 gap-3 lg:grid-cols-2 2xl:grid-cols-3">
                {g.items.map((p) => (
                  <ProviderCard key={p.id} provider={p} stale={stale} pageReason={pageReason} resetGate={resetGate} onOpenEvents={() => setProvider(p.id)} />
                ))}
              </div>
            </section>
          ))}
        </>
      )}

      {openId && <ProviderDrawer id={openId} provider={providers.find((p) => p.id === openId)} onClose={close} />}
    </div>
  );
}
