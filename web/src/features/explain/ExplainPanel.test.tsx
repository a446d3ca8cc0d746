import { describe, expect, it } from "vitest";
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { ExplainPanel, citationLink } from "./ExplainPanel";

const BOT = "0190f5a2-7c1e-7aaa-8bbb-000000000001";
const NO_TRADE = "a".repeat(32);
const DECISION = "b".repeat(32);
const EVENT = "c".repeat(32);
const INVENTED = "d".repeat(32);

function explanation(over: Record<string, unknown> = {}) {
  return {
    bot_id: BOT,
    text: `Not trading: the market is closed [trace ${NO_TRADE}]. It entered long earlier [trace ${DECISION}].`,
    provider_id: "anthropic",
    model: "claude-3-5-haiku-latest",
    cited_trace_ids: [NO_TRADE, DECISION, EVENT],
    citations: [
      { trace_id: NO_TRADE, kind: "no_trade", record_id: "r1", code: "MARKET_CLOSED", at: "2026-12-03T14:00:00Z" },
      { trace_id: DECISION, kind: "decision", record_id: "r2", code: "SIGNAL_LONG", at: "2026-12-03T13:55:00Z" },
      { trace_id: EVENT, kind: "event", record_id: "e3", code: "BOT_STARTED", at: "2026-12-03T13:00:00Z" },
    ],
    unverified_citations: [INVENTED],
    traces_used: 2,
    events_used: 1,
    trades_used: 0,
    attempts: [
      { provider_id: "openai", model: "gpt-4o-mini", error_code: "TIMEOUT", message: "no answer in 2 s" },
      { provider_id: "anthropic", model: "claude-3-5-haiku-latest", error_code: null, message: null },
    ],
    input_tokens: 400,
    output_tokens: 60,
    cost_usd: null,
    interaction_id: "0190f5a2-7c1e-7aaa-8bbb-0000000000ff",
    generated_at: "2026-12-03T14:05:00Z",
    ...over,
  };
}

describe("ExplainPanel", () => {
  it("asks only when told, then shows the answer with each verified citation linked to its record", async () => {
    let calls = 0;
    server.use(
      http.post("*/api/bots/:id/explain", ({ params }) => {
        calls += 1;
        expect(params.id).toBe(BOT);
        return HttpResponse.json(ok({ explanation: explanation() }));
      }),
    );
    renderWithApp(<ExplainPanel botId={BOT} />);
    expect(calls).toBe(0);
    await userEvent.click(await screen.findByRole("button", { name: "Explain" }));
    const answer = await screen.findByTestId("explain-answer");
    expect(answer).toHaveTextContent("Not trading: the market is closed");
    const cited = within(answer).getByRole("list", { name: "Citations" });
    const items = within(cited).getAllByRole("listitem");
    expect(items).toHaveLength(3);
    const noTrade = within(items[0]!).getByRole("link", { name: `Open no-trade trace ${NO_TRADE}` });
    expect(noTrade.getAttribute("href")).toBe(`/bots/${BOT}?panel=why-not&trace=${NO_TRADE}`);
    const decision = within(items[1]!).getByRole("link", { name: `Open decision trace ${DECISION}` });
    expect(decision.getAttribute("href")).toBe(`/bots/${BOT}?panel=traces&tab=decision&trace=${DECISION}`);
    const event = within(items[2]!).getByRole("link", { name: `Open event trace ${EVENT}` });
    expect(event.getAttribute("href")).toBe(`/events?bot=${BOT}&code=BOT_STARTED&event=e3`);
    expect(items[0]).toHaveTextContent("MARKET_CLOSED");
    // The invented id is reported, not linked.
    expect(screen.getByTestId("unverified-citations")).toHaveTextContent(INVENTED);
    expect(screen.queryByRole("link", { name: new RegExp(INVENTED) })).toBeNull();
    // Who answered, after which failover.
    expect(answer).toHaveTextContent("Answered by anthropic / claude-3-5-haiku-latest");
    expect(answer).toHaveTextContent("after 1 failover (openai TIMEOUT)");
    expect(calls).toBe(1);
    expect(screen.getByRole("button", { name: "Explain again" })).toBeEnabled();
  });

  it("shows a refusal with its code, fix and trace id, and says nothing else is affected", async () => {
    server.use(
      http.post("*/api/bots/:id/explain", () =>
        HttpResponse.json(
          apiError("AI_PROVIDER_UNAVAILABLE", "Explain is unavailable: no LLM provider in TRADEPLANE_LLM_ORDER is configured.", "4bf92f3577b34da6a3ce929d0e0e4736", "Configure and verify one LLM provider (e.g. OPENAI_API_KEY or ANTHROPIC_API_KEY)."),
          { status: 503 },
        ),
      ),
    );
    renderWithApp(<ExplainPanel botId={BOT} />);
    await userEvent.click(await screen.findByRole("button", { name: "Explain" }));
    const refusal = await screen.findByTestId("explain-refusal");
    expect(refusal).toHaveTextContent("AI_PROVIDER_UNAVAILABLE");
    expect(refusal).toHaveTextContent("Fix: Configure and verify one LLM provider");
    expect(refusal.querySelector('[data-trace-id="4bf92f3577b34da6a3ce929d0e0e4736"]')).not.toBeNull();
    expect(refusal).toHaveTextContent("Only Explain is affected");
    expect(screen.queryByTestId("explain-answer")).toBeNull();
  });

  it("an answer citing nothing says so", async () => {
    server.use(http.post("*/api/bots/:id/explain", () => HttpResponse.json(ok({ explanation: explanation({ citations: [], unverified_citations: [], attempts: [] }) }))));
    renderWithApp(<ExplainPanel botId={BOT} />);
    await userEvent.click(await screen.findByRole("button", { name: "Explain" }));
    expect(await screen.findByText("The answer cites no trace id of this bot's records.")).toBeInTheDocument();
    expect(screen.queryByTestId("unverified-citations")).toBeNull();
  });

  it("links each kind of record where it is shown", () => {
    const at = "2026-12-03T14:00:00Z";
    expect(citationLink(BOT, { trace_id: NO_TRADE, kind: "no_trade", record_id: "r", code: "X", at })).toEqual({ to: `/bots/${BOT}`, search: { panel: "why-not", trace: NO_TRADE } });
    expect(citationLink(BOT, { trace_id: EVENT, kind: "event", record_id: "e", code: "Y", at }).to).toBe("/events");
  });
});
