import { afterEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { delay, http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { advanceClock } from "../../test/clock";
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

afterEach(() => vi.restoreAllMocks());

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

  it("greys every row as the last known state, never a green ALIVE, once the nodes refetch fails", async () => {
    let fail = false;
    server.use(
      me("admin"),
      http.get("*/api/nodes", () =>
        fail
          ? HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable."), { status: 503 })
          : HttpResponse.json(ok({ items: [node("node-a", "ALIVE")], this_node: "node-a", lease_ttl_ms: 10_000, recent_moves: [] })),
      ),
    );
    const { client } = renderWithApp(<NodesPage />, { path: "/nodes" });
    const row = await screen.findByTestId("node-node-a");
    expect(row).toHaveAttribute("data-stale", "false");
    expect(within(row).getByText("ALIVE")).toHaveClass("text-ok");
    fail = true;
    await client.refetchQueries({ queryKey: ["/api/nodes"] });
    await waitFor(() => expect(row).toHaveAttribute("data-stale", "true"));
    expect(within(row).getByText(/^ALIVE/)).toHaveTextContent("ALIVE (last known)");
    expect(within(row).getByText(/^ALIVE/)).not.toHaveClass("text-ok");
    expect(row).toHaveClass("opacity-70");
    expect(within(row).getByTestId("heartbeat-age")).toHaveTextContent(/^last known \d+\.\d s ago$/);
    expect(screen.getByTestId("nodes-stale")).toHaveTextContent("Stale: the latest refresh failed");
  });

  it("keeps counting a heartbeat's age after the answer, and greys the rows once the answer is older than the freshness limit", async () => {
    let hang = false;
    server.use(
      me("admin"),
      http.get("*/api/nodes", async () => {
        if (hang) await delay("infinite");
        return HttpResponse.json(ok({ items: [node("node-a", "ALIVE", { heartbeat_age_ms: 1200 })], this_node: "node-a", lease_ttl_ms: 10_000, recent_moves: [] }));
      }),
    );
    renderWithApp(<NodesPage />, { path: "/nodes" });
    const row = await screen.findByTestId("node-node-a");
    expect(within(row).getByTestId("heartbeat-age")).toHaveTextContent("1.2 s ago");
    // No new answer (the request hangs) while 13 s pass: the age grows by them, the row goes stale.
    hang = true;
    advanceClock(13_000);
    await waitFor(() => expect(row).toHaveAttribute("data-stale", "true"), { timeout: 8_000 });
    const age = within(row).getByTestId("heartbeat-age").textContent ?? "";
    expect(age).toMatch(/^last known \d+\.\d s ago$/);
    expect(Number(/(\d+\.\d) s/.exec(age)![1])).toBeGreaterThanOrEqual(14.2);
    expect(within(row).getByText(/^ALIVE/)).not.toHaveClass("text-ok");
    expect(screen.getByTestId("nodes-stale")).toHaveTextContent(/Stale: no fresh answer for \d+ s/);
  }, 15_000);
});
