import { describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import type { Bot } from "../../queries/bots";
import { EditBotForm } from "./EditBotForm";
import { EditBotButton } from "./EditBotButton";
import { buildPatch, initialValues, permissions } from "./editBot";
import { bot, BOT_ID, meHandler } from "./fixtures.test-util";

// Form typing under a loaded 2-core machine: more than the 5 s default.
vi.setConfig({ testTimeout: 20_000 });

function capturePatch(reply: (b: Bot) => Bot = (b) => b) {
  const sent: Record<string, unknown>[] = [];
  server.use(
    http.patch(`*/api/bots/${BOT_ID}`, async ({ request }) => {
      const body = (await request.json()) as Record<string, unknown>;
      sent.push(body);
      return HttpResponse.json(ok({ bot: reply(bot({ name: (body.name as string) ?? "es-sma-paper" })) }));
    }),
  );
  return sent;
}

describe("EditBotForm", () => {
  it("sends only the changed name and limit, says what saving does, and reports success", async () => {
    server.use(meHandler("operator"));
    const sent = capturePatch();
    const onSaved = vi.fn();
    const onClose = vi.fn();
    const user = userEvent.setup({ delay: null });
    renderWithApp(<EditBotForm bot={bot()} onClose={onClose} onSaved={onSaved} />);
    const name = await screen.findByLabelText("Name");
    expect(screen.getByLabelText("Max position (contracts)")).toHaveValue("1");
    expect(screen.getByLabelText("Daily loss limit (USD)")).toHaveValue("500");
    await user.clear(name);
    await user.type(name, "es-sma-wide");
    await user.clear(screen.getByLabelText("Max position (contracts)"));
    await user.type(screen.getByLabelText("Max position (contracts)"), "3");
    // An amount written differently but equal is not a change.
    await user.clear(screen.getByLabelText("Daily loss limit (USD)"));
    await user.type(screen.getByLabelText("Daily loss limit (USD)"), "500.00");
    expect(screen.getByTestId("edit-consequences")).toHaveTextContent("its next evaluation checks the new limits");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(onSaved).toHaveBeenCalledWith("Saved name, risk limits of es-sma-wide."));
    expect(sent).toEqual([{ name: "es-sma-wide", risk: { max_position: 3 } }]);
    expect(onClose).toHaveBeenCalled();
  });

  it("shows the server's field error beside that field", async () => {
    server.use(
      meHandler("operator"),
      http.patch(`*/api/bots/${BOT_ID}`, () =>
        HttpResponse.json(
          {
            success: false,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            error: {
              code: "VALIDATION_FAILED",
              message: "`risk.max_position` is too large",
              suggested_fix: "Correct the named field and retry.",
              details: { field: "risk.max_position", problem: "is too large" },
            },
          },
          { status: 422 },
        ),
      ),
    );
    const user = userEvent.setup({ delay: null });
    const onSaved = vi.fn();
    renderWithApp(<EditBotForm bot={bot()} onClose={() => {}} onSaved={onSaved} />);
    const field = await screen.findByLabelText("Max position (contracts)");
    await user.clear(field);
    await user.type(field, "99999999999");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(field).toHaveAttribute("aria-invalid", "true"));
    expect(field).toHaveAccessibleDescription("is too large");
    expect(screen.getByTestId("action-error")).toHaveTextContent("VALIDATION_FAILED");
    expect(onSaved).not.toHaveBeenCalled();
  });

  it("refuses a non-number limit before sending (no PATCH handler: a request would fail the test)", async () => {
    server.use(meHandler("operator"));
    const user = userEvent.setup({ delay: null });
    renderWithApp(<EditBotForm bot={bot()} onClose={() => {}} onSaved={() => {}} />);
    const field = await screen.findByLabelText("Max order size (contracts)");
    await user.clear(field);
    await user.type(field, "two");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    expect(field).toHaveAccessibleDescription("must be a whole number of at least 1");
  });

  it("disables strategy params unless STOPPED and turning trading on unless admin, each with its reason", async () => {
    server.use(meHandler("operator"));
    renderWithApp(<EditBotForm bot={bot({ status: "RUNNING" })} onClose={() => {}} onSaved={() => {}} />);
    expect(await screen.findByLabelText("Fast period (bars)")).toBeDisabled();
    expect(screen.getByTestId("strategy-disabled-reason")).toHaveTextContent("The strategy can change only while the bot is STOPPED; it is RUNNING.");
    const trading = screen.getByLabelText("Trading enabled (LIVE orders need it on)");
    await waitFor(() => expect(trading).toHaveAccessibleDescription("Turning trading on needs the admin role; you are signed in as operator"));
    expect(trading).toBeDisabled();
    expect(screen.getByRole("button", { name: "Save changes" })).toBeDisabled();
  });

  it("lets an admin change the params of a STOPPED bot and turn trading on, sending the whole strategy", async () => {
    server.use(meHandler("admin"));
    const sent = capturePatch();
    const user = userEvent.setup({ delay: null });
    renderWithApp(<EditBotForm bot={bot({ status: "STOPPED" })} onClose={() => {}} onSaved={() => {}} />);
    const fast = await screen.findByLabelText("Fast period (bars)");
    expect(fast).toBeEnabled();
    await user.clear(fast);
    await user.type(fast, "12");
    const trading = screen.getByLabelText("Trading enabled (LIVE orders need it on)");
    await waitFor(() => expect(trading).toBeEnabled());
    await user.click(trading);
    expect(screen.getByTestId("edit-consequences")).toHaveTextContent("Turns this bot's trading switch on (audited)");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toEqual({ strategy: { kind: "sma_crossover", params: { fast: 12, slow: 30, average: "sma" } }, is_trading_enabled: true });
  });
});

