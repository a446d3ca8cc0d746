import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import type { ServiceToken } from "../../queries/settings";
import { ServiceTokensSection } from "./ServiceTokensSection";
import { SettingsPage } from "./index";
import { errorResponse, meHandler, TRACE, user } from "./testData";

function token(over: Partial<ServiceToken> = {}): ServiceToken {
  return {
    id: "dddddddd-dddd-4ddd-8ddd-dddddddddddd",
    name: "runner-1 traces",
    scopes: ["traces:write"],
    created_at: "2026-11-20T10:00:00Z",
    created_by: null,
    expires_at: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    revoked_at: null,
    last_used_at: new Date(Date.now() - 90_000).toISOString(),
    ...over,
  };
}
const ACTIVE = token();
const REVOKED = token({ id: "eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee", name: "old runner", revoked_at: "2026-11-21T10:00:00Z", last_used_at: null });
const EXPIRED = token({ id: "ffffffff-ffff-4fff-8fff-ffffffffffff", name: "lapsed", expires_at: "2026-01-01T00:00:00Z", last_used_at: null });
const VALUE = "tps_Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg5MGFiY2RlZg";

function list(items: ServiceToken[]) {
  return http.get("*/api/service-tokens", () => HttpResponse.json(ok({ items, next_cursor: null })));
}

