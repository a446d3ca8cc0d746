import { EmptyState } from "../../components/EmptyState";

// Scaffold: replaced by the autonomy feature.
export function AutonomyPage() {
  return <EmptyState title="AutonomyPage" reason="This view is being built." />;
}
