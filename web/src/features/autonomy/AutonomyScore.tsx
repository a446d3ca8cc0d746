import { EmptyState } from "../../components/EmptyState";

// Scaffold: replaced by the autonomy feature.

/** The full autonomy component: score, tier, five sub-scores, every gate with evidence and fix. */
export function AutonomyScore({ botId }: { botId: string }) {
  return <EmptyState title="Autonomy" reason={`Being built (bot ${botId}).`} />;
}

/** The compact form for lists: score and tier (unknown when the bot was never scored). */
export function AutonomyCompact({ score, tier }: { score: number | null | undefined; tier: string | null | undefined }) {
  return <span>{tier ?? "unscored"} {score ?? ""}</span>;
}
