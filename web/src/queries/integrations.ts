// /api/integrations/*: every provider's configuration, connection and proof of use, its
// verify, and its latest usage events — plus the one wording of a provider's connection state
// that every screen uses ("Connected" is never green without proof of use).
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

/** Display order and names of the registry's categories. */
export const CATEGORIES: { id: Category; label: string; about: string }[] = [
  { id: "market_data", label: "Market data", about: "Bars and quotes the bots trade on" },
  { id: "execution", label: "Execution", about: "Brokers that place orders" },
  { id: "llm", label: "LLM", about: "Models for AI-assisted actions" },
  { id: "alt_data", label: "Alternative data", about: "Flow and sentiment feeds" },
  { id: "infra", label: "Infrastructure", about: "Cache and notifications" },
];

export interface ConnectionState {
  /** "Not configured", "Connected — not yet used", "Connected · 3 uses in 24h", … */
  label: string;
  tone: Tone;
  /** Stable id for tests and styling. */
  kind: "not-configured" | "not-connected" | "connected-unused" | "connected-used" | "unverified" | "unverifiable";
}

function uses(n: number): string {
  return `${n} use${n === 1 ? "" : "s"} in 24h`;
}

/**
 * A provider's connection in words, from what the API proves: green only when the latest
 * verify passed at the current endpoint AND successful calls happened in the last 24 h.
 */
export function connectionState(p: ProviderStatus): ConnectionState {
  if (!p.configured) return { kind: "not-configured", label: "Not configured", tone: "neutral" };
  if (p.connected === false) return { kind: "not-connected", label: "Not connected", tone: "bad" };
  if (p.connected === true) {
    return p.proof_of_use_count_24h > 0
      ? { kind: "connected-used", label: `Connected · ${uses(p.proof_of_use_count_24h)}`, tone: "ok" }
      : { kind: "connected-unused", label: "Connected — not yet used", tone: "info" };
  }
  // connected is null: never verified at this endpoint, or the vendor cannot prove a key.
  const used = p.proof_of_use_count_24h > 0 ? ` · ${uses(p.proof_of_use_count_24h)}` : "";
  return p.verify_outcome === "unverifiable"
    ? { kind: "unverifiable", label: `Key cannot be verified${used}`, tone: "neutral" }
    : { kind: "unverified", label: `Not verified yet${used}`, tone: "warn" };
}
