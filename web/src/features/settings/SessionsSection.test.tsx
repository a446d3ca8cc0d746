import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { SessionsSection } from "./SessionsSection";
import { errorResponse, session, TRACE } from "./testData";

const CURRENT = session();
const PHONE = session({
  id: "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
  current: false,
  ip: "192.0.2.44",
  user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
  step_up_at: "2026-11-26T09:00:00Z",
});
const CURL = session({ id: "cccccccc-cccc-4ccc-8ccc-cccccccccccc", current: false, ip: null, user_agent: null });

function list(items = [CURRENT, PHONE, CURL]) {
  return http.get("*/api/auth/sessions", () => HttpResponse.json(ok({ items, next_cursor: null })));
}

describe("SessionsSection", () => {
  it("lists sessions with device, IP, times and the current marker", async () => {
    server.use(list());
    renderWithApp(<SessionsSection />);
    const rows = await screen.findAllByTestId("session-row");
    expect(rows).toHaveLength(3);
    expect(rows[0]).toHaveTextContent("Chrome on Linux");
    expect(rows[0]).toHaveTextContent("This session");
    expect(rows[0]).toHaveTextContent("10.0.0.7");
    expect(rows[0]).toHaveTextContent(/1\d s ago/);
    expect(rows[1]).toHaveTextContent("Safari on iOS");
    expect(rows[1]).not.toHaveTextContent("This session");
    expect(rows[2]).toHaveTextContent("Unknown device (no user agent sent)");
    expect(rows[2]).toHaveTextContent("unknown");
    expect(within(rows[0]!).getByRole("button", { name: "Sign out this session" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: /Sign out all other sessions/ })).toBeEnabled();
  });

  it("revokes one session after a confirmation and reloads the list", async () => {
    let items = [CURRENT, PHONE];
    const deleted: string[] = [];
    server.use(
      http.get("*/api/auth/sessions", () => HttpResponse.json(ok({ items, next_cursor: null }))),
      http.delete("*/api/auth/sessions/:id", ({ params }) => {
        deleted.push(String(params.id));
        items = [CURRENT];
        return HttpResponse.json(ok({ revoked: true }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<SessionsSection />);
    await u.click(await screen.findByRole("button", { name: "Revoke session Safari on iOS" }));
    const dialog = screen.getByRole("alertdialog", { name: "Revoke session" });
    expect(dialog).toHaveTextContent("Safari on iOS (192.0.2.44)");
    await u.click(within(dialog).getByRole("button", { name: "Revoke" }));
    await waitFor(() => expect(screen.getAllByTestId("session-row")).toHaveLength(1));
    expect(deleted).toEqual([PHONE.id]);
    expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument();
    expect(screen.getByRole("button", { name: /Sign out all other sessions/ })).toHaveAttribute("title", "No other sessions are signed in.");
  });

  it("signs out every other session", async () => {
    let calls = 0;
    server.use(
      list(),
      http.post("*/api/auth/sessions/revoke-others", () => {
        calls += 1;
        return HttpResponse.json(ok({ revoked: 2 }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<SessionsSection />);
    await screen.findAllByTestId("session-row");
    await u.click(screen.getByRole("button", { name: /Sign out all other sessions/ }));
    const dialog = screen.getByRole("alertdialog", { name: "Sign out all other sessions" });
    expect(dialog).toHaveTextContent("2 other sessions will be signed out at once");
    await u.click(within(dialog).getByRole("button", { name: "Sign out others" }));
    await waitFor(() => expect(calls).toBe(1));
  });

  it("goes to the sign-in page after ending its own session", async () => {
    server.use(
      list(),
      http.delete("*/api/auth/sessions/:id", () => HttpResponse.json(ok({ revoked: true }))),
    );
    const u = userEvent.setup();
    const { router } = renderWithApp(<SessionsSection />, { path: "/settings?section=sessions" });
    await u.click(await screen.findByRole("button", { name: "Sign out this session" }));
    await u.click(within(screen.getByRole("alertdialog", { name: "Sign out this session" })).getByRole("button", { name: "Sign out" }));
    await waitFor(() => expect(router.state.location.pathname).toBe("/login"));
  });

  it("shows a failed revoke's error in the dialog", async () => {
    server.use(
      list(),
      http.delete("*/api/auth/sessions/:id", () => errorResponse(422, "VALIDATION_FAILED", "id is not one of your live sessions")),
    );
    const u = userEvent.setup();
    renderWithApp(<SessionsSection />);
    await u.click(await screen.findByRole("button", { name: "Revoke session Safari on iOS" }));
    const dialog = screen.getByRole("alertdialog", { name: "Revoke session" });
    await u.click(within(dialog).getByRole("button", { name: "Revoke" }));
    expect(await within(dialog).findByText(/VALIDATION_FAILED: id is not one of your live sessions/)).toBeInTheDocument();
    expect(dialog).toHaveTextContent(TRACE);
  });

  it("says why the list is empty", async () => {
    server.use(list([]));
    renderWithApp(<SessionsSection />);
    expect(await screen.findByText("No live sessions listed")).toBeInTheDocument();
  });

  it("degraded: shows the error with code and trace id, then keeps stale rows with their age and disables revoking", async () => {
    let fail = false;
    server.use(
      http.get("*/api/auth/sessions", () =>
        fail ? errorResponse(503, "DATABASE_UNAVAILABLE", "The database is unreachable.") : HttpResponse.json(ok({ items: [CURRENT, PHONE], next_cursor: null })),
      ),
    );
    const { client } = renderWithApp(<SessionsSection />);
    await screen.findAllByTestId("session-row");
    fail = true;
    await client.refetchQueries({ queryKey: ["/api/auth/sessions"] });
    expect(await screen.findByText("DATABASE_UNAVAILABLE")).toBeInTheDocument();
    expect(screen.getByText(/stale: last good/)).toBeInTheDocument();
    expect(screen.getAllByTestId("session-row")).toHaveLength(2);
    const revoke = screen.getByRole("button", { name: "Revoke session Safari on iOS" });
    await waitFor(() => expect(revoke).toBeDisabled());
    expect(revoke.title).toContain("DATABASE_UNAVAILABLE");
  });

  it("degraded with no data: the full error, no table", async () => {
    server.use(http.get("*/api/auth/sessions", () => errorResponse(503, "DATABASE_UNAVAILABLE", "The database is unreachable.", "Check Postgres.")));
    renderWithApp(<SessionsSection />);
    expect(await screen.findByText("DATABASE_UNAVAILABLE: The database is unreachable.")).toBeInTheDocument();
    expect(screen.getByText("Fix: Check Postgres.")).toBeInTheDocument();
    expect(screen.queryByRole("table")).not.toBeInTheDocument();
  });
});
