import type { components } from "../../api/schema";
import { Badge, type Tone } from "../../components/Badge";
import { BotName } from "../../components/BotName";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus } from "../../components/PanelStatus";
import { cn } from "../../lib/cn";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { NoStatus } from "./StaleNote";
import { isStale, type StatusQuery } from "./types";

const LOOP_TONE: Record<string, Tone> = { OK: "ok", LAGGING: "warn", STALLED: "bad", UNKNOWN: "neutral" };
const LOOP_MEANING: Record<string, string> = {
  OK: "ticking on time",
  LAGGING: "ticking late",
  STALLED: "not ticking",
  UNKNOWN: "no tick yet, or no runtime in this process",
};
type BreakerState = components["schemas"]["BreakerState"];
const BREAKER_TONE: Record<BreakerState, Tone> = { CLOSED: "neutral", HALF_OPEN: "warn", OPEN: "bad" };
/** Open breakers first, then half-open ones. */
const BREAKER_RANK: Record<BreakerState, number> = { OPEN: 0, HALF_OPEN: 1, CLOSED: 2 };

/** The bar clock (active, last tick and its age, loop health) and every circuit breaker. */
export function SchedulerCard({ status }: { status: StatusQuery }) {
  const now = useNow(1000);
  const data = status.data;
  const stale = isStale(status, now);
  const sched = data?.scheduler;
  const lastTick = parseTime(sched?.last_tick_at);
  const breakers = [...(sched?.circuit_breakers ?? [])].sort(
    (a, b) => BREAKER_RANK[a.state] - BREAKER_RANK[b.state] || a.scope.localeCompare(b.scope),
  );
  const open = breakers.filter((b) => b.state === "OPEN").length;
  const half = breakers.filter((b) => b.state === "HALF_OPEN").length;
  return (
    <Card title="Scheduler" status={<PanelStatus query={status} />}>
      {status.isPending && <p className="text-sm text-muted">Loading…</p>}
      {status.isError && !data && <NoStatus what="Scheduler health" />}
      {sched && (
        <div className={cn("flex flex-col gap-4", stale && "opacity-70")}>
          <dl className="grid grid-cols-1 gap-3 text-sm sm:grid-cols-3">
            <div>
              <dt className="text-xs text-muted uppercase">Bar clock</dt>
              <dd className="mt-1">
                <Badge tone={sched.active ? "ok" : "bad"}>{sched.active ? "Active" : "Not active"}</Badge>
              </dd>
            </div>
            <div>
              <dt className="text-xs text-muted uppercase">Loop health</dt>
              <dd className="mt-1 flex flex-wrap items-center gap-2">
                <Badge tone={LOOP_TONE[sched.loop_health] ?? "neutral"}>{sched.loop_health}</Badge>
                <span className="text-xs text-muted">{LOOP_MEANING[sched.loop_health]}</span>
              </dd>
            </div>
            <div>
              <dt className="text-xs text-muted uppercase">Last tick</dt>
              <dd className="mt-1" data-testid="last-tick">
                {lastTick === null ? (
                  <span className="text-muted">never — no bar boundary has fired yet</span>
                ) : (
                  <>
                    <span className="font-mono text-xs">{formatTime(sched.last_tick_at)}</span>{" "}
                    <span className="text-xs text-muted">({ago(lastTick, now)})</span>
                  </>
                )}
              </dd>
            </div>
          </dl>
          <div>
            <h3 className="mb-2 flex flex-wrap items-center gap-2 text-xs font-semibold text-muted uppercase">
              Circuit breakers
              {breakers.length > 0 && (
                <span className="font-normal normal-case">
                  {open} open · {half} half-open · {breakers.length - open - half} closed
                </span>
              )}
            </h3>
            {breakers.length === 0 ? (
              <EmptyState
                title="No circuit breakers reported"
                reason="Each running bot runner (bot:<id>) and provider actor (provider:<id>) has one; the runtime reports none running."
              />
            ) : (
              <div className="relative max-h-72 overflow-auto" tabIndex={0} role="region" aria-label="Circuit breakers (scrolls)">
                <table className="tp-table" aria-label="Circuit breakers">
                  <thead>
                    <tr>
                      <th>Scope</th>
                      <th>State</th>
                      <th style={{ textAlign: "right" }}>Failures in window</th>
                    </tr>
                  </thead>
                  <tbody>
                    {breakers.map((b) => (
                      <tr key={b.scope}>
                        <td className="text-xs">
                          <BreakerScope scope={b.scope} />
                        </td>
                        <td>
                          <Badge tone={BREAKER_TONE[b.state] ?? "neutral"}>{b.state}</Badge>
                        </td>
                        <td className="text-right tabular-nums">{b.failures_in_window}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </div>
        </div>
      )}
    </Card>
  );
}

/** A breaker's scope: a bot's by its name (linking to its page), a provider's by its id. */
function BreakerScope({ scope }: { scope: string }) {
  const bot = scope.startsWith("bot:") ? scope.slice(4) : null;
  if (!bot) return <span className="font-mono">{scope}</span>;
  return (
    <span>
      bot <BotName id={bot} />
    </span>
  );
}
