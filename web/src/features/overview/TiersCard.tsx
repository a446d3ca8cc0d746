import { Link } from "@tanstack/react-router";
import { Card } from "../../components/Card";
import { PanelStatus } from "../../components/PanelStatus";
import { cn } from "../../lib/cn";
import { TIERS, type Tier } from "../../queries/autonomy";
import { NoStatus } from "./StaleNote";
import { isStale, type StatusQuery } from "./types";
import { useNow } from "../../lib/time";

const LABEL: Record<Tier, string> = {
  LOCKED: "Locked",
  SUPERVISED: "Supervised",
  LIMITED_AUTONOMY: "Limited autonomy",
  FULL_AUTONOMY: "Full autonomy",
};
const TIER_ROWS = TIERS.map((key) => ({ key, label: LABEL[key] }));

/** Bots per autonomy tier; unknown (and why) when the server could not count them. */
export function TiersCard({ status }: { status: StatusQuery }) {
  const data = status.data;
  const now = useNow(1000);
  const stale = isStale(status, now);
  const tiers = data?.bots.byAutonomyTier;
  return (
    <Card
      title="Autonomy tiers"
      status={<PanelStatus query={status} />}
      actions={
        <Link to="/autonomy" className="text-xs text-accent hover:underline">
          Autonomy
        </Link>
      }
    >
      {status.isPending && <p className="text-sm text-muted">Loading…</p>}
      {status.isError && !data && <NoStatus what="Tier counts" />}
      {data && !tiers && (
        <p className="text-sm" data-testid="tiers-unknown">
          <span className="font-medium">Tier counts unknown.</span>{" "}
          <span className="text-muted">The server could not read the bots from Postgres for this status (it reports no counts while the database is unreachable).</span>
        </p>
      )}
      {tiers && (
        <>
          <dl className={cn("grid grid-cols-2 gap-3", stale && "opacity-70")}>
            {TIER_ROWS.map((t) => (
              <div key={t.key} className="rounded-md border border-line bg-surface-2 px-3 py-2" data-testid={`tier-${t.key}`}>
                <dt className="text-xs text-muted">{t.label}</dt>
                <dd className="text-2xl font-semibold tabular-nums">{tiers[t.key]}</dd>
              </div>
            ))}
          </dl>
          <p className="mt-2 text-xs text-muted">Bots never scored count as Locked.</p>
        </>
      )}
    </Card>
  );
}
