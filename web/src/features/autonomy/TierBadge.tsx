import { ShieldAlert, ShieldCheck, ShieldHalf, ShieldQuestion } from "lucide-react";
import { Badge, type Tone } from "../../components/Badge";

const TONE: Record<string, Tone> = {
  LOCKED: "bad",
  SUPERVISED: "warn",
  LIMITED_AUTONOMY: "info",
  FULL_AUTONOMY: "ok",
};

const ICON = {
  LOCKED: ShieldAlert,
  SUPERVISED: ShieldHalf,
  LIMITED_AUTONOMY: ShieldHalf,
  FULL_AUTONOMY: ShieldCheck,
} as const;

export function tierTone(tier: string | null | undefined): Tone {
  return (tier && TONE[tier]) || "neutral";
}

/** The tier exactly as the API names it: LOCKED red, SUPERVISED amber, LIMITED blue, FULL green. */
export function TierBadge({ tier, title }: { tier: string; title?: string }) {
  const Icon = ICON[tier as keyof typeof ICON] ?? ShieldQuestion;
  return (
    <Badge tone={tierTone(tier)} title={title} className="font-mono">
      <Icon size={12} aria-hidden />
      {tier}
    </Badge>
  );
}
