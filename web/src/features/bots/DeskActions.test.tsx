import { describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { DeskActions } from "./DeskActions";
import { bot, BOT_ID, meHandler, order, position } from "./fixtures.test-util";

vi.setConfig({ testTimeout: 20_000 });

function positionHandler(quantity: number, working: number) {
  return http.get(`*/api/bots/${BOT_ID}/position`, () =>
    HttpResponse.json(
      ok({
        ...position,
        position: { ...position.position, quantity },
        working_orders: Array.from({ length: working }, (_, i) => order({ id: `0190a000-0000-7000-8000-00000000010${i}` })),
      }),
    ),
  );
}

const removal = (over: Record<string, unknown>) => ({
  bot_id: BOT_ID,
  source: "OPERATOR_CANCEL",
  cancelled: [],
  broker_cancels_pending: [],
  flatten: null,
  position_after: 1,
  not_done: null,
  ...over,
});

async function enabled(name: string) {
  const button = await screen.findByRole("button", { name });
  await waitFor(() => expect(button).toBeEnabled());
  return button;
}

describe("DeskActions: each control says what the server does, posts, and reports the removal", () => {
  it("Cancel orders: names the working orders, keeps the position, reports what was cancelled", async () => {
    const posted: string[] = [];
    server.use(
      meHandler("operator"),
      positionHandler(1, 2),
      http.post(`*/api/bots/${BOT_ID}/cancel-orders`, ({ request }) => {
        posted.push(new URL(request.url).pathname);
        return HttpResponse.json(ok({ bot: bot(), removal: removal({ cancelled: [{}, {}] }) }));
      }),
    );
    const onDone = vi.fn();
    const user = userEvent.setup({ delay: null });
    renderWithApp(<DeskActions bot={bot()} onDone={onDone} />);
    await user.click(await enabled("Cancel orders"));
    const dialog = screen.getByRole("alertdialog", { name: "Cancel orders: es-sma-paper" });
    expect(within(dialog).getByTestId("consequences")).toHaveTextContent("Cancels 2 working order(s)");
    expect(within(dialog).getByTestId("consequences")).toHaveTextContent("The position (1 contract(s) long) is not touched");
    await user.click(within(dialog).getByRole("button", { name: "Cancel orders" }));
    await waitFor(() => expect(onDone).toHaveBeenCalledWith("Cancel orders: Cancelled 2 working order(s); position left: 1 contract(s)."));
    expect(posted).toEqual([`/api/bots/${BOT_ID}/cancel-orders`]);
  });

  it("Close position on a LIVE bot asks for a code up front and says the close goes to the broker", async () => {
    const calls: string[] = [];
    server.use(
      meHandler("operator", null),
      positionHandler(-2, 0),
      http.post("*/api/auth/step-up", async ({ request }) => {
        calls.push(`step-up ${((await request.json()) as { code: string }).code}`);
        return HttpResponse.json(ok({ step_up_valid_until: "2099-01-01T00:00:00Z" }));
      }),
      http.post(`*/api/bots/${BOT_ID}/close-position`, () => {
        calls.push("close");
        return HttpResponse.json(
          ok({
            bot: bot({ stage: "LIVE" }),
            removal: removal({
              source: "OPERATOR_CLOSE",
              flatten: { status: "CLOSED_AT_BROKER", contract: "ESZ6", closes: [{ side: "BUY", quantity: 2, filled: 2, price: "5001.25", problem: null }], not_done: [] },
              position_after: 0,
            }),
          }),
        );
      }),
    );
    const onDone = vi.fn();
    const user = userEvent.setup({ delay: null });
    renderWithApp(<DeskActions bot={bot({ stage: "LIVE" })} onDone={onDone} />);
    await user.click(await enabled("Close position"));
    const dialog = screen.getByRole("alertdialog", { name: "Close position: es-sma-paper" });
    expect(within(dialog).getByTestId("consequences")).toHaveTextContent("a market order is sent for each bot holding the contract");
    await user.type(within(dialog).getByLabelText("Authenticator code"), "123456");
    await user.click(within(dialog).getByRole("button", { name: "Close position" }));
    await waitFor(() => expect(onDone).toHaveBeenCalled());
    expect(onDone.mock.calls[0]![0]).toContain("closed at the broker on ESZ6: BUY 2/2 at 5001.25");
    expect(calls).toEqual(["step-up 123456", "close"]);
  });

  it("disables what a gate forbids, with the reason", async () => {
    server.use(meHandler("operator"), positionHandler(0, 0));
    renderWithApp(<DeskActions bot={bot({ status: "RUNNING" })} onDone={vi.fn()} />);
    await waitFor(() => expect(screen.getByRole("button", { name: "Cancel orders" })).toHaveAttribute("title", "The bot has no NEW or WORKING order to cancel (a LIVE send still awaiting the broker's answer is not listed)."));
    expect(screen.getByRole("button", { name: "Close position" })).toBeDisabled();
    expect(screen.getByRole("button", { name: "Kill and flatten" })).toHaveAttribute("title", "Kill and flatten needs the admin role; you are operator.");
    expect(screen.getByRole("button", { name: "Archive" })).toHaveAttribute("title", "Only a STOPPED bot can be archived; this one is RUNNING.");
  });
});
