// /api/integrations/*: every provider's configuration, live health and proof of use, its
// verify, its breaker reset, and its latest usage events — plus the one wording of a
// provider's connection state that every screen uses ("Connected" is green only from live
// health: breaker CLOSED and recent calls succeeding).
import { queryOptions, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import type { Tone } from "../components/Badge";
import { POLL } from "../lib/queryClient";

export type ProviderStatus = components["schemas"]["ProviderStatus"];
export type VerifyAnswer = components["schemas"]["Envelope_VerifyBody"];
export type UsageEvent = components["schemas"]["UsageEvent"];
export type Category = components["schemas"]["Category"];

/** GET /api/integrations/status (critical: its failure raises the banner and gates Verify). */
export const integrationsStatusQuery = queryOptions({
  queryKey: ["/api/integrations/status"],
  queryFn: () => unwrap(api.GET("/api/integrations/status")),
  refetchInterval: POLL.normal,
  meta: { critical: true, label: "Integrations" },
});

export function useIntegrationsStatus() {
  return useQuery(integrationsStatusQuery);
}

/** How many usage events the Connections pop-out shows. */
export const PROVIDER_EVENTS_LIMIT = 50;

/** GET /api/integrations/{id}/events: the provider's latest usage events, newest first. */
export function providerEventsQuery(id: string, limit = PROVIDER_EVENTS_LIMIT) {
  return queryOptions({
    queryKey: ["/api/integrations/{id}/events", { id, limit }],
    queryFn: () => unwrap(api.GET("/api/integrations/{id}/events", { params: { path: { id }, query: { limit } } })),
    refetchInterval: POLL.normal,
  });
}

/** POST /api/integrations/verify: runs the provider's safe verify (operator role). */
export function verifyProvider(providerId: string): Promise<VerifyAnswer> {
  return unwrap(api.POST("/api/integrations/verify", { body: { provider_id: providerId } }));
}

/** POST /api/integrations/{id}/breaker/reset: closes the provider's breaker (operator role). */
export function resetProviderBreaker(id: string) {
  return unwrap(api.POST("/api/integrations/{id}/breaker/reset", { params: { path: { id } } }));
}

/** Display order and names of the registry's categories. */
export const CATEGORIES: { id: Category; label: string; about: string }[] = [
  { id: "market_data", label: "Market data", about: "Bars and quotes the bots trade on" },
  { id: "execution", label: "Execution", about: "Brokers that place orders" },
  { id: "llm", label: "LLM", about: "Models for AI-assisted actions" },
  { id: "alt_data", label: "Alternative data", about: "Flow and sentiment feeds" },
  { id: "infra", label: "Infrastructure", about: "Cache and notifications" },
];

export type LiveHealth = components["schemas"]["LiveHealth"];
export type UptimeBucket = components["schemas"]["UptimeBucket"];

export interface ConnectionState {
  /** "Connected · 100% ok in 15 min", "Failing · breaker OPEN", "Not configured", … */
  label: string;
  tone: Tone;
  /** Stable id for tests and styling. */
  kind:
    | "not-configured"
    | "connected"
    | "connected-verify-failed"
    | "degraded"
    | "failing"
    | "idle-verified"
    | "not-connected"
    | "unverified"
    | "unverifiable";
}

/** "87%" (whole percent; one decimal between 99 and 100 so 99.6% never reads as 100%). */
export function percent(rate: number): string {
  const pct = rate * 100;
  if (pct > 99 && pct < 100) return `${pct.toFixed(1)}%`;
  return `${Math.round(pct)}%`;
}

/** "3/4 ok in 15 min (75%)". */
export function recentCalls(p: ProviderStatus): string {
  if (p.calls_15m === 0) return "no calls in 15 min";
  const rate = p.success_rate_15m === null || p.success_rate_15m === undefined ? "" : ` (${percent(p.success_rate_15m)})`;
  return `${p.ok_15m}/${p.calls_15m} ok in 15 min${rate}`;
}

/**
 * A provider's connection in words, from its live health (the server's one verdict: breaker
 * and the last 15 minutes of calls). Green only for CONNECTED; an open breaker or failing calls
 * are red whatever the latest verify or the 24 h use count say. Without recent calls the
 * latest verify is shown for what it is: a past proof, never green.
 */
export function connectionState(p: ProviderStatus): ConnectionState {
  switch (p.health) {
    case "NOT_CONFIGURED":
      return { kind: "not-configured", label: "Not configured", tone: "neutral" };
    case "FAILING": {
      if (p.breaker_state && p.breaker_state !== "CLOSED") return { kind: "failing", label: `Failing · breaker ${p.breaker_state}`, tone: "bad" };
      const elsewhere = p.breakers_elsewhere[0];
      return elsewhere
        ? { kind: "failing", label: `Failing · breaker ${elsewhere.state} on ${elsewhere.node}`, tone: "bad" }
        : { kind: "failing", label: `Failing · ${recentCalls(p)}`, tone: "bad" };
    }
    case "DEGRADED":
      return { kind: "degraded", label: `Degraded · ${recentCalls(p)}`, tone: "warn" };
    case "CONNECTED":
      return p.connected === false
        ? { kind: "connected-verify-failed", label: `Calls succeed · latest verify failed`, tone: "warn" }
        : { kind: "connected", label: `Connected · ${recentCalls(p)}`, tone: "ok" };
    case "UNKNOWN":
      break;
  }
  // No recent calls: only the latest verify speaks, and it is not proof of now.
  if (p.connected === false) return { kind: "not-connected", label: "Not connected", tone: "bad" };
  if (p.connected === true) return { kind: "idle-verified", label: "Verified · no calls in 15 min", tone: "info" };
  return p.verify_outcome === "unverifiable"
    ? { kind: "unverifiable", label: "Key cannot be verified", tone: "neutral" }
    : { kind: "unverified", label: "Not verified yet", tone: "warn" };
}

export type ProviderLatency = components["schemas"]["ProviderLatency"];

/** GET /api/integrations/{id}/latency: calls and p50/p95/p99 latency per hour over 24 h. */
export function providerLatencyQuery(id: string) {
  return queryOptions({
    queryKey: ["/api/integrations/{id}/latency", { id, window: "24h", buckets: "24" }],
    queryFn: () => unwrap(api.GET("/api/integrations/{id}/latency", { params: { path: { id }, query: { window: "24h", buckets: "24" } } })),
    refetchInterval: POLL.normal,
  });
}

// ---- broker sessions ----

export type BrokerSession = components["schemas"]["SessionHealth"];

/** GET /api/runtime/brokers: this server's session per broker account. */
export const brokerSessionsQuery = queryOptions({
  queryKey: ["/api/runtime/brokers"],
  queryFn: () => unwrap(api.GET("/api/runtime/brokers")),
  select: (d) => d.sessions,
  refetchInterval: POLL.fast,
});

export interface SessionState {
  kind: "held" | "lost" | "login-blocked" | "logged-out" | "breaker-open" | "stream-not-synced" | "can-trade";
  label: string;
  tone: Tone;
}

/**
 * A broker session in words. Green only when the server says LIVE orders may go now
 * (`can_trade`: logged in, the provider's breaker not OPEN, no cancel-on-disconnect hold) and,
 * where the vendor has a user stream, that stream is in sync; every other state says why not.
 */
export function sessionState(s: BrokerSession): SessionState {
  if (s.hold) {
    const n = s.hold.bots.length;
    return { kind: "held", tone: "bad", label: `Held · ${n} LIVE bot${n === 1 ? "" : "s"} suspended until the account reconciles clean` };
  }
  if (s.lost_since) return { kind: "lost", tone: "bad", label: `Session lost · ${s.heartbeat_failures} failed heartbeat${s.heartbeat_failures === 1 ? "" : "s"}` };
  if (!s.ready) {
    return s.blocked_until
      ? { kind: "login-blocked", tone: "bad", label: "Not logged in · login blocked by the vendor" }
      : { kind: "logged-out", tone: "bad", label: "Not logged in" };
  }
  if (!s.can_trade) return { kind: "breaker-open", tone: "bad", label: "Cannot trade · breaker OPEN" };
  if (s.stream && s.stream.status !== "SYNCED") {
    return { kind: "stream-not-synced", tone: "warn", label: `Can trade · user stream ${s.stream.status}, orders and fills polled over REST` };
  }
  return { kind: "can-trade", tone: "ok", label: "Can trade" };
}
