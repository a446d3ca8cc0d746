import { CheckCircle2, CircleDashed, CircleSlash, HelpCircle, PlugZap, XCircle } from "lucide-react";
import { Badge } from "../../components/Badge";
import { connectionState, type ProviderStatus } from "../../queries/integrations";

const ICONS = {
  "not-configured": CircleSlash,
  "not-connected": XCircle,
  "connected-unused": PlugZap,
  "connected-used": CheckCircle2,
  unverified: CircleDashed,
  unverifiable: HelpCircle,
} as const;

/** The provider's connection state in words (green only with proof of use). */
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
