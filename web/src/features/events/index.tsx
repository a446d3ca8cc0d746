import { EmptyState } from "../../components/EmptyState";

// Scaffold: replaced by the events feature.
export function EventsPage() {
  return <EmptyState title="EventsPage" reason="This view is being built." />;
}
