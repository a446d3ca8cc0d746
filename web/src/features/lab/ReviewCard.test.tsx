import { describe, expect, it } from "vitest";
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { ReviewCard } from "./ReviewCard";

const ID = "0190f5a2-7c1e-7aaa-8bbb-000000000010";

const CHECKS = [
  { code: "FEW_TRADES", outcome: "FLAGGED", message: "12 closed trades in the backtest (fewer than 30).", figures: { trades: 12, min_trades: 30, source: "the backtest" } },
  { code: "ONE_REGIME", outcome: "PASSED", message: "The 4 parts of the range were FLAT, UP, FLAT, FLAT.", figures: { returns: 1367, trends: ["FLAT", "UP", "FLAT", "FLAT"] } },
  { code: "IS_OOS_GAP", outcome: "NOT_APPLICABLE", message: "No out-of-sample result.", figures: {} },
  { code: "MANY_COMBINATIONS", outcome: "PASSED", message: "1 parameter combinations tried.", figures: { combinations: 1 } },
];

describe("ReviewCard", () => {
  it("reviews on request and shows the flags, the summary and every check with its figures", async () => {
    let asked = 0;
    server.use(
      http.post("*/api/backtests/:id/review", ({ params }) => {
        asked += 1;
        expect(params.id).toBe(ID);
        return HttpResponse.json(
          ok({
            review: {
              subject: "backtest",
              subject_id: ID,
              flags: ["FEW_TRADES"],
              checks: CHECKS,
              summary: "Too few trades to trust this result.",
              provider_id: "openai",
              model: "gpt-4o-mini",
              attempts: [{ provider_id: "openai", model: "gpt-4o-mini", error_code: null, message: null }],
              input_tokens: 200,
              output_tokens: 40,
              cost_usd: null,
              interaction_id: "0190f5a2-7c1e-7aaa-8bbb-0000000000aa",
              generated_at: "2026-12-03T14:05:00Z",
            },
          }),
        );
      }),
    );
    renderWithApp(<ReviewCard subject="backtest" id={ID} status="SUCCEEDED" />);
    expect(asked).toBe(0);
    await userEvent.click(await screen.findByRole("button", { name: "Review" }));
    const result = await screen.findByTestId("review-result");
    expect(screen.getByTestId("review-summary")).toHaveTextContent("Too few trades to trust this result.");
    const checks = within(result).getByRole("list", { name: "Review checks" });
    const rows = within(checks).getAllByRole("listitem");
    expect(rows.map((r) => r.getAttribute("data-check"))).toEqual(["FEW_TRADES", "ONE_REGIME", "MANY_COMBINATIONS", "IS_OOS_GAP"]);
    expect(rows[0]).toHaveTextContent("flagged");
    expect(rows[0]).toHaveTextContent("trades12");
    expect(rows[1]).toHaveTextContent("FLAT, UP, FLAT, FLAT");
    expect(result).toHaveTextContent("Summary by openai / gpt-4o-mini");
  });

  it("without an LLM shows the refusal and still the checks it carries", async () => {
    server.use(
      http.post("*/api/backtests/sweeps/:id/review", () =>
        HttpResponse.json(
          {
            success: false,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            error: {
              code: "AI_PROVIDER_UNAVAILABLE",
              message: "The review's summary is unavailable: no LLM provider in TRADEPLANE_LLM_ORDER is configured. The checks below were computed without it.",
              suggested_fix: "Configure and verify one LLM provider (e.g. OPENAI_API_KEY or ANTHROPIC_API_KEY).",
              details: { flags: ["FEW_TRADES"], checks: CHECKS, attempts: [] },
            },
          },
          { status: 503 },
        ),
      ),
    );
    renderWithApp(<ReviewCard subject="sweep" id={ID} status="SUCCEEDED" />);
    await userEvent.click(await screen.findByRole("button", { name: "Review" }));
    const refusal = await screen.findByTestId("review-refusal");
    expect(refusal).toHaveTextContent("AI_PROVIDER_UNAVAILABLE");
    expect(refusal).toHaveTextContent("Fix: Configure and verify one LLM provider");
    const rows = within(within(refusal).getByRole("list", { name: "Review checks" })).getAllByRole("listitem");
    expect(rows).toHaveLength(4);
    expect(rows[0]).toHaveAttribute("data-outcome", "FLAGGED");
  });

  it("cannot review a run that has not succeeded", async () => {
    renderWithApp(<ReviewCard subject="backtest" id={ID} status="RUNNING" />);
    const button = await screen.findByRole("button", { name: "Review" });
    expect(button).toBeDisabled();
    expect(button).toHaveAttribute("data-disabled-reason", "Only a SUCCEEDED backtest has results to review");
  });
});
