import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import type { AiOpsProviderSeries, AiOpsSummary } from "../../queries/aiops";
import { AiOpsPage } from "./index";
import { formatMs, formatRate } from "./format";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const NOW = Date.parse("2026-11-26T12:00:00Z");

function provider(over: Partial<AiOpsSummary["providers"][number]>): AiOpsSummary["providers"][number] {
  return {
    provider_id: "x",
    label: "X",
    configured: false,
    calls: 0,
    ok: 0,
    errors: 0,
    error_rate: null,
    errors_by_code: {},
    latency_ms: null,
    last_call_at: null,
    last_used_at: null,
    no_data_reason: "not configured",
    ...over,
  };
}

const SUMMARY: AiOpsSummary = {
  window: "24h",
  from: "2026-11-25T12:00:00Z",
  to: "2026-11-26T12:00:00Z",
  providers: [
    provider({
      provider_id: "openai",
      label: "OpenAI",
      configured: true,
      calls: 1200,
      ok: 1170,
      errors: 30,
      error_rate: 0.025,
      errors_by_code: { RATE_LIMITED: 21, UPSTREAM_TIMEOUT: 9 },
      latency_ms: { p50: 840, p95: 2310, p99: 4890 },
      last_call_at: "2026-11-26T11:59:00Z",
      last_used_at: "2026-11-26T11:59:00Z",
      no_data_reason: null,
    }),
    provider({
      provider_id: "anthropic",
      label: "Anthropic",
      configured: true,
      calls: 4,
      errors: 4,
      error_rate: 1,
      errors_by_code: { CIRCUIT_BREAKER_OPEN: 4 },
      latency_ms: null,
      last_call_at: "2026-11-26T10:00:00Z",
      no_data_reason: null,
    }),
    provider({ provider_id: "groq", label: "Groq", configured: true, no_data_reason: "no calls in the window", last_used_at: "2026-11-20T08:00:00Z" }),
    provider({ provider_id: "xai", label: "xAI" }),
  ],
  totals: {
    providers: 4,
    providers_configured: 3,
    providers_with_calls: 2,
    calls: 1204,
    ok: 1170,
    errors: 34,
    error_rate: 34 / 1204,
    errors_by_code: { RATE_LIMITED: 21, UPSTREAM_TIMEOUT: 9, CIRCUIT_BREAKER_OPEN: 4 },
    latency_ms: { p50: 840, p95: 2310, p99: 4890 },
    last_call_at: "2026-11-26T11:59:00Z",
    no_data_reason: null,
  },
  models: [],
  actions: [],
  budgets: [],
};

function buckets(n: number, f: (i: number) => Partial<AiOpsProviderSeries["buckets"][number]>) {
  return Array.from({ length: n }, (_, i) => ({
    start: new Date(NOW - (n - i) * 3_600_000).toISOString(),
    calls: 0,
    errors: 0,
    p50_ms: null,
    p95_ms: null,
    p99_ms: null,
    ...f(i),
  }));
}

const SERIES = {
  window: "24h",
  from: SUMMARY.from,
  to: SUMMARY.to,
  bucket_seconds: 3600,
  providers: [
    {
      provider_id: "openai",
      label: "OpenAI",
      configured: true,
      calls: 1200,
      errors: 30,
      no_data_reason: null,
      buckets: buckets(24, (i) => (i === 3 ? {} : { calls: 50, errors: i % 2, p50_ms: 800 + i, p95_ms: 2000 + i, p99_ms: 4000 + i })),
    },
    { provider_id: "groq", label: "Groq", configured: true, calls: 0, errors: 0, no_data_reason: "no calls in the window", buckets: buckets(24, () => ({})) },
    { provider_id: "xai", label: "xAI", configured: false, calls: 0, errors: 0, no_data_reason: "not configured", buckets: buckets(24, () => ({})) },
  ],
};

function handlers(summary: object = SUMMARY, series: object = SERIES) {
  const seen: string[] = [];
  server.use(
    http.get("*/api/ai-ops/summary", ({ request }) => {
      seen.push(`summary ${new URL(request.url).search}`);
      return HttpResponse.json(ok(summary));
    }),
    http.get("*/api/ai-ops/series", ({ request }) => {
      seen.push(`series ${new URL(request.url).search}`);
      return HttpResponse.json(ok(series));
    }),
  );
  return seen;
}

