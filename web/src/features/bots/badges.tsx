import { Badge, type Tone } from "../../components/Badge";
import { ShieldAlert } from "lucide-react";

const STATUS_TONE: Record<string, Tone> = {
  RUNNING: "ok",
  STARTING: "info",
  RESTARTING: "info",
  SUSPENDED: "warn",
  KILLED: "bad",
  ERROR: "bad",
  STOPPED: "neutral",
};

const STATUS_HELP: Record<string, string> = {
  RUNNING: "A runner evaluates every bar and may trade.",
  STARTING: "The runner is starting.",
  RESTARTING: "The supervisor is restarting the runner after a failure.",
  SUSPENDED: "The runner is up, but a gate blocks every trade (see Why not trading).",
  KILLED: "Latched off: the runner was halted and needs a human re-arm.",
  ERROR: "The runner failed and its restart was refused.",
  STOPPED: "No runner: the bot does not evaluate or trade.",
};

/** The bot's status exactly as the API reports it. */
export function StatusBadge({ status }: { status: string }) {
  return (
    <Badge tone={STATUS_TONE[status] ?? "neutral"} title={STATUS_HELP[status] ?? `Status ${status} as reported by the server`}>
      <span className="h-1.5 w-1.5 rounded-full bg-current" aria-hidden />
      {status}
    </Badge>
  );
}

const STAGE_TONE: Record<string, Tone> = { LAB: "neutral", PAPER: "info", SHADOW: "info", LIVE: "warn" };
const STAGE_HELP: Record<string, string> = {
  LAB: "LAB: research only, no orders.",
  PAPER: "PAPER: simulated orders, filled at the next bar's open.",
  SHADOW: "SHADOW: records the orders a connected broker would get; sends none.",
  LIVE: "LIVE: real orders to the broker.",
};

export function StageBadge({ stage }: { stage: string }) {
  return (
    <Badge tone={STAGE_TONE[stage] ?? "neutral"} title={STAGE_HELP[stage]}>
      {stage}
    </Badge>
  );
}

/** "Breaker OPEN" naming each open breaker scope (bot:<id>, provider:<id>). */
export function BreakerBadge({ scopes }: { scopes: readonly string[] }) {
  if (scopes.length === 0) return null;
  return (
    <Badge tone="bad" title={`Open circuit breaker${scopes.length > 1 ? "s" : ""}: ${scopes.join(", ")}`}>
      <ShieldAlert size={12} aria-hidden />
      {scopes.length > 1 ? `${scopes.length} breakers OPEN` : "Breaker OPEN"}
    </Badge>
  );
}
