import { EmptyState } from "../../components/EmptyState";

// Scaffold: replaced by the proof-of-use feature.
export function ProofOfUsePage() {
  return <EmptyState title="ProofOfUsePage" reason="This view is being built." />;
}
