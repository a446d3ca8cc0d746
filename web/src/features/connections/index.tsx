import { EmptyState } from "../../components/EmptyState";

// Scaffold: replaced by the connections feature.
export function ConnectionsPage() {
  return <EmptyState title="ConnectionsPage" reason="This view is being built." />;
}
