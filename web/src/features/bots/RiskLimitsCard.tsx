// The bot's risk limits, read-only, with units; "Edit" opens the edit form (operator+).
import { Card } from "../../components/Card";
import type { Bot } from "../../queries/bots";
import { RISK_LIMITS } from "./editBot";

export function RiskLimitsCard({ bot }: { bot: Bot }) {
  return (
    <Card title="Risk limits">
      <dl className="grid grid-cols-2 gap-x-4 gap-y-2 text-sm sm:grid-cols-4" aria-label="Risk limits">
        {RISK_LIMITS.map((l) => (
          <div key={l.name} className="flex flex-col" data-testid={`limit-${l.name}`}>
            <dt className="text-xs text-muted">{l.label}</dt>
            <dd className="tabular-nums font-medium">
              {l.kind === "usd" ? `$${bot.risk_limits[l.name]}` : bot.risk_limits[l.name]} <span className="text-xs font-normal text-muted">{l.unit}</span>
            </dd>
          </div>
        ))}
        <div className="flex flex-col" data-testid="limit-trading">
          <dt className="text-xs text-muted">Trading switch</dt>
          <dd className="font-medium">{bot.is_trading_enabled ? "on" : "off"}</dd>
        </div>
      </dl>
    </Card>
  );
}
