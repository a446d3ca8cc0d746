import { EmptyState } from "../../components/EmptyState";

// Scaffold: replaced by the settings feature.
export function SettingsPage() {
  return <EmptyState title="SettingsPage" reason="This view is being built." />;
}
