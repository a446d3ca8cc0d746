// The Overview tab: first "does anything need me?" (the needs-attention queue) and the fleet at
// a glance; then is the system allowed to trade, what stands in the way, is the bar clock
// ticking, how many bots sit in each autonomy tier, how many integrations are set up. Every
// card shows its own freshness.
import { useQuery } from "@tanstack/react-query";
import { systemStatusQuery } from "../../queries/status";
import { AttentionQueue } from "./AttentionQueue";
import { BlockersCard } from "./BlockersCard";
import { FleetGrid } from "./FleetGrid";
import { IntegrationsCard } from "./IntegrationsCard";
import { SchedulerCard } from "./SchedulerCard";
import { StatusCard } from "./StatusCard";
import { TiersCard } from "./TiersCard";
import { useTitle } from "../../lib/title";

export function OverviewPage() {
  useTitle("Overview");
  const status = useQuery(systemStatusQuery);
  return (
    <div className="flex min-w-0 flex-col gap-4">
      <h1 className="text-xl font-semibold tracking-tight">Overview</h1>
      <AttentionQueue />
      <FleetGrid />
      <StatusCard status={status} />
      <div className="grid grid-cols-1 gap-4 lg:grid-cols-3">
        <div className="lg:col-span-2">
          <BlockersCard status={status} />
        </div>
        <div className="flex min-w-0 flex-col gap-4">
          <TiersCard status={status} />
          <IntegrationsCard status={status} />
        </div>
      </div>
      <SchedulerCard status={status} />
    </div>
  );
}
