import { EmptyState } from "../../components/EmptyState";

// Scaffold: replaced by the login feature.
export function LoginPage() {
  return <EmptyState title="Sign in" reason="This view is being built." />;
}
