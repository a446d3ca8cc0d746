import { beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import type { ProviderUsageSeries, UsageEvent, UsageSeries } from "../../queries/usage";
import { ProofOfUsePage } from ".";

// uPlot draws on a canvas jsdom does not have: record what it was asked to draw instead.
const charts = vi.hoisted(() => [] as Array<{ data: number[][]; el: HTMLElement; destroyed: boolean }>);
vi.mock("uplot", () => ({
  default: class {
    entry: { data: number[][]; el: HTMLElement; destroyed: boolean };
    constructor(_opts: unknown, data: number[][], el: HTMLElement) {
      this.entry = { data, el, destroyed: false };
      charts.push(this.entry);
    }
    destroy() {
      this.entry.destroyed = true;
    }
  },
}));

const BOT = "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";
const START = Date.UTC(2026, 10, 25, 14);

function provider(id: string, label: string, over: Partial<ProviderUsageSeries> = {}, counts: Array<[number, number]> = []): ProviderUsageSeries {
  const buckets = Array.from({ length: 24 }, (_, i) => ({
    start: new Date(START + i * 3_600_000).toISOString(),
    calls: counts[i]?.[0] ?? 0,
    errors: counts[i]?.[1] ?? 0,
  }));
  const calls = buckets.reduce((n, b) => n + b.calls, 0);
  const errors = buckets.reduce((n, b) => n + b.errors, 0);
  return {
    provider_id: id,
    label,
    category: "market_data",
    configured: true,
    calls,
    errors,
    no_data_reason: calls === 0 ? (over.configured === false ? "not configured" : "no calls in the window") : null,
    buckets,
    ...over,
  };
}

function seriesOf(providers: ProviderUsageSeries[]): UsageSeries {
  return {
    window: "24h",
    from: new Date(START).toISOString(),
    to: new Date(START + 24 * 3_600_000).toISOString(),
    bucket_seconds: 3600,
    source: "integration_usage_hourly",
    providers,
  };
}

const busy = () =>
  seriesOf([
    provider("databento", "Databento", {}, [[10, 0], [20, 2], [5, 1]]),
    provider("openai", "OpenAI", { category: "llm" }, [[0, 0], [3, 0]]),
    provider("polygon", "Polygon"),
    provider("fred", "FRED", { configured: false, category: "alt_data" }),
  ]);

function usage(n: number, over: Partial<UsageEvent> = {}): UsageEvent {
  return {
    id: `00000000-0000-7000-9000-${String(n).padStart(12, "0")}`,
    created_at: `2026-11-26T12:${String(n).padStart(2, "0")}:00Z`,
    provider_id: "databento",
    action: "timeseries.get_range",
    status: "OK",
    latency_ms: 40 + n,
    error_code: null,
    bot_id: null,
    run_id: null,
    trace_id: `${String(n).padStart(2, "0")}`.repeat(16),
    metadata: {},
    ...over,
  };
}

function api({ series = busy() as UsageSeries | Response, pages = [{ items: [usage(2), usage(1)] }] as Array<{ items: UsageEvent[]; next_cursor?: string | null } | Response> } = {}) {
  const listCalls: URLSearchParams[] = [];
  const seriesCalls: URLSearchParams[] = [];
  server.use(
    http.get("*/api/usage-events/series", ({ request }) => {
      seriesCalls.push(new URL(request.url).searchParams);
      return series instanceof Response ? series.clone() : HttpResponse.json(ok(series));
    }),
    http.get("*/api/usage-events", ({ request }) => {
      listCalls.push(new URL(request.url).searchParams);
      const p = pages[Math.min(listCalls.length - 1, pages.length - 1)]!;
      return p instanceof Response ? p.clone() : HttpResponse.json(ok({ items: p.items, next_cursor: p.next_cursor ?? null }));
    }),
  );
  return { listCalls, seriesCalls };
}

function rows() {
  return within(screen.getByRole("table", { name: "Usage events" })).getAllByRole("row").slice(1);
}

beforeEach(() => {
  charts.length = 0;
});

describe("ProofOfUsePage", () => {
  it("lists usage events newest first with status, latency, bot and trace id", async () => {
    const { listCalls } = api({
      pages: [{ items: [usage(3, { status: "ERROR", error_code: "PROVIDER_RATE_LIMITED", bot_id: BOT }), usage(2, { error_code: "CIRCUIT_BREAKER_OPEN", status: "ERROR", latency_ms: 0 }), usage(1, { status: "VERIFY", action: "verify" })] }],
    });
    renderWithApp(<ProofOfUsePage />, { path: "/proof-of-use" });
    await waitFor(() => expect(rows()).toHaveLength(3));
    const [a, b, c] = rows();
    expect(a).toHaveTextContent("ERROR");
    expect(a).toHaveTextContent("PROVIDER_RATE_LIMITED");
    expect(a).toHaveTextContent("43 ms");
    expect(within(a!).getByRole("link", { name: /0192f3c4/ })).toHaveAttribute("href", `/bots/${BOT}`);
    expect(a!.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", "03".repeat(16));
    expect(b).toHaveTextContent("not sent");
    expect(c).toHaveTextContent("VERIFY");
    expect(c).toHaveTextContent("none");

    // Default window: the last 24 h, from an instant about 24 h before now.
    const from = Date.parse(listCalls[0]!.get("from")!);
    expect(Math.abs(Date.now() - 86_400_000 - from)).toBeLessThan(60_000);
    expect(listCalls[0]!.get("limit")).toBe("50");
    expect(listCalls[0]!.has("provider")).toBe(false);
  });

  it("draws a sparkline per provider with its totals, and totals across providers", async () => {
    const { seriesCalls } = api();
    renderWithApp(<ProofOfUsePage />, { path: "/proof-of-use" });
    const databento = await screen.findByRole("img", { name: "Databento: 35 calls and 3 errors in the last 24 h" });
    expect(screen.getByRole("img", { name: "OpenAI: 3 calls and 0 errors in the last 24 h" })).toBeInTheDocument();
    expect(seriesCalls[0]!.get("window")).toBe("24h");
    expect(seriesCalls[0]!.get("buckets")).toBe("24");
    expect(screen.getByTestId("usage-totals")).toHaveTextContent("38 calls and 3 errors across 4 providers in the last 24 h.");

    // The chart got the buckets: x in seconds, then calls, then errors.
    // uPlot loads on first use.
    await waitFor(() => expect(charts.find((c) => c.el === databento && !c.destroyed)).toBeDefined());
    const chart = charts.find((c) => c.el === databento && !c.destroyed)!;
    expect(chart.data[0]![0]).toBe(START / 1000);
    expect(chart.data[1]!.slice(0, 3)).toEqual([10, 20, 5]);
    expect(chart.data[2]!.slice(0, 3)).toEqual([0, 2, 1]);

    // Most calls first; configured providers without calls and unconfigured ones by name only.
    const list = screen.getByRole("list", { name: "Usage per provider" });
    expect(within(list).getAllByRole("listitem").map((li) => li.getAttribute("data-provider"))).toEqual(["databento", "openai"]);
    expect(within(list).getAllByTestId("provider-totals").map((t) => t.textContent)).toEqual(["35 calls3 errors", "3 calls0 errors"]);
    expect(screen.getByTestId("chips-Configured, no calls in the window")).toHaveTextContent("Polygon");
    expect(screen.getByTestId("chips-Not configured")).toHaveTextContent("FRED");
    expect(screen.getAllByTestId("sparkline")).toHaveLength(2);
  });

  it("shows a selected provider without calls as a tile that says why", async () => {
    api();
    renderWithApp(<ProofOfUsePage />, { path: "/proof-of-use?provider=fred" });
    const list = await screen.findByRole("list", { name: "Usage per provider" });
    const fred = within(list).getAllByRole("listitem").find((li) => li.getAttribute("data-provider") === "fred")!;
    expect(fred).toHaveTextContent("not configured");
    expect(within(fred).queryByTestId("sparkline")).not.toBeInTheDocument();
  });

  it("filters by provider, status and bot through the URL and the request", async () => {
    const { listCalls } = api();
    const { router } = renderWithApp(<ProofOfUsePage />, { path: "/proof-of-use" });
    await waitFor(() => expect(rows()).toHaveLength(2));
    const user = userEvent.setup();

    await user.selectOptions(await screen.findByLabelText("Provider"), "openai");
    await waitFor(() => expect(listCalls.at(-1)!.get("provider")).toBe("openai"));
    await user.selectOptions(screen.getByLabelText("Status"), "ERROR");
    await waitFor(() => expect(listCalls.at(-1)!.get("status")).toBe("ERROR"));
    await user.type(screen.getByLabelText("Bot id"), `${BOT}{Enter}`);
    await waitFor(() => expect(listCalls.at(-1)!.get("bot_id")).toBe(BOT));
    expect(listCalls.at(-1)!.get("provider")).toBe("openai");
    expect(router.state.location.search).toEqual({ provider: "openai", status: "ERROR", bot: BOT });

    // A provider's name in the sparkline list filters by it too.
    await user.click(screen.getByRole("button", { name: "Show usage of Databento" }));
    await waitFor(() => expect(listCalls.at(-1)!.get("provider")).toBe("databento"));
  });

  it("changes the time window for the list and the series, including a custom range", async () => {
    const { listCalls, seriesCalls } = api();
    const { router } = renderWithApp(<ProofOfUsePage />, { path: "/proof-of-use?window=1h" });
    await waitFor(() => expect(rows()).toHaveLength(2));
    expect(seriesCalls[0]!.get("window")).toBe("1h");
    expect(seriesCalls[0]!.get("buckets")).toBe("60");
    expect(Math.abs(Date.now() - 3_600_000 - Date.parse(listCalls[0]!.get("from")!))).toBeLessThan(60_000);

    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText("Time window"), "7d");
    await waitFor(() => expect(seriesCalls.at(-1)!.get("window")).toBe("7d"));
    expect(seriesCalls.at(-1)!.get("buckets")).toBe("42");

    await user.selectOptions(screen.getByLabelText("Time window"), "custom");
    await waitFor(() => expect(router.state.location.search).toMatchObject({ window: "custom" }));
    const from = screen.getByLabelText("From");
    await user.clear(from);
    await user.type(from, "2026-11-20T08:00");
    const to = screen.getByLabelText("To");
    await user.clear(to);
    await user.type(to, "2026-11-21T08:00");
    await user.click(screen.getByRole("button", { name: /Apply/ }));
    await waitFor(() => expect(listCalls.at(-1)!.get("from")).toBe(new Date("2026-11-20T08:00").toISOString()));
    expect(listCalls.at(-1)!.get("to")).toBe(new Date("2026-11-21T08:00").toISOString());
    expect(screen.getByText(/the series always ends now/)).toBeInTheDocument();
  });

  it("refuses a backwards custom range without asking the server", async () => {
    const { listCalls } = api();
    renderWithApp(<ProofOfUsePage />, { path: "/proof-of-use?window=custom&from=2026-11-21T00:00:00Z&to=2026-11-20T00:00:00Z" });
    expect(await screen.findByText("The start of the range must be before its end.")).toBeInTheDocument();
    expect(listCalls).toHaveLength(0);
  });

  it("pages to older events with the cursor and the same range", async () => {
    const { listCalls } = api({ pages: [{ items: [usage(9), usage(8)], next_cursor: "CUR1" }, { items: [usage(1, { action: "older.call" })], next_cursor: null }] });
    renderWithApp(<ProofOfUsePage />, { path: "/proof-of-use?provider=databento" });
    await waitFor(() => expect(rows()).toHaveLength(2));
    await userEvent.setup().click(screen.getByRole("button", { name: /Load older/ }));
    expect(await screen.findByText("older.call")).toBeInTheDocument();
    expect(listCalls[1]!.get("cursor")).toBe("CUR1");
    expect(listCalls[1]!.get("from")).toBe(listCalls[0]!.get("from"));
    expect(listCalls[1]!.get("provider")).toBe("databento");
    expect(rows()).toHaveLength(3);
    expect(screen.getByText(/That is every matching usage event/)).toHaveTextContent("(3)");
  });

  it("says why there is no usage yet: configured providers, none called", async () => {
    api({ series: seriesOf([provider("databento", "Databento"), provider("fred", "FRED", { configured: false })]), pages: [{ items: [] }] });
    renderWithApp(<ProofOfUsePage />, { path: "/proof-of-use" });
    expect(await screen.findByText("No usage in the last 24 h")).toBeInTheDocument();
    expect(screen.getByText(/1 provider is configured \(Databento\) but none was called in the last 24 h/)).toBeInTheDocument();
    expect(screen.getByTestId("usage-totals")).toHaveTextContent("0 calls and 0 errors");
    expect(screen.queryByTestId("sparkline")).not.toBeInTheDocument();
  });

  it("says nothing is configured when no provider is", async () => {
    api({ series: seriesOf([provider("databento", "Databento", { configured: false })]), pages: [{ items: [] }] });
    renderWithApp(<ProofOfUsePage />, { path: "/proof-of-use" });
    expect(await screen.findByText(/No provider is configured yet, so nothing has been called/)).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Go to Connections" })).toHaveAttribute("href", "/connections");
  });

  it("says no event matches the filters, and that an unconfigured provider cannot have been called", async () => {
    api({ pages: [{ items: [] }] });
    renderWithApp(<ProofOfUsePage />, { path: "/proof-of-use?provider=fred&status=ERROR" });
    expect(await screen.findByText("No usage events match these filters")).toBeInTheDocument();
    await waitFor(() => expect(screen.getByText(/No ERROR usage event of fred was recorded in the last 24 h. FRED is not configured/)).toBeInTheDocument());
  });

  it("shows code, fix and trace id when the list fails, and the series stays", async () => {
    api({ pages: [HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable.", "4bf92f3577b34da6a3ce929d0e0e4736", "Check Postgres."), { status: 503 })] });
    renderWithApp(<ProofOfUsePage />, { path: "/proof-of-use" });
    const msg = await screen.findByText(/DATABASE_UNAVAILABLE: The database is unreachable/);
    const box = msg.closest("[role=alert]")!;
    expect(box).toHaveTextContent("Fix: Check Postgres.");
    expect(box.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", "4bf92f3577b34da6a3ce929d0e0e4736");
    expect(await screen.findByRole("img", { name: /Databento: 35 calls/ })).toBeInTheDocument();
  });

  it("shows the series' error with its trace id while the list still loads", async () => {
    api({ series: HttpResponse.json(apiError("VALIDATION_FAILED", "buckets must cut 24h into whole minutes", "abababababababababababababababab"), { status: 422 }) });
    renderWithApp(<ProofOfUsePage />, { path: "/proof-of-use" });
    const msg = await screen.findByText(/VALIDATION_FAILED: buckets must cut/);
    expect(msg.closest("[role=alert]")!.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", "ab".repeat(16));
    await waitFor(() => expect(rows()).toHaveLength(2));
    // Without the series the empty state cannot claim anything about providers; the list is fine.
    expect(screen.queryByTestId("sparkline")).not.toBeInTheDocument();
  });

  it("opens a usage event's details with its metadata", async () => {
    api({ pages: [{ items: [usage(1, { metadata: { dataset: "GLBX.MDP3", schema: "ohlcv-1m" }, run_id: "11111111-1111-7111-8111-111111111111" })] }] });
    renderWithApp(<ProofOfUsePage />, { path: "/proof-of-use" });
    await userEvent.setup().click(await screen.findByRole("button", { name: /Details of databento timeseries.get_range/ }));
    const dialog = await screen.findByRole("dialog", { name: "Usage event" });
    expect(within(dialog).getByTestId("usage-metadata")).toHaveTextContent('"dataset": "GLBX.MDP3"');
    expect(dialog).toHaveTextContent("11111111-1111-7111-8111-111111111111");
  });
});
