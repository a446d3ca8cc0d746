import { describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import type { Bot } from "../../queries/bots";
import { LifecycleActions } from "./LifecycleActions";
import { actionGate, stageChoices, type GateContext } from "./lifecycle";
import { bot, BOT_ID, killSwitchHandler, meHandler } from "./fixtures.test-util";

// Form typing and routing under a loaded 2-core machine: more than the 5 s default.
vi.setConfig({ testTimeout: 20_000 });

const LIMITED = { tier: "LIMITED_AUTONOMY", score: 72 };

function renderActions(b: Bot, opts: { autonomy?: GateContext["autonomy"]; latched?: boolean } = {}) {
  const onDone = vi.fn();
  const view = renderWithApp(
    <LifecycleActions bot={b} runtimeLatched={opts.latched ?? false} autonomy={"autonomy" in opts ? opts.autonomy : LIMITED} onDone={onDone} />,
  );
  return { ...view, onDone };
}

async function enabled(name: string) {
  const button = await screen.findByRole("button", { name });
  await waitFor(() => expect(button).toBeEnabled());
  return button;
}

type Case = {
  action: string;
  path: string;
  bot: Partial<Bot>;
  title: string;
  consequence: RegExp;
  confirm: string;
  body?: unknown;
};

const CASES: Case[] = [
  { action: "Start", path: "start", bot: { status: "STOPPED" }, title: "Start bot", consequence: /Runs safe start for PAPER.*connected market-data provider/, confirm: "Start" },
  { action: "Stop", path: "stop", bot: { status: "RUNNING" }, title: "Stop bot", consequence: /flattens nothing and cancels nothing/, confirm: "Stop" },
  { action: "Restart", path: "restart", bot: { status: "RUNNING" }, title: "Restart bot", consequence: /if a gate fails, the running runner is left alone/, confirm: "Restart" },
  { action: "Kill", path: "kill", bot: { status: "RUNNING" }, title: "Kill bot", consequence: /new lease epoch blocks its order writes at once.*LIVE orders at the broker first.*one still SENDING, stays open and is reported as pending.*It flattens nothing.*cannot start or restart until an admin re-arms it/s, confirm: "Kill", body: { reason: "runaway orders" } },
  { action: "Re-arm", path: "rearm", bot: { status: "KILLED" }, title: "Re-arm bot", consequence: /Clears the KILLED latch.*does not start the bot/s, confirm: "Re-arm" },
  { action: "Promote", path: "promote", bot: { status: "STOPPED", stage: "PAPER" }, title: "Promote to SHADOW", consequence: /PAPER → SHADOW.*enough PAPER sessions whose closed trades meet the thresholds.*autonomy tier LIMITED_AUTONOMY or higher/s, confirm: "Promote", body: { to_stage: "SHADOW" } },
];

describe("LifecycleActions: each action confirms its consequences, posts, and shows a refusal in full", () => {
  for (const c of CASES) {
    it(`${c.action}`, async () => {
      const posted: unknown[] = [];
      let fail = false;
      server.use(
        meHandler("admin"),
        killSwitchHandler(false),
        http.post(`*/api/bots/${BOT_ID}/${c.path}`, async ({ request }) => {
          posted.push(request.headers.get("content-type")?.includes("json") ? await request.json() : null);
          if (fail) {
            return HttpResponse.json(apiError("RUNTIME_UNAVAILABLE", "No runtime in this process.", "11112222333344445555666677778888", "Restart tradeplane."), { status: 503 });
          }
          return HttpResponse.json(ok({ bot: bot({ ...c.bot, status: c.path === "kill" ? "KILLED" : "STOPPED" }) }));
        }),
      );
      const user = userEvent.setup({ delay: null });
      const { onDone } = renderActions(bot(c.bot));
      await user.click(await enabled(c.action));
      const dialog = screen.getByRole("alertdialog", { name: c.title });
      expect(within(dialog).getByTestId("consequences").textContent).toMatch(c.consequence);
      if (c.path === "kill") await user.type(within(dialog).getByLabelText("Reason (recorded with the latch)"), "runaway orders");

      // First attempt refused: the dialog stays open with code, message, fix and trace id.
      fail = true;
      await user.click(within(dialog).getByRole("button", { name: c.confirm }));
      const error = await within(dialog).findByTestId("action-error");
      expect(error).toHaveTextContent("RUNTIME_UNAVAILABLE");
      expect(error).toHaveTextContent("No runtime in this process.");
      expect(error).toHaveTextContent("Fix: Restart tradeplane.");
      expect(error).toHaveTextContent("11112222333344445555666677778888");

      // Then it goes through.
      fail = false;
      await user.click(within(dialog).getByRole("button", { name: c.confirm }));
      await waitFor(() => expect(onDone).toHaveBeenCalled());
      expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument();
      expect(posted).toHaveLength(2);
      if (c.body) expect(posted[1]).toEqual(c.body);
    });
  }

  it("Promote: lists every failed gate of a PROMOTION_GATE_FAILED refusal", async () => {
    server.use(
      meHandler("admin"),
      killSwitchHandler(false),
      http.post(`*/api/bots/${BOT_ID}/promote`, () =>
        HttpResponse.json(
          {
            success: false,
            trace_id: "99998888777766665555444433332222",
            error: {
              code: "PROMOTION_GATE_FAILED",
              message: "Promotion to SHADOW refused: DATA_UNAVAILABLE, EXECUTION_BROKER_UNAVAILABLE.",
              suggested_fix: "Fix each failed gate.",
              details: {
                failed: [
                  { code: "DATA_UNAVAILABLE", message: "SHADOW needs a connected market-data provider.", suggested_fix: "Verify databento." },
                  { code: "EXECUTION_BROKER_UNAVAILABLE", message: "SHADOW needs a connected broker.", suggested_fix: "Verify ironbeam." },
                ],
              },
            },
          },
          { status: 409 },
        ),
      ),
    );
    const user = userEvent.setup({ delay: null });
    renderActions(bot({ status: "STOPPED", stage: "PAPER" }));
    await user.click(await enabled("Promote"));
    const dialog = screen.getByRole("alertdialog", { name: "Promote to SHADOW" });
    await user.click(within(dialog).getByRole("button", { name: "Promote" }));
    const gates = await within(dialog).findByRole("list", { name: "Failed gates" });
    expect(within(gates).getAllByRole("listitem")).toHaveLength(2);
    expect(gates).toHaveTextContent("EXECUTION_BROKER_UNAVAILABLE");
    expect(gates).toHaveTextContent("Verify ironbeam.");
    expect(dialog).toHaveTextContent("99998888777766665555444433332222");
  });

  it("403 from the server: shown in the dialog with its code and trace id", async () => {
    server.use(
      meHandler("operator"),
      killSwitchHandler(false),
      http.post(`*/api/bots/${BOT_ID}/stop`, () =>
        HttpResponse.json(apiError("FORBIDDEN", "Your role may not do this.", "aaaabbbbccccddddeeeeffff00001111"), { status: 403 }),
      ),
    );
    const user = userEvent.setup({ delay: null });
    renderActions(bot({ status: "RUNNING" }));
    await user.click(await enabled("Stop"));
    const dialog = screen.getByRole("alertdialog", { name: "Stop bot" });
    await user.click(within(dialog).getByRole("button", { name: "Stop" }));
    const error = await within(dialog).findByTestId("action-error");
    expect(error).toHaveTextContent("FORBIDDEN");
    expect(error).toHaveTextContent("HTTP 403");
    expect(error).toHaveTextContent("aaaabbbbccccddddeeeeffff00001111");
  });
});

describe("LifecycleActions: what a LIVE or news-gated bot's dialogs add", () => {
  it("stop and demotion of a LIVE bot say its orders and position stay at the broker", async () => {
    server.use(meHandler("admin"), killSwitchHandler(false));
    const user = userEvent.setup({ delay: null });
    renderActions(bot({ status: "RUNNING", stage: "LIVE" }));
    await user.click(await enabled("Stop"));
    let dialog = screen.getByRole("alertdialog", { name: "Stop bot" });
    expect(within(dialog).getByTestId("consequences")).toHaveTextContent("working orders stay live at the broker and can still fill with no runner managing them");
    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    await user.click(await enabled("Promote"));
    dialog = screen.getByRole("alertdialog", { name: "Demote to SHADOW" });
    expect(within(dialog).getByTestId("consequences")).toHaveTextContent("working orders and position stay at the broker. Cancel or close them first.");
  });

  it("promotion of a news-gated SHADOW bot to LIVE names the LLM, Finnhub and SHADOW evidence", async () => {
    server.use(meHandler("admin", "2999-01-01T00:00:00Z"), killSwitchHandler(false));
    const user = userEvent.setup({ delay: null });
    const strategy = { kind: "sma_crossover", params: { fast: 10, slow: 30 }, filters: { news_gate: {} } } as unknown as Bot["strategy"];
    renderActions(bot({ status: "STOPPED", stage: "SHADOW", strategy }));
    await user.click(await enabled("Promote"));
    const text = within(screen.getByRole("alertdialog", { name: "Promote to LIVE" })).getByTestId("consequences").textContent;
    expect(text).toMatch(/usable LLM provider and Finnhub configured; enough SHADOW sessions whose \(hypothetical\) trades meet the thresholds/);
  });
});

describe("LifecycleActions: 2FA step-up", () => {
  it("asks for a code on TWO_FACTOR_REQUIRED, steps up with it, then resends the action", async () => {
    const calls: string[] = [];
    let steppedUp = false;
    server.use(
      // The session has a step-up the server no longer counts, so no code is asked up front.
      meHandler("admin", "2999-01-01T00:00:00Z"),
      killSwitchHandler(false),
      http.post("*/api/auth/step-up", async ({ request }) => {
        calls.push(`step-up ${JSON.stringify(await request.json())}`);
        steppedUp = true;
        return HttpResponse.json(ok({ step_up_at: "2026-11-26T13:00:00Z", step_up_valid_until: "2026-11-26T13:15:00Z", csrf_token: "new" }));
      }),
      http.post(`*/api/bots/${BOT_ID}/promote`, async ({ request }) => {
        calls.push(`promote ${JSON.stringify(await request.json())}`);
        if (!steppedUp) {
          return HttpResponse.json(apiError("TWO_FACTOR_REQUIRED", "This action needs a two-factor step-up within the last 15 minutes."), { status: 401 });
        }
        return HttpResponse.json(ok({ bot: bot({ stage: "LIVE", status: "STOPPED" }), from_stage: "SHADOW", to_stage: "LIVE" }));
      }),
    );
    const user = userEvent.setup({ delay: null });
    const { onDone } = renderActions(bot({ status: "STOPPED", stage: "SHADOW" }));
    await user.click(await enabled("Promote"));
    const dialog = screen.getByRole("alertdialog", { name: "Promote to LIVE" });
    expect(within(dialog).getByTestId("consequences")).toHaveTextContent("LIVE sends real orders");
    expect(within(dialog).queryByLabelText("Authenticator code")).not.toBeInTheDocument();
    await user.click(within(dialog).getByRole("button", { name: "Promote" }));

    const code = await within(dialog).findByLabelText("Authenticator code");
    expect(within(dialog).getByTestId("action-error")).toHaveTextContent("TWO_FACTOR_REQUIRED");
    expect(within(dialog).getByRole("button", { name: "Promote" })).toBeDisabled();
    await user.type(code, "123456");
    await user.click(within(dialog).getByRole("button", { name: "Promote" }));
    await waitFor(() => expect(onDone).toHaveBeenCalledWith("Moved to LIVE; the bot is STOPPED."));
    expect(calls).toEqual(['promote {"to_stage":"LIVE"}', 'step-up {"code":"123456"}', 'promote {"to_stage":"LIVE"}']);
  });

  it("asks for the code up front for LIVE when the session has no valid step-up, and shows a wrong code's error", async () => {
    server.use(
      meHandler("admin", null),
      killSwitchHandler(false),
      http.post("*/api/auth/step-up", () => HttpResponse.json(apiError("TWO_FACTOR_INVALID", "The code is not valid.", "12341234123412341234123412341234"), { status: 401 })),
    );
    const user = userEvent.setup({ delay: null });
    renderActions(bot({ status: "STOPPED", stage: "SHADOW" }));
    await user.click(await enabled("Promote"));
    const dialog = screen.getByRole("alertdialog", { name: "Promote to LIVE" });
    await user.type(within(dialog).getByLabelText("Authenticator code"), "000000");
    await user.click(within(dialog).getByRole("button", { name: "Promote" }));
    const error = await within(dialog).findByTestId("action-error");
    expect(error).toHaveTextContent("TWO_FACTOR_INVALID");
    expect(error).toHaveTextContent("12341234123412341234123412341234");
    expect(within(dialog).getByLabelText("Authenticator code")).toBeInTheDocument();
  });
});

describe("LifecycleActions: disabled with a reason", () => {
  it("viewer: every action is disabled and says which role it needs", async () => {
    server.use(meHandler("viewer"), killSwitchHandler(false));
    renderActions(bot({ status: "STOPPED" }));
    await waitFor(() => expect(screen.getByRole("button", { name: "Start" })).toHaveAttribute("title", "Start needs the operator role; you are viewer."));
    expect(screen.getByRole("button", { name: "Start" })).toBeDisabled();
    expect(screen.getByRole("button", { name: "Kill" })).toHaveAttribute("title", "Kill needs the admin role; you are viewer.");
    expect(screen.getByRole("button", { name: "Promote" })).toHaveAttribute("title", "Promote needs the admin role; you are viewer.");
  });

  it("KILLED bot: start, stop and restart disabled with the reason; re-arm enabled for an admin", async () => {
    server.use(meHandler("admin"), killSwitchHandler(false));
    renderActions(bot({ status: "KILLED" }));
    await waitFor(() => expect(screen.getByRole("button", { name: "Start" })).toHaveAttribute("title", "The bot is KILLED: an admin must re-arm it before it can start."));
    expect(screen.getByRole("button", { name: "Start" })).toBeDisabled();
    expect(screen.getByRole("button", { name: "Stop" })).toHaveAttribute("title", expect.stringContaining("Re-arm it instead"));
    expect(screen.getByRole("button", { name: "Kill" })).toHaveAttribute("title", "The bot is already KILLED.");
    expect(screen.getByRole("button", { name: "Re-arm" })).toBeEnabled();
  });

  it("promotion to SHADOW without LIMITED_AUTONOMY is disabled, naming the tier and score", async () => {
    server.use(meHandler("admin"), killSwitchHandler(false));
    renderActions(bot({ status: "STOPPED", stage: "PAPER" }), { autonomy: { tier: "SUPERVISED", score: 55 } });
    const promote = await screen.findByRole("button", { name: "Promote" });
    await waitFor(() => expect(promote).toHaveAttribute("title", "SHADOW needs autonomy tier LIMITED_AUTONOMY or higher; the bot is SUPERVISED (score 55)."));
    expect(promote).toBeDisabled();
    // Demotion has no gates.
    await userEvent.setup({ delay: null }).selectOptions(screen.getByRole("combobox", { name: "Target stage" }), "LAB");
    expect(screen.getByRole("button", { name: "Promote" })).toBeEnabled();
  });

  it("the global kill switch disables start with its reason", async () => {
    server.use(meHandler("operator"), killSwitchHandler(true));
    renderActions(bot({ status: "STOPPED" }));
    await waitFor(() => expect(screen.getByRole("button", { name: "Start" })).toHaveAttribute("title", expect.stringContaining("kill switch is ON")));
  });

  it("a failing bot endpoint gates every action with the failure", async () => {
    server.use(
      meHandler("admin"),
      killSwitchHandler(false),
      http.get(`*/api/bots/${BOT_ID}`, () => HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "down"), { status: 503 })),
    );
    const { client } = renderActions(bot({ status: "STOPPED" }));
    // The detail page's query of the bot fails (as it would on the page).
    await client.prefetchQuery((await import("../../queries/bots")).botQuery(BOT_ID));
    await waitFor(() => expect(screen.getByRole("button", { name: "Start" })).toHaveAttribute("title", expect.stringContaining("Bot failed with DATABASE_UNAVAILABLE")));
  });
});

