import { EmptyState } from "../../components/EmptyState";

// Scaffold: replaced by the bots feature.
export function BotsPage() {
  return <EmptyState title="Bots" reason="This view is being built." />;
}

export function BotDetailPage() {
  return <EmptyState title="Bot" reason="This view is being built." />;
}
