import { describe, expect, it } from "vitest";
import { screen } from "@testing-library/react";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { NewsGateCard } from "./NewsGateCard";

const GATED = "0190f5a2-7c1e-7aaa-8bbb-000000000001";
const PLAIN = "0190f5a2-7c1e-7aaa-8bbb-000000000002";

function view(gate: Record<string, unknown>, status: Record<string, unknown> = {}) {
  return {
    status: {
      last_fetch_at: "2026-12-04T13:00:00Z",
      last_fetch_ok_at: "2026-12-04T13:00:00Z",
      last_fetch_error: null,
      last_classify_at: "2026-12-04T13:00:05Z",
      last_classify_ok_at: "2026-12-04T13:00:05Z",
      classify_error_code: null,
      classify_error: null,
      unclassified: 0,
      ...status,
    },
    unavailable: null,
    refreshed_at: "2026-12-04T13:00:06Z",
    window_minutes: 60,
    risk_off: [
      {
        provider_id: "finnhub",
        headline_id: 41,
        headline: "Stocks crash as war fears spread",
        source: "Wire",
        published_at: "2026-12-04T12:50:00Z",
        active_until: "2026-12-04T13:50:00Z",
      },
    ],
    bots: [
      {
        bot_id: GATED,
        name: "gated",
        stage: "PAPER",
        status: "RUNNING",
        window_minutes: 60,
        gate: { verdict: "OPEN", code: null, reason: null, headline_id: null, until: null, ...gate },
      },
    ],
  };
}

function serve(body: unknown, status = 200) {
  server.use(http.get("*/api/news-gate", () => HttpResponse.json(body as object, { status })));
}

describe("NewsGateCard", () => {
  it("names the risk-off headline blocking the bot and when entries resume", async () => {
    serve(ok(view({ verdict: "RISK_OFF", code: "NEWS_RISK_OFF", reason: "x", headline_id: 41, until: "2026-12-04T13:50:00Z" })));
    renderWithApp(<NewsGateCard botId={GATED} />);
    const card = await screen.findByTestId("news-gate");
    expect(card).toHaveTextContent("risk-off — new entries blocked");
    expect(card).toHaveTextContent("NEWS_RISK_OFF");
    expect(screen.getByTestId("news-gate-headline")).toHaveTextContent("“Stocks crash as war fears spread” (Wire)");
    expect(screen.getByTestId("news-gate-headline")).toHaveTextContent("entries resume at");
    expect(card).toHaveTextContent("window 60 min");
  });

  it("says why the gate is unavailable and which classification code is failing", async () => {
    serve(
      ok(
        view(
          { verdict: "UNAVAILABLE", code: "NEWS_GATE_UNAVAILABLE", reason: "headline classification is failing" },
          { classify_error_code: "AI_PROVIDER_UNAVAILABLE", classify_error: "all down", unclassified: 3 },
        ),
      ),
    );
    renderWithApp(<NewsGateCard botId={GATED} />);
    const card = await screen.findByTestId("news-gate");
    expect(card).toHaveTextContent("unavailable — closed for new entries");
    expect(card).toHaveTextContent("headline classification is failing");
    expect(card).toHaveTextContent("failing: AI_PROVIDER_UNAVAILABLE (all down)");
    expect(card).toHaveTextContent("Waiting for a class3");
    expect(screen.queryByTestId("news-gate-headline")).toBeNull();
  });

  it("shows an open gate, and nothing at all for a bot without the gate", async () => {
    serve(ok(view({})));
    const { unmount } = renderWithApp(<NewsGateCard botId={GATED} />);
    expect(await screen.findByTestId("news-gate")).toHaveTextContent("open — entries allowed");
    unmount();
    renderWithApp(<NewsGateCard botId={PLAIN} />);
    // The query answers, and the ungated bot gets no card.
    await new Promise((r) => setTimeout(r, 50));
    expect(screen.queryByTestId("news-gate")).toBeNull();
  });

  it("shows the read's error rather than hiding the gate", async () => {
    serve(apiError("DATABASE_UNAVAILABLE", "The database is unavailable."), 503);
    renderWithApp(<NewsGateCard botId={GATED} />);
    expect(await screen.findByText(/database is unavailable/i)).toBeInTheDocument();
  });
});