describe("ServiceTokensSection", () => {
  it("lists tokens with scopes, a state from their own fields and last use", async () => {
    server.use(list([ACTIVE, REVOKED, EXPIRED]));
    renderWithApp(<ServiceTokensSection />);
    const rows = await screen.findAllByTestId("token-row");
    expect(rows[0]).toHaveTextContent("runner-1 traces");
    expect(rows[0]).toHaveTextContent("traces:write");
    expect(rows[0]).toHaveTextContent("ACTIVE");
    expect(rows[0]).toHaveTextContent(/1 min ago/);
    expect(rows[1]).toHaveTextContent("REVOKED");
    expect(rows[1]).toHaveTextContent("never used");
    expect(within(rows[1]!).queryByRole("button", { name: /Revoke/ })).not.toBeInTheDocument();
    expect(rows[2]).toHaveTextContent("EXPIRED");
  });

  it("shows a new token's value once, with copy and an \"I saved it\" gate, and keeps it out of the caches", async () => {
    let items = [REVOKED];
    const posted: unknown[] = [];
    server.use(
      http.get("*/api/service-tokens", () => HttpResponse.json(ok({ items, next_cursor: null }))),
      http.post("*/api/service-tokens", async ({ request }) => {
        posted.push(await request.json());
        const created = token({ name: "runner-2 traces", last_used_at: null });
        items = [created, REVOKED];
        return HttpResponse.json(ok({ service_token: created, token: VALUE }), { status: 201 });
      }),
    );
    const u = userEvent.setup();
    const { client } = renderWithApp(<ServiceTokensSection />);
    await u.click(await screen.findByRole("button", { name: "New token" }));
    const dialog = screen.getByRole("dialog", { name: "New service token" });
    await u.type(within(dialog).getByLabelText("Name"), "runner-2 traces");
    await u.clear(within(dialog).getByLabelText("Lifetime (days)"));
    await u.type(within(dialog).getByLabelText("Lifetime (days)"), "30");
    await u.click(within(dialog).getByRole("button", { name: "Create token" }));

    const value = await screen.findByLabelText("Service token value");
    expect(value).toHaveTextContent(VALUE);
    expect(screen.getAllByLabelText(/service token/i)).toHaveLength(1);
    expect(posted).toEqual([{ name: "runner-2 traces", scopes: ["traces:write"], expires_in_days: 30 }]);
    expect(screen.getByRole("button", { name: "Copy token" })).toBeInTheDocument();
    await waitFor(() => expect(screen.getAllByTestId("token-row")).toHaveLength(2));
    const caches = JSON.stringify([client.getQueryCache().getAll().map((q) => q.state.data), client.getMutationCache().getAll().map((m) => m.state.data)]);
    expect(caches).not.toContain(VALUE);

    const newToken = screen.getByTestId("new-token");
    const done = within(newToken).getByRole("button", { name: "Done" });
    expect(done).toBeDisabled();
    expect(screen.getByRole("button", { name: "New token" })).toBeDisabled();
    await u.click(within(newToken).getByRole("checkbox", { name: "I saved it" }));
    await u.click(done);
    expect(screen.queryByLabelText("Service token value")).not.toBeInTheDocument();
    expect(screen.queryByText(VALUE)).not.toBeInTheDocument();
  });

  it("offers the scopes the server accepts when it refuses one", async () => {
    server.use(
      list([]),
      http.post("*/api/service-tokens", () =>
        errorResponse(422, "VALIDATION_FAILED", "scopes: `bots:write` is not accepted by any route", "Fix the field.", { field: "scopes", known_scopes: ["traces:write"] }),
      ),
    );
    const u = userEvent.setup();
    renderWithApp(<ServiceTokensSection />);
    await u.click(await screen.findByRole("button", { name: "New token" }));
    const dialog = screen.getByRole("dialog", { name: "New service token" });
    await u.type(within(dialog).getByLabelText("Name"), "x");
    await u.clear(within(dialog).getByLabelText("Scopes"));
    await u.type(within(dialog).getByLabelText("Scopes"), "bots:write");
    await u.click(within(dialog).getByRole("button", { name: "Create token" }));
    expect(await within(dialog).findByText(/VALIDATION_FAILED/)).toBeInTheDocument();
    expect(dialog).toHaveTextContent(TRACE);
    await u.click(within(dialog).getByRole("button", { name: "traces:write" }));
    expect(within(dialog).getByLabelText("Scopes")).toHaveValue("traces:write");
  });

  it("revokes a token after stating the consequence", async () => {
    const revoked: string[] = [];
    server.use(
      list([ACTIVE]),
      http.delete("*/api/service-tokens/:id", ({ params }) => {
        revoked.push(String(params.id));
        return HttpResponse.json(ok({ service_token: { ...ACTIVE, revoked_at: new Date().toISOString() } }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<ServiceTokensSection />);
    await u.click(await screen.findByRole("button", { name: "Revoke runner-1 traces" }));
    const dialog = screen.getByRole("alertdialog", { name: "Revoke service token" });
    expect(dialog).toHaveTextContent("stops working at once");
    await u.click(within(dialog).getByRole("button", { name: "Revoke" }));
    await waitFor(() => expect(revoked).toEqual([ACTIVE.id]));
  });

  it("says why the list is empty", async () => {
    server.use(list([]));
    renderWithApp(<ServiceTokensSection />);
    expect(await screen.findByText("No service tokens")).toBeInTheDocument();
    expect(screen.getByText(/no internal writer can post/)).toBeInTheDocument();
  });

  it("degraded: error code, message and trace id; creating is gated", async () => {
    server.use(http.get("*/api/service-tokens", () => errorResponse(503, "DATABASE_UNAVAILABLE", "The database is unreachable.")));
    renderWithApp(<ServiceTokensSection />);
    expect(await screen.findByText("DATABASE_UNAVAILABLE: The database is unreachable.")).toBeInTheDocument();
    const create = screen.getByRole("button", { name: "New token" });
    await waitFor(() => expect(create).toBeDisabled());
    expect(create.title).toContain("DATABASE_UNAVAILABLE");
  });

  it("forbidden: a viewer gets an explanation and no request", async () => {
    server.use(meHandler(user({ role: "viewer" })));
    renderWithApp(<SettingsPage />, { path: "/settings?section=tokens" });
    expect(await screen.findByText("Only admins can see service tokens.")).toBeInTheDocument();
  });
});