describe("actionGate / stageChoices", () => {
  const ctx: GateContext = { status: "STOPPED", stage: "LAB", role: "admin", runtimeLatched: false, killSwitchActive: false, autonomy: LIMITED, endpointGate: null };
  it("moves one stage at a time, demotes to any lower stage", () => {
    expect(stageChoices("LAB")).toEqual(["PAPER"]);
    expect(stageChoices("SHADOW")).toEqual(["LIVE", "PAPER", "LAB"]);
    expect(stageChoices("LIVE")).toEqual(["SHADOW", "PAPER", "LAB"]);
    expect(actionGate("promote", ctx, "SHADOW")).toMatch(/one stage at a time: LAB → SHADOW/);
    expect(actionGate("promote", { ...ctx, stage: "PAPER", status: "RUNNING" }, "SHADOW")).toMatch(/stop it, promote it/);
    expect(actionGate("promote", { ...ctx, stage: "PAPER", autonomy: null }, "SHADOW")).toMatch(/never scored/);
    expect(actionGate("promote", { ...ctx, stage: "SHADOW", status: "RUNNING" }, "PAPER")).toBeNull();
    expect(actionGate("promote", { ...ctx, stage: "SHADOW", twoFactorEnabled: false }, "LIVE")).toMatch(/not enrolled 2FA/);
    expect(actionGate("promote", { ...ctx, stage: "SHADOW", twoFactorEnabled: true }, "LIVE")).toBeNull();
  });
  it("re-arm follows the runtime latch too; restart needs a runner", () => {
    expect(actionGate("rearm", { ...ctx, status: "STOPPED", runtimeLatched: true })).toBeNull();
    expect(actionGate("rearm", ctx)).toMatch(/Only a KILLED bot/);
    expect(actionGate("restart", ctx)).toMatch(/use Start/);
    expect(actionGate("start", { ...ctx, status: "SUSPENDED" })).toMatch(/already SUSPENDED/);
    expect(actionGate("start", { ...ctx, role: undefined })).toBe("Checking your role…");
  });
});
