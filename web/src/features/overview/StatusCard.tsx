import { ShieldAlert, ShieldCheck, ShieldX } from "lucide-react";
import { Badge, systemStatusTone } from "../../components/Badge";
import { Card } from "../../components/Card";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { cn } from "../../lib/cn";
import { isStale, type StatusQuery } from "./types";
import { StaleNote } from "./StaleNote";
import { useNow } from "../../lib/time";

const TEXT = { ok: "text-ok", warn: "text-warn", bad: "text-bad", info: "text-info", neutral: "text-muted" } as const;

const MEANING: Record<string, string> = {
  OK: "No blocker is reported: nothing SEV-1 or SEV-2 stands in the way.",
  DEGRADED: "At least one SEV-2 blocker: what it names is limited; autonomy is not stopped by it.",
  BLOCKED: "At least one SEV-1 blocker: bots may not trade on their own until it is fixed.",
};

/** The system status, big, with autonomy and the blocker counts behind it. */
export function StatusCard({ status }: { status: StatusQuery }) {
  const data = status.data;
  const now = useNow(1000);
  const stale = isStale(status, now);
  const value = data?.system_status;
  const tone = stale ? "warn" : systemStatusTone(value);
  const Icon = value === "OK" ? ShieldCheck : value === "DEGRADED" ? ShieldAlert : ShieldX;
  const sev1 = data?.blockers.filter((b) => b.severity === "SEV-1").length ?? 0;
  const sev2 = (data?.blockers.length ?? 0) - sev1;
  return (
    <Card title="System status" status={<PanelStatus query={status} />}>
      {status.isPending && <p className="text-sm text-muted">Loading the system status…</p>}
      {status.isError && !data && <QueryError error={status.error} />}
      {data && (
        <>
          {stale && <StaleNote updatedAt={status.dataUpdatedAt} what="status" failed={status.isError} />}
          <div className={cn("flex flex-wrap items-center gap-x-8 gap-y-4", stale && "opacity-70")}>
            <div className="flex items-center gap-3">
              <Icon size={40} className={TEXT[tone]} aria-hidden />
              <div>
                <p className={cn("text-4xl leading-none font-semibold tracking-tight", TEXT[tone])} data-testid="system-status">
                  {value}
                </p>
                <p className="mt-1 max-w-md text-sm text-muted">{MEANING[value ?? ""] ?? `The server reports "${value}".`}</p>
              </div>
            </div>
            <dl className="flex flex-wrap gap-x-8 gap-y-3 text-sm">
              <div>
                <dt className="text-xs text-muted uppercase">Autonomy</dt>
                <dd className="mt-1">
                  {data.autonomy_allowed ? (
                    <Badge tone={stale ? "neutral" : "ok"}>Autonomy allowed</Badge>
                  ) : (
                    <Badge tone="bad" title="A SEV-1 blocker stands in the way of bots trading on their own">
                      Autonomy not allowed
                    </Badge>
                  )}
                </dd>
              </div>
              <div>
                <dt className="text-xs text-muted uppercase">Blockers</dt>
                <dd className="mt-1 flex gap-2">
                  <Badge tone={sev1 > 0 ? "bad" : "neutral"}>{sev1} SEV-1</Badge>
                  <Badge tone={sev2 > 0 ? "warn" : "neutral"}>{sev2} SEV-2</Badge>
                </dd>
              </div>
            </dl>
          </div>
        </>
      )}
    </Card>
  );
}
