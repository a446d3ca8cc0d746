import { EmptyState } from "../../components/EmptyState";

// Scaffold: replaced by the ai-ops feature.
export function AiOpsPage() {
  return <EmptyState title="AiOpsPage" reason="This view is being built." />;
}
