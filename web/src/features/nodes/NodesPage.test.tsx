import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { NodesPage } from ".";

function node(name: string, state: string, over: Record<string, unknown> = {}) {
  return {
    name,
    incarnation: "019ae3c1-0000-7000-8000-0000000000b1",
    host: "host-1",
    version: "0.1.0",
    started_at: new Date(Date.now() - 3_600_000).toISOString(),
    heartbeat_at: new Date().toISOString(),
    heartbeat_age_ms: 1200,
    capacity: 1,
    state,
    stopped_at: null,
    draining_since: null,
    gone_at: null,
    bots: 0,
    next_lease_expiry: null,
    leader: false,
    ...over,
  };
}

function me(role: "viewer" | "admin") {
  return http.get("*/api/auth/me", () =>
    HttpResponse.json(
      ok({
        user: { id: "7d1c3a52-3f1e-4a57-9d59-8f1f6f2b8a10", email: `${role}@example.com`, role, disabled: false, two_factor_enabled: true, backup_codes_remaining: 8, created_at: "2026-11-01T10:00:00Z" },
        session: {},
        step_up_valid_until: null,
      }),
    ),
  );
}

describe("NodesPage", () => {
  it("shows each node's state, heartbeat age, bots and the leader; drains an alive node after saying what happens", async () => {
    let drained = false;
    server.use(
      me("admin"),
      http.get("*/api/nodes", () =>
        HttpResponse.json(
          ok({
            items: [
              node("node-a", drained ? "DRAINING" : "ALIVE", { bots: drained ? 0 : 3, leader: !drained }),
              node("node-b", "DEAD", { heartbeat_age_ms: 42_000 }),
              node("node-c", "DEAD", { heartbeat_age_ms: 1_500, gone_at: "2026-12-05T23:00:00Z" }),
            ],
            this_node: "node-a",
            lease_ttl_ms: 10_000,
            recent_moves: [
              { bot_id: "019ae3c1-0000-7000-8000-0000000000c1", bot_name: "es-trend", from_node: "node-c", to_node: "node-a", at: "2026-12-05T23:00:01Z" },
            ],
          }),
        ),
      ),
      http.post("*/api/nodes/node-a/drain", () => {
        drained = true;
        return HttpResponse.json(ok(node("node-a", "DRAINING", { bots: 3 })));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<NodesPage />, { path: "/nodes" });
    const a = await screen.findByTestId("node-node-a");
    expect(a).toHaveTextContent("ALIVE");
    expect(a).toHaveTextContent("leader");
    expect(a).toHaveTextContent("(answering)");
    expect(a).toHaveTextContent("1.2 s ago");
    const b = screen.getByTestId("node-node-b");
    expect(b).toHaveTextContent("DEAD");
    expect(b).toHaveTextContent("42.0 s ago");
    expect(within(b).getByRole("button", { name: "Drain node node-b" })).toHaveAttribute("title", "The node is DEAD: only an ALIVE node can be drained");
    expect(b).not.toHaveTextContent("database session ended");
    // Found gone by another node before its TTL: DEAD at once, and why.
    const c = screen.getByTestId("node-node-c");
    expect(c).toHaveTextContent("DEAD");
    expect(c).toHaveTextContent("database session ended: bots released at");
    // Its bot moved to node-a: the move is listed, linked to the bot.
    const move = within(screen.getByRole("table", { name: "Recent moves" })).getByTestId("move-019ae3c1-0000-7000-8000-0000000000c1");
    expect(move).toHaveTextContent("node-c");
    expect(move).toHaveTextContent("node-a");
    expect(within(move).getByRole("link", { name: "es-trend" })).toHaveAttribute("href", "/bots/019ae3c1-0000-7000-8000-0000000000c1");
    const drain = within(a).getByRole("button", { name: "Drain node node-a" });
    await waitFor(() => expect(drain).toBeEnabled());
    await u.click(drain);
    const dialog = screen.getByRole("alertdialog", { name: "Drain node node-a" });
    expect(dialog).toHaveTextContent("stops the runners of its 3 bot(s)");
    expect(dialog).toHaveTextContent("hands over the cluster's singletons");
    expect(drained).toBe(false);
    await u.click(within(dialog).getByRole("button", { name: "Drain node" }));
    await waitFor(() => expect(screen.getByTestId("node-node-a")).toHaveTextContent("DRAINING"));
    expect(drained).toBe(true);
  });

  it("disables Drain for a viewer and says why", async () => {
    server.use(me("viewer"), http.get("*/api/nodes", () => HttpResponse.json(ok({ items: [node("node-a", "ALIVE")], this_node: "node-a", lease_ttl_ms: 10_000, recent_moves: [] }))));
    renderWithApp(<NodesPage />, { path: "/nodes" });
    const row = await screen.findByTestId("node-node-a");
    await waitFor(() => expect(within(row).getByRole("button", { name: "Drain node node-a" })).toHaveAttribute("title", "Drain needs the admin role; you are signed in as viewer"));
    expect(within(row).getByRole("button", { name: "Drain node node-a" })).toBeDisabled();
    expect(screen.getByText("No bot has moved between nodes lately.")).toBeInTheDocument();
    expect(document.title).toBe("Nodes · tradeplane");
  });
});
