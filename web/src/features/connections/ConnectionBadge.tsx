import { AlertTriangle, CheckCircle2, CircleDashed, CircleSlash, HelpCircle, PlugZap, XCircle } from "lucide-react";
import { Badge } from "../../components/Badge";
import { connectionState, type ProviderStatus } from "../../queries/integrations";

const ICONS = {
  "not-configured": CircleSlash,
  "not-connected": XCircle,
  connected: CheckCircle2,
  "connected-verify-failed": AlertTriangle,
  degraded: AlertTriangle,
  failing: XCircle,
  "idle-verified": PlugZap,
  unverified: CircleDashed,
  unverifiable: HelpCircle,
} as const;

/** The provider's connection state in words (green only from live health). */
export function ConnectionBadge({ provider }: { provider: ProviderStatus }) {
  const state = connectionState(provider);
  const Icon = ICONS[state.kind];
  return (
    <Badge tone={state.tone} className="text-[13px]">
      <Icon size={13} aria-hidden />
      <span data-testid="connection-state" data-kind={state.kind}>
        {state.label}
      </span>
    </Badge>
  );
}
