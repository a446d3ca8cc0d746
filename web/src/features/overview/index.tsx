import { EmptyState } from "../../components/EmptyState";

// Scaffold: replaced by the overview feature.
export function OverviewPage() {
  return <EmptyState title="OverviewPage" reason="This view is being built." />;
}
