import { describe, expect, it } from "vitest";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { AutonomyCompact, AutonomyScore } from "./AutonomyScore";
import { scoreRow } from "./testFixtures";
import { BOT, meHandler } from "../bots/traces/testFixtures";

const SCORE = "*/api/bots/:id/autonomy-score";

describe("AutonomyScore", () => {
  it("shows score, tier, age, the five sub-scores with evidence, and every gate with pass/fail, evidence and fix", async () => {
    server.use(meHandler("viewer"), http.get(SCORE, () => HttpResponse.json(ok({ autonomy_score: scoreRow(BOT), no_score_reason: null }))));
    renderWithApp(<AutonomyScore botId={BOT} />);
    expect(await screen.findByTestId("autonomy-score-value")).toHaveTextContent("58/ 100");
    expect(screen.getByTestId("autonomy-tier")).toHaveTextContent("SUPERVISED");
    expect(screen.getByText(/12 s ago/)).toBeInTheDocument();

    // Five sub-scores: value / 100 as a meter, the note, and the evidence.
    for (const [label, value] of [["Data reliability", 100], ["Decision quality", 60], ["Risk discipline", 100], ["Execution health", 30], ["Supervisor trust", 0]] as const) {
      expect(screen.getByRole("meter", { name: label })).toHaveAttribute("aria-valuenow", String(value));
    }
    const exec = screen.getByTestId("subscore-execution_health");
    expect(exec).toHaveTextContent("30 / 100");
    expect(exec).toHaveTextContent("some orders were cancelled without a fill");
    expect(within(exec).getByText("cancelled_7d").nextElementSibling).toHaveTextContent("7");

    // Every gate, in the scorer's order, with result, evidence and fix.
    const table = screen.getByRole("table", { name: "Autonomy gates" });
    const rows = within(table).getAllByRole("row").filter((r) => r.hasAttribute("data-gate"));
    expect(rows).toHaveLength(9);
    const execGate = rows.find((r) => r.getAttribute("data-gate") === "execution_evidence")!;
    expect(execGate).toHaveTextContent("Execution evidence");
    expect(execGate).toHaveTextContent("fail");
    expect(execGate).toHaveTextContent("fills_total3");
    expect(execGate).toHaveTextContent("Let the bot trade PAPER until it has enough filled orders.");
    expect(rows.find((r) => r.getAttribute("data-gate") === "supervisor_loop_active")).toHaveTextContent("pass");
    expect(screen.getByText(/7 of 9 pass/)).toBeInTheDocument();
    expect(screen.getByText(/first failing: Execution evidence/)).toBeInTheDocument();
    expect(screen.getByText(/FULL_AUTONOMY/, { selector: "span.font-mono" })).toBeInTheDocument();
  });

  it("says an unscored bot is not scored, and why", async () => {
    server.use(
      meHandler("operator"),
      http.get(SCORE, () => HttpResponse.json(ok({ autonomy_score: null, no_score_reason: "not scored yet: the scorer scores every bot periodically; POST re-scores now" }))),
    );
    renderWithApp(<AutonomyScore botId={BOT} />);
    const empty = await screen.findByText("Not scored yet");
    expect(empty.parentElement).toHaveTextContent("the scorer scores every bot periodically");
    expect(empty.parentElement).toHaveTextContent("counts as LOCKED");
    expect(screen.queryByRole("table", { name: "Autonomy gates" })).toBeNull();
  });

  it("lets an operator recompute and shows the new score", async () => {
    let posted = 0;
    server.use(
      meHandler("operator"),
      http.get(SCORE, () => HttpResponse.json(ok({ autonomy_score: null, no_score_reason: "not scored yet" }))),
      http.post(SCORE, () => {
        posted++;
        return HttpResponse.json(ok({ autonomy_score: scoreRow(BOT, { autonomy_score: 77, autonomy_tier: "LIMITED_AUTONOMY" }), no_score_reason: null }));
      }),
    );
    const user = userEvent.setup();
    renderWithApp(<AutonomyScore botId={BOT} />);
    await screen.findByText("Not scored yet");
    const button = screen.getByRole("button", { name: "Recompute" });
    await waitFor(() => expect(button).toBeEnabled());
    await user.click(button);
    expect(await screen.findByTestId("autonomy-score-value")).toHaveTextContent("77");
    expect(screen.getByTestId("autonomy-tier")).toHaveTextContent("LIMITED_AUTONOMY");
    expect(posted).toBe(1);
  });

  it("disables Recompute for a viewer, saying why", async () => {
    server.use(meHandler("viewer"), http.get(SCORE, () => HttpResponse.json(ok({ autonomy_score: scoreRow(BOT), no_score_reason: null }))));
    renderWithApp(<AutonomyScore botId={BOT} />);
    await screen.findByTestId("autonomy-score-value");
    const button = screen.getByRole("button", { name: "Recompute" });
    await waitFor(() => expect(button).toHaveAttribute("title", "Recomputing needs the operator role (you are viewer)"));
    expect(button).toBeDisabled();
  });

  it("shows a refused recompute (403) with its code and trace id", async () => {
    server.use(
      meHandler("operator"),
      http.get(SCORE, () => HttpResponse.json(ok({ autonomy_score: scoreRow(BOT), no_score_reason: null }))),
      http.post(SCORE, () => HttpResponse.json(apiError("FORBIDDEN", "Operators only.", "99990000999900009999000099990000"), { status: 403 })),
    );
    const user = userEvent.setup();
    renderWithApp(<AutonomyScore botId={BOT} />);
    await screen.findByTestId("autonomy-score-value");
    const button = screen.getByRole("button", { name: "Recompute" });
    await waitFor(() => expect(button).toBeEnabled());
    await user.click(button);
    const err = await screen.findByText(/FORBIDDEN: Operators only\./);
    expect(err.closest("[role=alert]")!.querySelector('[data-trace-id="99990000999900009999000099990000"]')).not.toBeNull();
    // The last score stays.
    expect(screen.getByTestId("autonomy-score-value")).toHaveTextContent("58");
  });

  it("shows a GET 403 as forbidden, with no score", async () => {
    server.use(meHandler("viewer"), http.get(SCORE, () => HttpResponse.json(apiError("FORBIDDEN", "Not allowed."), { status: 403 })));
    renderWithApp(<AutonomyScore botId={BOT} />);
    expect(await screen.findByText(/FORBIDDEN: Not allowed\./)).toBeInTheDocument();
    expect(screen.queryByTestId("autonomy-score-value")).toBeNull();
    expect(screen.queryByText("Not scored yet")).toBeNull();
  });

  it("keeps the last score with its age when a poll fails, and gates Recompute (degraded)", async () => {
    let fail = false;
    server.use(
      meHandler("operator"),
      http.get(SCORE, () =>
        fail
          ? HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable.", "12341234123412341234123412341234"), { status: 503 })
          : HttpResponse.json(ok({ autonomy_score: scoreRow(BOT), no_score_reason: null })),
      ),
    );
    const { client } = renderWithApp(<AutonomyScore botId={BOT} />);
    await screen.findByTestId("autonomy-score-value");
    fail = true;
    await client.refetchQueries({ queryKey: ["/api/bots/{id}/autonomy-score"] });
    await screen.findByText(/DATABASE_UNAVAILABLE: The database is unreachable\./);
    expect(screen.getByTestId("autonomy-score-value")).toHaveTextContent("58");
    expect(screen.getByText(/stale: last good/)).toBeInTheDocument();
    const button = screen.getByRole("button", { name: "Recompute" });
    await waitFor(() => expect(button).toBeDisabled());
    expect(button.title).toContain("DATABASE_UNAVAILABLE");
  });

  it("announces a tier drop seen on the next poll (breaker opened)", async () => {
    let open = false;
    server.use(
      meHandler("viewer"),
      http.get(SCORE, () => HttpResponse.json(ok({ autonomy_score: scoreRow(BOT, { breakerOpen: open, autonomy_score: open ? 40 : 58 }), no_score_reason: null }))),
    );
    const { client } = renderWithApp(<AutonomyScore botId={BOT} />);
    expect(await screen.findByTestId("autonomy-tier")).toHaveTextContent("SUPERVISED");
    expect(screen.queryByTestId("tier-change")).toBeNull();
    open = true;
    await client.refetchQueries({ queryKey: ["/api/bots/{id}/autonomy-score"] });
    await waitFor(() => expect(screen.getByTestId("autonomy-tier")).toHaveTextContent("LOCKED"));
    expect(screen.getByTestId("tier-change")).toHaveTextContent("Tier dropped from SUPERVISED to LOCKED");
    const gate = screen.getByRole("table", { name: "Autonomy gates" }).querySelector('[data-gate="no_open_breaker"]')!;
    expect(gate).toHaveTextContent("fail");
    expect(gate).toHaveTextContent("OPEN");
  });
});

describe("AutonomyCompact", () => {
  it("shows score and tier", () => {
    render(<AutonomyCompact score={72} tier="LIMITED_AUTONOMY" />);
    expect(screen.getByTestId("autonomy-compact")).toHaveTextContent("72LIMITED_AUTONOMY");
  });

  it("says unscored when there is no score", () => {
    render(<AutonomyCompact score={null} tier={null} />);
    expect(screen.getByText("unscored")).toHaveAttribute("title", expect.stringContaining("Not scored yet"));
  });
});