describe("EditBotForm on a LIVE bot", () => {
  it("asks for a 2FA code to turn trading on when the step-up is stale, steps up, then saves", async () => {
    const calls: string[] = [];
    server.use(
      meHandler("admin", null),
      http.post("*/api/auth/step-up", async ({ request }) => {
        calls.push(`step-up ${JSON.stringify(await request.json())}`);
        return HttpResponse.json(ok({ step_up_valid_until: new Date(Date.now() + 60_000).toISOString() }));
      }),
      http.patch(`*/api/bots/${BOT_ID}`, async ({ request }) => {
        calls.push(`patch ${JSON.stringify(await request.json())}`);
        return HttpResponse.json(ok({ bot: bot({ stage: "LIVE", is_trading_enabled: true }) }));
      }),
    );
    const onSaved = vi.fn();
    const user = userEvent.setup({ delay: null });
    renderWithApp(<EditBotForm bot={bot({ stage: "LIVE", status: "STOPPED" })} onClose={() => {}} onSaved={onSaved} />);
    const trading = await screen.findByLabelText("Trading enabled (LIVE orders need it on)");
    await waitFor(() => expect(trading).toBeEnabled());
    expect(screen.queryByLabelText("Authenticator code")).not.toBeInTheDocument();
    await user.click(trading);
    await user.type(await screen.findByLabelText("Authenticator code"), "123 456");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    expect(calls).toEqual(['step-up {"code":"123456"}', 'patch {"is_trading_enabled":true}']);
  });

  it("brings the code field up when the server answers TWO_FACTOR_REQUIRED", async () => {
    server.use(
      meHandler("admin", new Date(Date.now() + 60_000).toISOString()),
      http.patch(`*/api/bots/${BOT_ID}`, () =>
        HttpResponse.json(
          { success: false, trace_id: "4bf92f3577b34da6a3ce929d0e0e4736", error: { code: "TWO_FACTOR_REQUIRED", message: "A recent second factor is required.", suggested_fix: "Step up first." } },
          { status: 401 },
        ),
      ),
    );
    const user = userEvent.setup({ delay: null });
    renderWithApp(<EditBotForm bot={bot({ stage: "LIVE", status: "STOPPED" })} onClose={() => {}} onSaved={() => {}} />);
    const trading = await screen.findByLabelText("Trading enabled (LIVE orders need it on)");
    await waitFor(() => expect(trading).toBeEnabled());
    await user.click(trading);
    // A fresh step-up on record: no code asked up front.
    expect(screen.queryByLabelText("Authenticator code")).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    expect(await screen.findByLabelText("Authenticator code")).toBeInTheDocument();
  });
});

describe("EditBotButton", () => {
  it("is disabled for a viewer with the reason", async () => {
    server.use(meHandler("viewer"));
    renderWithApp(<EditBotButton bot={bot()} onSaved={() => {}} />);
    const button = await screen.findByRole("button", { name: "Edit" });
    await waitFor(() => expect(button).toBeDisabled());
    expect(button).toHaveAccessibleDescription("Editing a bot needs the operator role; you are signed in as viewer");
  });

  it("opens the form for an operator", async () => {
    server.use(meHandler("operator"));
    const user = userEvent.setup({ delay: null });
    renderWithApp(<EditBotButton bot={bot()} onSaved={() => {}} />);
    const button = await screen.findByRole("button", { name: "Edit" });
    await waitFor(() => expect(button).toBeEnabled());
    await user.click(button);
    expect(await screen.findByRole("dialog", { name: "Edit bot" })).toBeInTheDocument();
  });
});

describe("buildPatch", () => {
  it("is null when nothing changed and lets an operator switch trading off", () => {
    const b = bot({ is_trading_enabled: true });
    const perms = permissions(b, "operator");
    expect(perms.trading).toBeNull();
    expect(buildPatch(b, initialValues(b), perms).body).toBeNull();
    expect(buildPatch(b, { ...initialValues(b), tradingEnabled: false }, perms).body).toEqual({ is_trading_enabled: false });
  });

  it("never sends strategy params while the bot is not STOPPED", () => {
    const b = bot({ status: "SUSPENDED" });
    const values = initialValues(b);
    const { body } = buildPatch(b, { ...values, params: { ...values.params, fast: "5" } }, permissions(b, "admin"));
    expect(body).toBeNull();
  });

  it("names a bad USD amount and an empty name by their server field names", () => {
    const b = bot();
    const values = initialValues(b);
    const { body, errors } = buildPatch(b, { ...values, name: "  ", risk: { ...values.risk, max_drawdown: "-5" } }, permissions(b, "operator"));
    expect(body).toBeNull();
    expect(errors).toEqual({ name: "must be 1 to 100 characters", "risk.max_drawdown": "must be a positive USD amount, e.g. 500 or 250.50" });
  });
});
