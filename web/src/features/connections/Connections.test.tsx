import { beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { connectionState, percent, sessionState, type BrokerSession, type ProviderStatus } from "../../queries/integrations";
import { ConnectionsPage } from ".";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const VERIFY_TRACE = "5ce0e9a56015fec5aadfa328ae398115";
const recent = new Date(Date.now() - 90_000).toISOString();

/** GET /api/integrations/{id}/latency: 24 hourly buckets ending now; `timed` maps bucket index → [calls, p50, p95]. */
function latency(id: string, label: string, timed: Record<number, [number, number | null, number | null]> = {}, configured = true) {
  const to = Date.now();
  const buckets = Array.from({ length: 24 }, (_, i) => {
    const [calls, p50, p95] = timed[i] ?? [0, null, null];
    return { start: new Date(to - (24 - i) * 3_600_000).toISOString(), calls, errors: 0, p50_ms: p50, p95_ms: p95, p99_ms: p95 };
  });
  const calls = buckets.reduce((n, b) => n + b.calls, 0);
  return http.get(`*/api/integrations/${id}/latency`, () =>
    HttpResponse.json(
      ok({ provider_id: id, label, configured, window: "24h", from: new Date(to - 86_400_000).toISOString(), to: new Date(to).toISOString(), bucket_seconds: 3600, calls, errors: 0, no_data_reason: calls === 0 ? "no calls in the window" : null, buckets }),
    ),
  );
}

function provider(over: Partial<ProviderStatus> & Pick<ProviderStatus, "id" | "label" | "category">): ProviderStatus {
  return {
    configured: true,
    connected: null,
    sandbox: false,
    last_verified_at: null,
    verify_outcome: null,
    last_used_at: null,
    proof_of_use_count_24h: 0,
    last_error_code_24h: null,
    missing_env_vars: [],
    required_env_vars: [],
    optional_env_vars: [],
    supports_verify: true,
    error_code: null,
    suggested_fix: null,
    health: over.configured === false ? "NOT_CONFIGURED" : "UNKNOWN",
    breaker_state: over.configured === false ? null : "CLOSED",
    breakers_elsewhere: [],
    calls_15m: 0,
    ok_15m: 0,
    success_rate_15m: null,
    calls_refused: 0,
    last_error: null,
    uptime_24h: [],
    ...over,
  };
}

const hours = (ok: number, errors: number) =>
  Array.from({ length: 24 }, (_, i) => ({ start: new Date(Date.UTC(2026, 11, 3, i)).toISOString(), ok: i === 23 ? ok : 0, errors: i === 23 ? errors : 0 }));

const providers: ProviderStatus[] = [
  provider({ id: "databento", label: "Databento", category: "market_data", connected: true, verify_outcome: "ok", last_verified_at: recent }),
  provider({
    id: "polygon",
    label: "Polygon",
    category: "market_data",
    connected: true,
    sandbox: true,
    verify_outcome: "ok",
    last_verified_at: recent,
    last_used_at: recent,
    proof_of_use_count_24h: 12,
    health: "CONNECTED",
    calls_15m: 4,
    ok_15m: 4,
    success_rate_15m: 1,
    uptime_24h: hours(12, 0),
  }),
  provider({
    id: "ironbeam",
    label: "Ironbeam",
    category: "execution",
    connected: false,
    verify_outcome: "invalid_credentials",
    last_verified_at: recent,
    last_error_code_24h: "INVALID_CREDENTIALS",
    // The wire carries SCREAMING_SNAKE codes (the generated enum is wrong; see the report).
    error_code: "INTEGRATION_VERIFY_FAILED" as ProviderStatus["error_code"],
    suggested_fix: "The vendor rejected the credentials: replace them, then verify ironbeam again.",
  }),
  provider({
    id: "anthropic",
    label: "Anthropic",
    category: "llm",
    configured: false,
    connected: false,
    missing_env_vars: ["ANTHROPIC_API_KEY"],
    error_code: "INTEGRATION_KEY_MISSING" as ProviderStatus["error_code"],
    suggested_fix: "Set ANTHROPIC_API_KEY and restart tradeplane.",
  }),
];

function me(role: "viewer" | "operator" | "admin") {
  return http.get("*/api/auth/me", () =>
    HttpResponse.json(
      ok({
        user: { id: "7d1c3a52-3f1e-4a57-9d59-8f1f6f2b8a10", email: `${role}@example.com`, role, disabled: false, two_factor_enabled: true, backup_codes_remaining: 8, created_at: "2026-11-01T10:00:00Z" },
        session: {},
        step_up_valid_until: null,
      }),
    ),
  );
}

function statusOk(list: ProviderStatus[] = providers) {
  return http.get("*/api/integrations/status", () => HttpResponse.json(ok({ providers: list })));
}

/** A logged-in, heartbeating demo session of `broker` that can trade (override what a test needs). */
function session(over: Partial<BrokerSession> = {}): BrokerSession {
  return {
    broker: "ironbeam",
    account: "5100001",
    live: false,
    ready: true,
    can_trade: true,
    heartbeats: 42,
    heartbeat_failures: 0,
    last_heartbeat_at: recent,
    logins: 1,
    renewals: 3,
    restarts: 0,
    lost_since: null,
    hold: null,
    blocked_until: null,
    last_error: null,
    stream: null,
    ...over,
  };
}

/** GET /api/runtime/brokers with these broker sessions (or its failure). */
function brokerSessions(brokers: BrokerSession[] | "fail") {
  return http.get("*/api/runtime/brokers", () =>
    brokers === "fail" ? HttpResponse.json(apiError("INTERNAL", "boom", TRACE), { status: 500 }) : HttpResponse.json(ok({ sessions: brokers })),
  );
}

// The configured broker's card reads its session; no session unless a test says otherwise.
beforeEach(() => server.use(brokerSessions([])));

const card = (id: string) => screen.getByTestId(`provider-${id}`);
const stateOf = (id: string) => within(card(id)).getByTestId("connection-state");

describe("connectionState", () => {
  const base = providers[0]!;
  it("is green only from live health: breaker CLOSED and recent calls succeeding", () => {
    expect(connectionState({ ...base, health: "CONNECTED", calls_15m: 4, ok_15m: 4, success_rate_15m: 1 })).toMatchObject({
      label: "Connected · 4/4 ok in 15 min (100%)",
      tone: "ok",
    });
    // A passed verify and plenty of use in 24 h do not make an open breaker green.
    const open = connectionState({ ...base, health: "FAILING", breaker_state: "OPEN", connected: true, proof_of_use_count_24h: 346 });
    expect(open).toMatchObject({ kind: "failing", label: "Failing · breaker OPEN", tone: "bad" });
    expect(connectionState({ ...base, health: "FAILING", breaker_state: "HALF_OPEN" })).toMatchObject({ label: "Failing · breaker HALF_OPEN", tone: "bad" });
    // Closed here, open on another node: failing, and the node is named.
    const elsewhere = { scope: "provider:polygon", node: "node-b", state: "OPEN" as const, updated_at: "2026-12-08T03:00:00Z" };
    expect(connectionState({ ...base, health: "FAILING", breaker_state: "CLOSED", breakers_elsewhere: [elsewhere] })).toMatchObject({
      label: "Failing · breaker OPEN on node-b",
      tone: "bad",
    });
    expect(connectionState({ ...base, health: "FAILING", calls_15m: 3, ok_15m: 1, success_rate_15m: 1 / 3 })).toMatchObject({
      label: "Failing · 1/3 ok in 15 min (33%)",
      tone: "bad",
    });
    expect(connectionState({ ...base, health: "DEGRADED", calls_15m: 10, ok_15m: 8, success_rate_15m: 0.8 })).toMatchObject({
      label: "Degraded · 8/10 ok in 15 min (80%)",
      tone: "warn",
    });
    expect(connectionState({ ...base, health: "CONNECTED", connected: false })).toMatchObject({ kind: "connected-verify-failed", tone: "warn" });
  });

  it("without recent calls shows the latest verify for what it is, never green", () => {
    expect(connectionState({ ...base, connected: true, proof_of_use_count_24h: 9 })).toMatchObject({ label: "Verified · no calls in 15 min", tone: "info" });
    expect(connectionState({ ...base, connected: null })).toMatchObject({ label: "Not verified yet", tone: "warn" });
    expect(connectionState({ ...base, connected: null, verify_outcome: "unverifiable" })).toMatchObject({ label: "Key cannot be verified", tone: "neutral" });
    expect(connectionState({ ...base, connected: false })).toMatchObject({ label: "Not connected", tone: "bad" });
    expect(connectionState({ ...base, health: "NOT_CONFIGURED", configured: false, connected: false, proof_of_use_count_24h: 5 })).toMatchObject({ label: "Not configured" });
  });

  it("never rounds a failing rate up to 100%", () => {
    expect(percent(0.996)).toBe("99.6%");
    expect(percent(1)).toBe("100%");
    expect(percent(2 / 3)).toBe("67%");
  });
});

describe("ConnectionsPage", () => {
  it("lists every provider by category with its state in words, proof, errors and fixes", async () => {
    server.use(me("operator"), statusOk());
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    expect(await screen.findByTestId("provider-databento")).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "Connections" })).toBeInTheDocument();
    const market = screen.getByRole("region", { name: /Market data/ });
    expect(within(market).getAllByRole("article").map((a) => a.getAttribute("aria-label"))).toEqual(["Databento", "Polygon"]);
    expect(screen.getByRole("region", { name: /Execution/ })).toHaveTextContent("Ironbeam");
    expect(screen.getByRole("region", { name: /LLM/ })).toHaveTextContent("Anthropic");

    // Verified but no recent calls: not green.
    expect(stateOf("databento")).toHaveTextContent("Verified · no calls in 15 min");
    expect(stateOf("databento").parentElement).not.toHaveClass("text-ok");
    expect(within(card("databento")).getByTestId("last-used")).toHaveTextContent("never");
    // Live calls succeeding: green, with the rate, the breaker, the count and last use.
    expect(stateOf("polygon")).toHaveTextContent("Connected · 4/4 ok in 15 min (100%)");
    expect(stateOf("polygon").parentElement).toHaveClass("text-ok");
    expect(within(card("polygon")).getByTestId("breaker-state")).toHaveTextContent("CLOSED");
    expect(within(card("polygon")).getByRole("img", { name: /Polygon, last 24 h: 12 ok and 0 failed calls/ })).toBeInTheDocument();
    expect(within(card("polygon")).getByTestId("last-used")).toHaveTextContent(/1 min ago/);
    expect(within(card("polygon")).getByTestId("proof-count")).toHaveTextContent("12 successful calls");
    expect(within(card("databento")).getByTestId("proof-count")).toHaveTextContent("0 successful calls");
    expect(within(card("polygon")).getByText("Sandbox")).toHaveAttribute("title", expect.stringContaining("no bot starts or is promoted in LIVE (LIVE reads only official market data)"));
    expect(within(card("databento")).queryByText("Sandbox")).not.toBeInTheDocument();

    expect(stateOf("ironbeam")).toHaveTextContent("Not connected");
    expect(card("ironbeam")).toHaveTextContent("INTEGRATION_VERIFY_FAILED");
    expect(card("ironbeam")).toHaveTextContent("The vendor rejected the credentials");
    expect(card("ironbeam")).toHaveTextContent("INVALID_CREDENTIALS");
    expect(card("ironbeam")).toHaveTextContent("invalid_credentials");

    expect(stateOf("anthropic")).toHaveTextContent("Not configured");
    expect(within(card("anthropic")).getByRole("list", { name: /Missing environment variables/ })).toHaveTextContent("ANTHROPIC_API_KEY");
    expect(card("anthropic")).toHaveTextContent("INTEGRATION_KEY_MISSING");
    expect(card("anthropic")).toHaveTextContent("Set ANTHROPIC_API_KEY and restart tradeplane.");

    // Operators may verify configured providers; unconfigured ones say what is missing.
    await waitFor(() => expect(within(card("databento")).getByRole("button", { name: "Verify" })).toBeEnabled());
    const unconfigured = within(card("anthropic")).getByRole("button", { name: "Verify" });
    expect(unconfigured).toBeDisabled();
    expect(unconfigured.title).toBe("Not configured: set ANTHROPIC_API_KEY first");
    expect(screen.getByTestId("connections-summary")).toHaveTextContent("4providers");
    expect(screen.getByTestId("connections-summary")).toHaveTextContent("1connected (live)");
    expect(screen.getByTestId("connections-summary")).toHaveTextContent("2no recent calls");
    expect(screen.getByTestId("connections-summary")).toHaveTextContent("0breakers open");
  });

  it("says why there is nothing when the registry is empty", async () => {
    server.use(me("operator"), statusOk([]));
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    expect(await screen.findByText("No providers")).toBeInTheDocument();
    expect(screen.getByText(/provider registry is empty/)).toBeInTheDocument();
  });

  it("shows the error with code and trace id when the status endpoint fails", async () => {
    server.use(
      me("operator"),
      http.get("*/api/integrations/status", () =>
        HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable.", TRACE), { status: 503, headers: { "x-trace-id": TRACE } }),
      ),
    );
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    expect(await screen.findByText("DATABASE_UNAVAILABLE: The database is unreachable.")).toBeInTheDocument();
    expect(document.querySelector(`[data-trace-id="${TRACE}"]`)).not.toBeNull();
    expect(screen.queryByRole("article")).not.toBeInTheDocument();
  });

  it("keeps the last good list, labelled stale, with Verify disabled when a refetch fails", async () => {
    let fail = false;
    server.use(
      me("operator"),
      http.get("*/api/integrations/status", () =>
        fail
          ? HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable.", TRACE), { status: 503, headers: { "x-trace-id": TRACE } })
          : HttpResponse.json(ok({ providers })),
      ),
    );
    const { client } = renderWithApp(<ConnectionsPage />, { path: "/connections" });
    await waitFor(() => expect(within(card("databento")).getByRole("button", { name: "Verify" })).toBeEnabled());
    fail = true;
    await client.refetchQueries({ queryKey: ["/api/integrations/status"] });
    expect(await screen.findByText(/Showing the last good list/)).toBeInTheDocument();
    expect(stateOf("polygon")).toHaveTextContent("Connected · 4/4 ok in 15 min (100%)");
    const verify = within(card("databento")).getByRole("button", { name: "Verify" });
    expect(verify).toBeDisabled();
    expect(verify.title).toContain("DATABASE_UNAVAILABLE");
    expect(verify.title).toContain(TRACE);
  });

  it("disables Verify for a viewer and says which role it needs", async () => {
    server.use(me("viewer"), statusOk());
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    await screen.findByTestId("provider-databento");
    await waitFor(() => expect(screen.getByTestId("verify-gate")).toHaveTextContent("Verify needs the operator role; you are signed in as viewer"));
    for (const button of screen.getAllByRole("button", { name: "Verify" })) {
      expect(button).toBeDisabled();
    }
    expect(within(card("databento")).getByRole("button", { name: "Verify" }).title).toBe("Verify needs the operator role; you are signed in as viewer");
  });

  it("runs Verify, shows the outcome with latency and trace id, and refreshes the status", async () => {
    let statusCalls = 0;
    const bodies: unknown[] = [];
    server.use(
      me("operator"),
      http.get("*/api/integrations/status", () => {
        statusCalls += 1;
        return HttpResponse.json(ok({ providers }));
      }),
      http.get("*/api/system/status", () => HttpResponse.json(ok({}))),
      http.post("*/api/integrations/verify", async ({ request }) => {
        bodies.push(await request.json());
        return HttpResponse.json(
          ok(
            { provider_id: "databento", outcome: "invalid_credentials", connected: false, sandbox: false, error_code: "HTTP_401", message: "401 Unauthorized: bad key", verified_at: "2026-11-26T13:04:05Z", latency_ms: 187 },
            VERIFY_TRACE,
          ),
        );
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    const verify = await waitFor(() => {
      const b = within(card("databento")).getByRole("button", { name: "Verify" });
      expect(b).toBeEnabled();
      return b;
    });
    const before = statusCalls;
    await u.click(verify);
    const outcome = await within(card("databento")).findByTestId("verify-outcome");
    expect(bodies).toEqual([{ provider_id: "databento" }]);
    expect(outcome).toHaveTextContent("invalid_credentials");
    expect(outcome).toHaveTextContent("The vendor rejected the credentials");
    expect(outcome).toHaveTextContent("401 Unauthorized: bad key");
    expect(outcome).toHaveTextContent("HTTP_401");
    expect(outcome).toHaveTextContent("187 ms");
    expect(outcome.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", VERIFY_TRACE);
    await waitFor(() => expect(statusCalls).toBeGreaterThan(before));
  });

  it("shows a refused Verify's code, fix and trace id", async () => {
    server.use(
      me("operator"),
      statusOk(),
      http.get("*/api/system/status", () => HttpResponse.json(ok({}))),
      http.post("*/api/integrations/verify", () =>
        HttpResponse.json(apiError("CIRCUIT_BREAKER_OPEN", "polygon: circuit breaker open after repeated failures; the vendor was not called", VERIFY_TRACE, "Find the cause in GET /api/integrations/polygon/events"), {
          status: 409,
          headers: { "x-trace-id": VERIFY_TRACE },
        }),
      ),
    );
    const u = userEvent.setup();
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    const verify = await waitFor(() => {
      const b = within(card("polygon")).getByRole("button", { name: "Verify" });
      expect(b).toBeEnabled();
      return b;
    });
    await u.click(verify);
    const outcome = await within(card("polygon")).findByTestId("verify-outcome");
    expect(outcome).toHaveTextContent("Verify failed");
    expect(outcome).toHaveTextContent("CIRCUIT_BREAKER_OPEN: polygon: circuit breaker open");
    expect(outcome).toHaveTextContent("Fix: Find the cause in GET /api/integrations/polygon/events");
    expect(outcome.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", VERIFY_TRACE);
  });

  it("opens the usage-event pop-out from a deep link and lists the events", async () => {
    let query = "";
    server.use(
      me("operator"),
      statusOk(),
      latency("polygon", "Polygon", { 23: [4, 84, 230] }),
      http.get("*/api/integrations/polygon/events", ({ request }) => {
        query = new URL(request.url).search;
        return HttpResponse.json(
          ok({
            items: [
              { id: "e1", created_at: recent, provider_id: "polygon", action: "bars.fetch", status: "OK", latency_ms: 84, error_code: null, bot_id: "0b6f3c1e-1111-4a57-9d59-8f1f6f2b8a10", run_id: null, trace_id: "11".repeat(16), metadata: {} },
              { id: "e2", created_at: recent, provider_id: "polygon", action: "verify", status: "VERIFY", latency_ms: 230, error_code: "RATE_LIMITED", bot_id: null, run_id: null, trace_id: "22".repeat(16), metadata: {} },
            ],
            next_cursor: null,
          }),
        );
      }),
    );
    const u = userEvent.setup();
    const { router } = renderWithApp(<ConnectionsPage />, { path: "/connections?provider=polygon" });
    const dialog = await screen.findByRole("dialog", { name: "Polygon usage events" });
    const rows = await within(await within(dialog).findByRole("table", { name: "Usage events of Polygon" })).findAllByRole("row");
    expect(query).toBe("?limit=50");
    expect(rows).toHaveLength(3);
    expect(rows[1]).toHaveTextContent("bars.fetch");
    expect(rows[1]).toHaveTextContent("OK");
    expect(rows[1]).toHaveTextContent("84 ms");
    expect(within(rows[1]!).getByRole("link", { name: "0b6f3c1e…" })).toHaveAttribute("title", "Bot id 0b6f3c1e-1111-4a57-9d59-8f1f6f2b8a10");
    expect(rows[2]).toHaveTextContent("VERIFY");
    expect(rows[2]).toHaveTextContent("RATE_LIMITED");
    expect(within(dialog).getByText("Connected · 4/4 ok in 15 min (100%)")).toBeInTheDocument();
    await u.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(router.state.location.search).not.toHaveProperty("provider");
  });

  it("charts the provider's p50 / p95 latency per hour in ms, and says why when there were no calls", async () => {
    server.use(
      me("operator"),
      statusOk(),
      latency("polygon", "Polygon", { 20: [3, 120, 480.4], 23: [4, 84, 1250] }),
      http.get("*/api/integrations/polygon/events", () => HttpResponse.json(ok({ items: [], next_cursor: null }))),
    );
    renderWithApp(<ConnectionsPage />, { path: "/connections?provider=polygon" });
    const dialog = await screen.findByRole("dialog", { name: "Polygon usage events" });
    const chart = await within(dialog).findByRole("figure", { name: "Polygon latency p50 / p95 (ms)" });
    const table = within(chart).getByRole("table");
    expect(within(table).getAllByRole("columnheader").map((h) => h.textContent)).toEqual(["Bucket start", "p50 (ms)", "p95 (ms)"]);
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows).toHaveLength(24);
    // Times in 24-hour form (YYYY-MM-DD HH:MM:SS), values with their unit; empty hours are gaps.
    expect(rows[20]!.textContent).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}120 ms480 ms$/);
    expect(rows[23]).toHaveTextContent("84 ms1,250 ms");
    expect(rows[0]).toHaveTextContent("——");
    expect(within(dialog).getByRole("figure", { name: "Polygon calls and errors per hour" })).toBeInTheDocument();
  });

  it("shows an empty latency state, not an empty chart, when the provider had no calls", async () => {
    server.use(
      me("operator"),
      statusOk(),
      latency("polygon", "Polygon"),
      http.get("*/api/integrations/polygon/events", () => HttpResponse.json(ok({ items: [], next_cursor: null }))),
    );
    renderWithApp(<ConnectionsPage />, { path: "/connections?provider=polygon" });
    const dialog = await screen.findByRole("dialog", { name: "Polygon usage events" });
    const chart = await within(dialog).findByRole("figure", { name: "Polygon latency p50 / p95 (ms)" });
    expect(chart).toHaveTextContent("No call to Polygon in the last 24 h: no latency to chart.");
    expect(within(chart).queryByTestId("uplot-host")).not.toBeInTheDocument();
    expect(within(dialog).queryByRole("figure", { name: /calls and errors/ })).not.toBeInTheDocument();
  });

  it("opens the pop-out from a card, sets the deep link, and explains an empty history", async () => {
    server.use(
      me("operator"),
      statusOk(),
      latency("databento", "Databento"),
      http.get("*/api/integrations/databento/events", () => HttpResponse.json(ok({ items: [], next_cursor: null }))),
    );
    const u = userEvent.setup();
    const { router } = renderWithApp(<ConnectionsPage />, { path: "/connections" });
    await u.click(await screen.findByRole("button", { name: "Usage events for Databento" }));
    const dialog = await screen.findByRole("dialog", { name: "Databento usage events" });
    expect(router.state.location.search).toMatchObject({ provider: "databento" });
    expect(await within(dialog).findByText("No usage recorded yet")).toBeInTheDocument();
    expect(within(dialog).getByText(/none has happened yet\. Run Verify/)).toBeInTheDocument();
  });

  const failing = provider({
    id: "databento",
    label: "Databento",
    category: "market_data",
    connected: true,
    verify_outcome: "ok",
    last_verified_at: recent,
    last_used_at: recent,
    proof_of_use_count_24h: 346,
    health: "FAILING",
    breaker_state: "OPEN",
    calls_15m: 3,
    ok_15m: 0,
    success_rate_15m: 0,
    calls_refused: 7,
    last_error: { code: "PROVIDER_HTTP_5XX", message: "502 Bad Gateway from hist.databento.com", at: recent },
    uptime_24h: hours(340, 10),
  });

  it("shows an open breaker red with its rate, last error and refusals, never Connected", async () => {
    server.use(me("operator"), statusOk([failing]));
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    await screen.findByTestId("provider-databento");
    expect(stateOf("databento")).toHaveTextContent("Failing · breaker OPEN");
    expect(stateOf("databento").parentElement).toHaveClass("text-bad");
    expect(card("databento")).not.toHaveTextContent(/Connected/);
    expect(within(card("databento")).getByTestId("breaker-state")).toHaveTextContent("OPEN");
    expect(within(card("databento")).getByTestId("success-rate")).toHaveTextContent("0/3 ok in 15 min (0%)");
    expect(within(card("databento")).getByTestId("success-rate")).toHaveTextContent("7 refused by the open breaker");
    expect(within(card("databento")).getByTestId("last-error")).toHaveTextContent("PROVIDER_HTTP_5XX");
    expect(within(card("databento")).getByTestId("last-error")).toHaveTextContent("502 Bad Gateway");
    expect(within(card("databento")).getByTestId("uptime-bar").lastElementChild).toHaveAttribute("data-tone", "warn");
    expect(screen.getByTestId("connections-summary")).toHaveTextContent("1breakers open");
  });

  it("shows a breaker open on another node red, naming the node, though this node's is closed", async () => {
    const elsewhere = {
      ...failing,
      breaker_state: "CLOSED" as const,
      calls_refused: 0,
      breakers_elsewhere: [{ scope: "provider:databento", node: "node-b", state: "OPEN" as const, updated_at: recent }],
    };
    server.use(me("operator"), statusOk([elsewhere]));
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    await screen.findByTestId("provider-databento");
    expect(stateOf("databento")).toHaveTextContent("Failing · breaker OPEN on node-b");
    expect(card("databento")).not.toHaveTextContent(/Connected/);
    expect(within(card("databento")).getByTestId("breaker-state")).toHaveTextContent("CLOSEDOPEN on node-b");
    expect(screen.getByTestId("connections-summary")).toHaveTextContent("1breakers open");
  });

  it("resets a breaker after a confirmation that says what the server does, then refreshes", async () => {
    let resets = 0;
    let healed = false;
    server.use(
      me("operator"),
      http.get("*/api/integrations/status", () =>
        HttpResponse.json(ok({ providers: [healed ? { ...failing, health: "UNKNOWN", breaker_state: "CLOSED", calls_15m: 0, ok_15m: 0, success_rate_15m: null } : failing] })),
      ),
      http.get("*/api/system/status", () => HttpResponse.json(ok({}))),
      http.post("*/api/integrations/databento/breaker/reset", () => {
        resets += 1;
        healed = true;
        return HttpResponse.json(ok({ scope: "provider:databento", state: "CLOSED", failures_in_window: 0 }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    const reset = await waitFor(() => {
      const b = within(card("databento")).getByRole("button", { name: "Reset breaker" });
      expect(b).toBeEnabled();
      return b;
    });
    await u.click(reset);
    const dialog = screen.getByRole("alertdialog", { name: "Reset Databento's circuit breaker" });
    expect(dialog).toHaveTextContent("goes from OPEN to CLOSED");
    expect(dialog).toHaveTextContent("7 were refused while it was open");
    expect(dialog).toHaveTextContent("3 failures within 30 minutes open it again");
    expect(resets).toBe(0);
    await u.click(within(dialog).getByRole("button", { name: "Reset breaker" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument());
    expect(resets).toBe(1);
    // No proof yet after the reset: not green.
    await waitFor(() => expect(stateOf("databento")).toHaveTextContent("Verified · no calls in 15 min"));
    expect(within(card("databento")).getByRole("button", { name: "Reset breaker" })).toBeDisabled();
  });

  it("shows a refused reset's code and fix in the dialog", async () => {
    server.use(
      me("operator"),
      statusOk([failing]),
      http.post("*/api/integrations/databento/breaker/reset", () =>
        HttpResponse.json(apiError("REQUEST_TIMEOUT", "databento breaker reset did not finish in time", VERIFY_TRACE, "Retry in a moment."), {
          status: 408,
          headers: { "x-trace-id": VERIFY_TRACE },
        }),
      ),
    );
    const u = userEvent.setup();
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    const reset = await waitFor(() => {
      const b = within(card("databento")).getByRole("button", { name: "Reset breaker" });
      expect(b).toBeEnabled();
      return b;
    });
    await u.click(reset);
    const dialog = screen.getByRole("alertdialog");
    await u.click(within(dialog).getByRole("button", { name: "Reset breaker" }));
    const error = await within(dialog).findByTestId("action-error");
    expect(error).toHaveTextContent("REQUEST_TIMEOUT");
    expect(error).toHaveTextContent("Fix: Retry in a moment.");
    expect(error.querySelector(`[data-trace-id="${VERIFY_TRACE}"]`)).not.toBeNull();
  });

  it("disables Reset breaker for a viewer and says why", async () => {
    server.use(me("viewer"), statusOk([failing]));
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    await screen.findByTestId("provider-databento");
    await waitFor(() =>
      expect(within(card("databento")).getByRole("button", { name: "Reset breaker" })).toHaveAttribute("title", "Reset needs the operator role; you are signed in as viewer"),
    );
    expect(within(card("databento")).getByRole("button", { name: "Reset breaker" })).toBeDisabled();
  });
});

describe("sessionState", () => {
  it("is green only when LIVE orders may go now and the user stream (if any) is in sync", () => {
    expect(sessionState(session())).toMatchObject({ kind: "can-trade", tone: "ok" });
    const stream = { status: "SYNCED", since: recent, connects: 1, drops: 0, authorizations: 1, events: 3, fill_reads_from_stream: 2, fill_reads_from_rest: 0, order_reads_from_stream: 2, order_reads_from_rest: 0, last_frame_at: recent, last_error: null } as const;
    expect(sessionState(session({ broker: "tradovate", stream }))).toMatchObject({ kind: "can-trade", tone: "ok" });
    expect(sessionState(session({ broker: "tradovate", stream: { ...stream, status: "DOWN" } }))).toMatchObject({ kind: "stream-not-synced", tone: "warn" });
    // The server's can_trade is false with the breaker OPEN although logged in.
    expect(sessionState(session({ can_trade: false }))).toMatchObject({ kind: "breaker-open", tone: "bad" });
    expect(sessionState(session({ ready: false, can_trade: false }))).toMatchObject({ kind: "logged-out", tone: "bad" });
    expect(sessionState(session({ ready: false, can_trade: false, blocked_until: recent }))).toMatchObject({ kind: "login-blocked", tone: "bad" });
    expect(sessionState(session({ can_trade: false, lost_since: recent, heartbeat_failures: 2 }))).toMatchObject({ kind: "lost", tone: "bad", label: "Session lost · 2 failed heartbeats" });
    // A hold wins over everything (even a session logged in again).
    const hold = { since: recent, lost_seconds: 45, cancelled: ["5100001-7"], cancel_pending: false, bots: ["live-es"] };
    expect(sessionState(session({ can_trade: false, hold }))).toMatchObject({ kind: "held", tone: "bad" });
  });
});

describe("ConnectionsPage broker session", () => {
  it("shows the broker's session on its card: a held account red with what was cancelled and who is held", async () => {
    const hold = { since: recent, lost_seconds: 45, cancelled: ["5100001-7", "5100001-9"], cancel_pending: false, bots: ["live-es"] };
    server.use(me("operator"), statusOk(), brokerSessions([session({ can_trade: false, hold, heartbeat_failures: 3 })]));
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    const block = await within(await screen.findByTestId("provider-ironbeam")).findByRole("region", { name: "Broker session" });
    const state = await within(block).findByTestId("session-state");
    expect(state.getAttribute("data-kind")).toBe("held");
    expect(state.textContent).toContain("1 LIVE bot suspended");
    expect(within(block).getByTestId("session-hold").textContent).toContain("2 working orders cancelled at the broker; held bots: live-es");
    expect(within(block).getByText(/demo environment · account 5100001/)).toBeTruthy();
    expect(within(block).getByText("42 ok · 3 failed")).toBeTruthy();
  });

  it("shows Can trade green only for a session the server says can trade, with its stream", async () => {
    const stream = { status: "SYNCED", since: recent, connects: 2, drops: 1, authorizations: 2, events: 5, fill_reads_from_stream: 4, fill_reads_from_rest: 1, order_reads_from_stream: 4, order_reads_from_rest: 1, last_frame_at: recent, last_error: null } as const;
    const tradovate = provider({ id: "tradovate", label: "Tradovate", category: "execution", health: "CONNECTED", calls_15m: 2, ok_15m: 2, success_rate_15m: 1 });
    server.use(me("operator"), statusOk([...providers, tradovate]), brokerSessions([session({ broker: "tradovate", stream })]));
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    const block = await within(await screen.findByTestId("provider-tradovate")).findByRole("region", { name: "Broker session" });
    expect((await within(block).findByTestId("session-state")).getAttribute("data-kind")).toBe("can-trade");
    expect(within(block).getByTestId("session-stream").textContent).toContain("1 drop · fills read 4 from the stream, 1 over REST");
    // Ironbeam is configured but has no session on this server: said so, never green.
    const other = within(screen.getByTestId("provider-ironbeam")).getByRole("region", { name: "Broker session" });
    expect(within(other).getByTestId("session-none")).toBeTruthy();
    expect(within(other).queryByTestId("session-state")).toBeNull();
  });

  it("shows no last-known session state when the session read fails", async () => {
    server.use(me("operator"), statusOk(), brokerSessions("fail"));
    renderWithApp(<ConnectionsPage />, { path: "/connections" });
    const block = await within(await screen.findByTestId("provider-ironbeam")).findByRole("region", { name: "Broker session" });
    await waitFor(() => expect(within(block).getByTestId("session-unknown")).toBeTruthy());
    expect(within(block).queryByTestId("session-state")).toBeNull();
  });
});
