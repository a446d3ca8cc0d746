import { describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { NewBotForm } from "./NewBotForm";
import { bot, BOT_ID } from "./fixtures.test-util";

// Form typing and routing under a loaded 2-core machine: more than the 5 s default.
vi.setConfig({ testTimeout: 20_000 });

describe("NewBotForm", () => {
  it("posts name, symbol, timeframe, stage LAB, the strategy with its params and only the risk limits set, then opens the bot", async () => {
    let body: Record<string, unknown> | null = null;
    server.use(
      http.post("*/api/bots", async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json(ok({ bot: bot({ name: "nq-rsi" }) }), { status: 201 });
      }),
    );
    const onClose = vi.fn();
    const user = userEvent.setup({ delay: null });
    const { router } = renderWithApp(<NewBotForm onClose={onClose} />, { path: "/bots?panel=new-bot" });
    const dialog = await screen.findByRole("dialog", { name: "New bot" });
    expect(dialog).toBeInTheDocument();
    await user.type(screen.getByLabelText("Name"), "nq-rsi");
    await user.selectOptions(screen.getByLabelText("Symbol"), "NQ");
    await user.selectOptions(screen.getByLabelText("Timeframe"), "5m");
    // A new bot starts in LAB: there is no stage to choose.
    expect(screen.queryByLabelText("Stage")).toBeNull();
    await user.selectOptions(screen.getByLabelText("Strategy"), "rsi_mean_reversion");
    // Defaults of the kind are filled in.
    expect(screen.getByLabelText("RSI period (bars)")).toHaveValue("14");
    expect(screen.getByLabelText("Oversold level")).toHaveValue("30");
    await user.clear(screen.getByLabelText("Overbought level"));
    await user.type(screen.getByLabelText("Overbought level"), "75");
    await user.click(screen.getByRole("button", { name: "Set risk limits" }));
    expect(screen.getByLabelText("Max data age (seconds)")).toHaveAttribute("placeholder", "605");
    await user.type(screen.getByLabelText("Daily loss limit (USD)"), "250");
    await user.click(screen.getByRole("button", { name: "Create bot" }));

    await waitFor(() => expect(onClose).toHaveBeenCalled());
    expect(body).toEqual({
      name: "nq-rsi",
      symbol: "NQ",
      timeframe: "5m",
      stage: "LAB",
      strategy: { kind: "rsi_mean_reversion", params: { period: 14, oversold: 30, overbought: 75 } },
      risk: { daily_loss_limit: "250" },
    });
    await waitFor(() => expect(router.state.location.pathname).toBe(`/bots/${BOT_ID}`));
  });

  it("shows the server's field error beside that field, with code and trace id below", async () => {
    server.use(
      http.post("*/api/bots", () =>
        HttpResponse.json(
          {
            success: false,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            error: {
              code: "VALIDATION_FAILED",
              message: "`strategy.params.fast` must be smaller than `slow`",
              suggested_fix: "Correct the named field and retry.",
              details: { field: "strategy.params.fast", problem: "must be smaller than `slow`" },
            },
          },
          { status: 422 },
        ),
      ),
    );
    const user = userEvent.setup({ delay: null });
    renderWithApp(<NewBotForm onClose={() => {}} />);
    await user.type(await screen.findByLabelText("Name"), "bad-sma");
    await user.clear(screen.getByLabelText("Fast period (bars)"));
    await user.type(screen.getByLabelText("Fast period (bars)"), "50");
    await user.click(screen.getByRole("button", { name: "Create bot" }));

    const fast = screen.getByLabelText("Fast period (bars)");
    await waitFor(() => expect(fast).toHaveAttribute("aria-invalid", "true"));
    expect(fast).toHaveAccessibleDescription("must be smaller than `slow`");
    const error = screen.getByTestId("action-error");
    expect(error).toHaveTextContent("VALIDATION_FAILED");
    expect(error).toHaveTextContent("Fix: Correct the named field and retry.");
    expect(error).toHaveTextContent("4bf92f3577b34da6a3ce929d0e0e4736");
  });

  it("refuses an empty name and a non-numeric parameter before sending anything", async () => {
    const user = userEvent.setup({ delay: null });
    renderWithApp(<NewBotForm onClose={() => {}} />);
    await user.selectOptions(await screen.findByLabelText("Strategy"), "donchian_breakout");
    await user.clear(screen.getByLabelText("Lookback (bars)"));
    await user.type(screen.getByLabelText("Lookback (bars)"), "abc");
    await user.click(screen.getByRole("button", { name: "Create bot" }));
    expect(screen.getByLabelText("Name")).toHaveAccessibleDescription("must be 1 to 100 characters");
    expect(screen.getByLabelText("Lookback (bars)")).toHaveAccessibleDescription("must be a number");
    // No handler for POST /api/bots: a request would fail the test (onUnhandledRequest: "error").
  });
});
