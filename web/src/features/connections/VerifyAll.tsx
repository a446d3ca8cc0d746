// "Verify all": runs each configured provider's safe verify (POST /api/integrations/verify), one
// after another, and lists each outcome. Providers that are not configured or cannot be verified
// are skipped and named.
import { useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { CheckCheck } from "lucide-react";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { isApiError } from "../../api/errors";
import { verifyProvider, type ProviderStatus } from "../../queries/integrations";

interface Row {
  id: string;
  outcome: string;
  detail: string;
  ok: boolean;
}

/** The providers Verify all runs: configured and verifiable. */
export function verifiable(providers: readonly ProviderStatus[]): ProviderStatus[] {
  return providers.filter((p) => p.configured && p.supports_verify);
}

export function VerifyAll({ providers, gate }: { providers: readonly ProviderStatus[]; gate: string | null }) {
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [rows, setRows] = useState<Row[] | null>(null);
  const targets = verifiable(providers);
  const skipped = providers.filter((p) => !targets.includes(p));

  const run = async () => {
    setOpen(false);
    setBusy(true);
    const out: Row[] = [];
    setRows([]);
    for (const p of targets) {
      try {
        const body = await verifyProvider(p.id);
        out.push({ id: p.id, outcome: body.outcome, ok: body.outcome === "ok", detail: body.message });
      } catch (e) {
        out.push({ id: p.id, outcome: isApiError(e) ? e.code : "ERROR", ok: false, detail: isApiError(e) ? e.message : String(e) });
      }
      setRows([...out]);
    }
    setBusy(false);
    void client.invalidateQueries({ queryKey: ["/api/integrations/status"] });
  };

  const reason = gate ?? (targets.length === 0 ? "No configured provider can be verified." : busy ? "Verifying…" : null);
  return (
    <div className="flex flex-col gap-2">
      <div>
        <Button size="sm" disabledReason={reason} onClick={() => setOpen(true)}>
          <CheckCheck size={14} aria-hidden /> Verify all
        </Button>
      </div>
      {rows && (
        <ul role="status" aria-label="Verify all results" className="flex flex-col gap-1 text-sm" data-testid="verify-all-results">
          {rows.map((r) => (
            <li key={r.id}>
              <span className="font-mono">{r.id}</span>: <span className={r.ok ? "text-ok" : "text-bad"}>{r.outcome}</span> <span className="text-muted">— {r.detail}</span>
            </li>
          ))}
          {busy && <li className="text-muted">Verifying {rows.length + 1} of {targets.length}…</li>}
          {!busy && <li className="text-muted">{rows.filter((r) => r.ok).length} of {rows.length} verified OK.</li>}
        </ul>
      )}
      {open && (
        <ConfirmDialog
          title="Verify all providers"
          confirmLabel={`Verify ${targets.length}`}
          consequences={
            <ul className="flex list-disc flex-col gap-1 pl-4" data-testid="consequences">
              <li>Runs the safe verify of {targets.length} configured provider(s), one after another: {targets.map((p) => p.id).join(", ")}.</li>
              <li>Each is a read-only vendor call (no order, no billed call) with a strict timeout, recorded as a usage event (status VERIFY) and a system event; an auth failure is never retried.</li>
              {skipped.length > 0 && <li>Skipped (not configured or not verifiable): {skipped.map((p) => p.id).join(", ")}.</li>}
            </ul>
          }
          onConfirm={() => void run()}
          onCancel={() => setOpen(false)}
        />
      )}
    </div>
  );
}