describe("AiOpsPage", () => {
  it("shows per provider calls, errors by code, error rate and p50/p95/p99, and the totals", async () => {
    handlers();
    renderWithApp(<AiOpsPage />, { path: "/ai-ops" });
    const rows = await screen.findAllByTestId("provider-row");
    const openai = rows.find((r) => r.dataset.provider === "openai")!;
    expect(openai).toHaveTextContent("OpenAI");
    expect(openai).toHaveTextContent("configured");
    expect(openai).toHaveTextContent("1,200");
    expect(openai).toHaveTextContent("2.5 %");
    expect(openai).toHaveTextContent("840 ms");
    expect(openai).toHaveTextContent("2.31 s");
    expect(openai).toHaveTextContent("4.89 s");
    expect(openai).toHaveTextContent("RATE_LIMITED ×21");
    expect(openai).toHaveTextContent("UPSTREAM_TIMEOUT ×9");
    const totals = screen.getByRole("region", { name: "AI Ops totals" });
    expect(totals).toHaveTextContent("1,204");
    expect(totals).toHaveTextContent("3 of 4 configured");
    expect(screen.getByTestId("totals-row")).toHaveTextContent("CIRCUIT_BREAKER_OPEN ×4");
  });

  it("rows without data state their no_data_reason instead of zeros; untimed calls say why", async () => {
    handlers();
    renderWithApp(<AiOpsPage />, { path: "/ai-ops" });
    const rows = await screen.findAllByTestId("provider-row");
    const groq = rows.find((r) => r.dataset.provider === "groq")!;
    expect(groq).toHaveTextContent("No data: no calls in the window");
    expect(groq).toHaveTextContent("last successful call");
    expect(groq).not.toHaveTextContent("0 %");
    expect(rows.find((r) => r.dataset.provider === "xai")).toHaveTextContent("No data: not configured");
    const anthropic = rows.find((r) => r.dataset.provider === "anthropic")!;
    expect(anthropic).toHaveTextContent("not measured: no call reached the vendor");
    expect(anthropic).toHaveTextContent("100 %");
  });

  it("charts latency percentiles and calls/errors per provider with calls; gaps stay gaps", async () => {
    const seen = handlers();
    const u = userEvent.setup();
    renderWithApp(<AiOpsPage />, { path: "/ai-ops" });
    const latency = await screen.findByRole("figure", { name: "OpenAI latency (p50 / p95 / p99)" });
    expect(screen.getByRole("figure", { name: "OpenAI calls and errors" })).toBeInTheDocument();
    expect(within(latency).getByTestId("uplot-host")).toBeInTheDocument();
    expect(screen.getAllByTestId("provider-series")).toHaveLength(1);
    await u.click(within(latency).getByText("Data table"));
    const table = within(latency).getByRole("table", { name: "OpenAI latency (p50 / p95 / p99)" });
    const body = within(table).getAllByRole("row").slice(1);
    expect(body).toHaveLength(24);
    expect(within(body[0]!).getAllByRole("cell").map((c) => c.textContent).slice(1)).toEqual(["800 ms", "2.00 s", "4.00 s"]);
    expect(within(body[3]!).getAllByRole("cell").map((c) => c.textContent).slice(1)).toEqual(["—", "—", "—"]);
    const without = screen.getByRole("list", { name: "Providers without chart" });
    expect(without).toHaveTextContent("Groq: no chart — no calls in the window");
    expect(without).toHaveTextContent("xAI: no chart — not configured");
    expect(seen).toContain("series ?window=24h&buckets=24");
  });

  it("switches the window through the URL and asks for it", async () => {
    const seen = handlers();
    const u = userEvent.setup();
    const { router } = renderWithApp(<AiOpsPage />, { path: "/ai-ops" });
    await screen.findAllByTestId("provider-row");
    expect(screen.getByRole("button", { name: "Last 24 h" })).toHaveAttribute("aria-pressed", "true");
    await u.click(screen.getByRole("button", { name: "Last 7 d" }));
    await waitFor(() => expect(router.state.location.search).toEqual({ window: "7d" }));
    await waitFor(() => expect(seen).toEqual(expect.arrayContaining(["summary ?window=7d", "series ?window=7d&buckets=28"])));
    expect(screen.getByRole("button", { name: "Last 7 d" })).toHaveAttribute("aria-pressed", "true");
  });

  it("empty window: totals say why, nothing is charted", async () => {
    const quiet = {
      ...SUMMARY,
      providers: [provider({ provider_id: "openai", label: "OpenAI", configured: true, no_data_reason: "no calls in the window" })],
      totals: { ...SUMMARY.totals, providers: 1, providers_configured: 1, providers_with_calls: 0, calls: 0, ok: 0, errors: 0, error_rate: null, errors_by_code: {}, latency_ms: null, last_call_at: null, no_data_reason: "no calls in the window" },
    };
    handlers(quiet, { ...SERIES, providers: [SERIES.providers[1]] });
    renderWithApp(<AiOpsPage />, { path: "/ai-ops?window=1h" });
    expect(await screen.findByTestId("totals-row")).toHaveTextContent("No data: no calls in the window");
    expect(await screen.findByText("Nothing to chart in this window")).toBeInTheDocument();
    expect(screen.queryByRole("figure")).not.toBeInTheDocument();
  });

  it("degraded: the summary's error code, message and trace id; the series still shows", async () => {
    server.use(
      http.get("*/api/ai-ops/summary", () =>
        HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable.", TRACE, "Check Postgres."), { status: 503, headers: { "x-trace-id": TRACE } }),
      ),
      http.get("*/api/ai-ops/series", () => HttpResponse.json(ok(SERIES))),
    );
    renderWithApp(<AiOpsPage />, { path: "/ai-ops" });
    expect(await screen.findByText("DATABASE_UNAVAILABLE: The database is unreachable.")).toBeInTheDocument();
    expect(screen.getByText("Fix: Check Postgres.")).toBeInTheDocument();
    expect(screen.getAllByText(new RegExp(TRACE)).length).toBeGreaterThan(0);
    expect(await screen.findByRole("figure", { name: "OpenAI calls and errors" })).toBeInTheDocument();
  });

  it("degraded after data: keeps the last numbers with their age beside the error", async () => {
    let fail = false;
    server.use(
      http.get("*/api/ai-ops/summary", () =>
        fail ? HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "down", TRACE), { status: 503 }) : HttpResponse.json(ok(SUMMARY)),
      ),
      http.get("*/api/ai-ops/series", () => HttpResponse.json(ok(SERIES))),
    );
    const { client } = renderWithApp(<AiOpsPage />, { path: "/ai-ops" });
    await screen.findAllByTestId("provider-row");
    fail = true;
    await client.refetchQueries({ queryKey: ["/api/ai-ops/summary"] });
    expect(await screen.findByText("DATABASE_UNAVAILABLE")).toBeInTheDocument();
    expect(screen.getByText(/stale: last good/)).toBeInTheDocument();
    expect(screen.getAllByTestId("provider-row").length).toBe(4);
  });

  it("shows real generation calls per model, each action's success rate and fallbacks, and the budget left", async () => {
    handlers({
      ...SUMMARY,
      models: [
        {
          provider_id: "openai",
          model: "gpt-4o-mini",
          calls: 3,
          ok: 1,
          errors: 2,
          errors_by_code: { TIMEOUT: 2 },
          latency_ms: { p50: 900, p95: 1900, p99: 1990 },
          input_tokens: 1200,
          output_tokens: 300,
          cost_usd: null,
          unpriced_calls: 1,
        },
        {
          provider_id: "anthropic",
          model: "claude-3-5-haiku-latest",
          calls: 2,
          ok: 2,
          errors: 0,
          errors_by_code: {},
          latency_ms: { p50: 400, p95: 450, p99: 460 },
          input_tokens: 800,
          output_tokens: 100,
          cost_usd: "0.0013",
          unpriced_calls: 0,
        },
      ],
      actions: [
        { action: "backtest_review", calls: 1, ok: 0, success_rate: 0, fallbacks: 0 },
        { action: "explain", calls: 4, ok: 3, success_rate: 0.75, fallbacks: 2 },
      ],
      budgets: [
        { scope: "total", spent: { tokens: 2400, cost: "0.0013", unpriced_calls: 1 }, tokens_per_day: 100000, cost_per_day: null, tokens_left: 97600, cost_left: null },
        { scope: "anthropic", spent: { tokens: 900, cost: "0.0013", unpriced_calls: 0 }, tokens_per_day: null, cost_per_day: "2.5", tokens_left: null, cost_left: "2.4987" },
      ],
    });
    renderWithApp(<AiOpsPage />, { path: "/ai-ops" });
    const models = await screen.findByRole("table", { name: "Generation calls per model" });
    const openai = models.querySelector('[data-model-row="openai/gpt-4o-mini"]')!;
    expect(openai).toHaveTextContent("TIMEOUT ×2");
    expect(openai).toHaveTextContent("900 ms");
    expect(openai).toHaveTextContent("1.99 s");
    expect(openai).toHaveTextContent("1,200 / 300");
    expect(openai).toHaveTextContent("1 unpriced");
    expect(models.querySelector('[data-model-row="anthropic/claude-3-5-haiku-latest"]')).toHaveTextContent("$0.0013");
    const actions = screen.getByRole("table", { name: "AI actions" });
    const explain = actions.querySelector('[data-action-row="explain"]')!;
    expect(explain).toHaveTextContent("75 %");
    expect(within(explain as HTMLElement).getAllByRole("cell")[4]).toHaveTextContent("2");
    const budgets = screen.getByRole("table", { name: "Budgets today" });
    expect(budgets.querySelector('[data-budget-row="total"]')).toHaveTextContent("97,600 of 100,000");
    expect(budgets.querySelector('[data-budget-row="total"]')).toHaveTextContent("no limit");
    expect(budgets.querySelector('[data-budget-row="anthropic"]')).toHaveTextContent("$2.4987 of $2.5000");
  });

  it("formats without inventing numbers", () => {
    expect(formatMs(null)).toBe("—");
    expect(formatRate(null)).toBe("—");
    expect(formatRate(0)).toBe("0 %");
    expect(formatRate(0.0004)).toBe("< 0.1 %");
    expect(formatMs(12_345)).toBe("12.3 s");
  });
});
