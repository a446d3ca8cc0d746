import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import type { AuditEntry } from "../../queries/settings";
import { AuditSection } from "./AuditSection";
import { SettingsPage } from "./index";
import { ADMIN_ID, errorResponse, meHandler, OPERATOR_ID, TRACE, user } from "./testData";

function entry(over: Partial<AuditEntry> = {}): AuditEntry {
  return {
    id: crypto.randomUUID(),
    created_at: "2026-11-26T12:00:00Z",
    actor_user_id: ADMIN_ID,
    actor_token_id: null,
    actor: "ada@desk.example",
    action: "auth.login",
    target: null,
    outcome: "SUCCESS",
    trace_id: "0af7651916cd43dd8448eb211c80319c",
    ip: "10.0.0.7",
    metadata: { second_factor: "totp" },
    ...over,
  };
}

const USERS = http.get("*/api/users", () =>
  HttpResponse.json(ok({ items: [user(), user({ id: OPERATOR_ID, email: "olu@desk.example", role: "operator" })], next_cursor: null })),
);

describe("AuditSection", () => {
  it("lists entries; a row expands to its trace id and metadata", async () => {
    server.use(
      USERS,
      http.get("*/api/audit", () =>
        HttpResponse.json(ok({ items: [entry(), entry({ action: "access.denied", outcome: "DENIED", actor: "anonymous", actor_user_id: null, ip: null, metadata: {} })], next_cursor: null })),
      ),
    );
    const u = userEvent.setup();
    renderWithApp(<AuditSection />);
    const rows = await screen.findAllByTestId("audit-row");
    expect(rows[0]).toHaveTextContent("ada@desk.example");
    expect(rows[0]).toHaveTextContent("auth.login");
    expect(rows[0]).toHaveTextContent("SUCCESS");
    expect(rows[1]).toHaveTextContent("DENIED");
    expect(rows[1]).toHaveTextContent("unknown");
    const expand = within(rows[0]!).getByRole("button", { name: /Details of auth.login/ });
    expect(expand).toHaveAttribute("aria-expanded", "false");
    await u.click(expand);
    expect(expand).toHaveAttribute("aria-expanded", "true");
    expect(screen.getByText("trace 0af7651916cd43dd8448eb211c80319c")).toBeInTheDocument();
    expect(screen.getByText(/"second_factor": "totp"/)).toBeInTheDocument();
    await u.click(within(rows[1]!).getByRole("button", { name: /Details of access.denied/ }));
    expect(screen.getByText("No metadata recorded.")).toBeInTheDocument();
  });

  it("reads its filters from the URL and writes new ones back", async () => {
    const queries: Record<string, string>[] = [];
    server.use(
      USERS,
      http.get("*/api/audit", ({ request }) => {
        queries.push(Object.fromEntries(new URL(request.url).searchParams));
        return HttpResponse.json(ok({ items: [entry({ outcome: "FAILED" })], next_cursor: null }));
      }),
    );
    const u = userEvent.setup();
    const { router } = renderWithApp(<AuditSection />, { path: "/settings?section=audit&outcome=FAILED&action=auth.login" });
    await screen.findAllByTestId("audit-row");
    expect(queries[0]).toEqual({ outcome: "FAILED", action: "auth.login", limit: "50" });
    expect(screen.getByLabelText("Outcome")).toHaveValue("FAILED");
    expect(screen.getByLabelText("Action")).toHaveValue("auth.login");

    await u.selectOptions(await screen.findByRole("combobox", { name: "Actor" }), await screen.findByRole("option", { name: "olu@desk.example" }));
    await u.click(screen.getByRole("button", { name: "Apply" }));
    await waitFor(() => expect(router.state.location.search).toMatchObject({ section: "audit", outcome: "FAILED", action: "auth.login", actor: OPERATOR_ID }));
    await waitFor(() => expect(queries.at(-1)).toEqual({ outcome: "FAILED", action: "auth.login", actor_user_id: OPERATOR_ID, limit: "50" }));
  });

  it("refuses a time range that ends before it starts", async () => {
    server.use(USERS, http.get("*/api/audit", () => HttpResponse.json(ok({ items: [], next_cursor: null }))));
    const u = userEvent.setup();
    renderWithApp(<AuditSection />);
    await screen.findByText("No audit entries");
    await u.type(screen.getByLabelText("From"), "2026-11-26T12:00");
    await u.type(screen.getByLabelText("To"), "2026-11-26T11:00");
    expect(screen.getByRole("button", { name: "Apply" })).toBeDisabled();
    expect(screen.getAllByText("“From” must be earlier than “To”.").length).toBeGreaterThan(0);
  });

  it("loads older entries with the cursor", async () => {
    const cursors: (string | null)[] = [];
    server.use(
      USERS,
      http.get("*/api/audit", ({ request }) => {
        const cursor = new URL(request.url).searchParams.get("cursor");
        cursors.push(cursor);
        return HttpResponse.json(ok(cursor ? { items: [entry({ action: "users.create" })], next_cursor: null } : { items: [entry()], next_cursor: "older" }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<AuditSection />);
    await u.click(await screen.findByRole("button", { name: "Load older entries" }));
    await waitFor(() => expect(screen.getAllByTestId("audit-row")).toHaveLength(2));
    expect(cursors).toEqual([null, "older"]);
  });

  it("empty: says no entry matches the filters and offers to clear them", async () => {
    server.use(USERS, http.get("*/api/audit", () => HttpResponse.json(ok({ items: [], next_cursor: null }))));
    const u = userEvent.setup();
    const { router } = renderWithApp(<AuditSection />, { path: "/settings?section=audit&action=users.update" });
    expect(await screen.findByText(/No entry matches these filters/)).toBeInTheDocument();
    await u.click(screen.getByRole("button", { name: "Clear filters" }));
    await waitFor(() => expect(router.state.location.search).toEqual({ section: "audit" }));
    expect(await screen.findByText(/Nothing has been recorded yet/)).toBeInTheDocument();
  });

  it("degraded: the server's code, message, fix and trace id", async () => {
    server.use(USERS, http.get("*/api/audit", () => errorResponse(422, "VALIDATION_FAILED", "from must be earlier than `to`", "Fix the range.")));
    renderWithApp(<AuditSection />, { path: "/settings?section=audit&from=2026-11-26T12:00:00Z&to=2026-11-26T11:00:00Z" });
    expect(await screen.findByText("VALIDATION_FAILED: from must be earlier than `to`")).toBeInTheDocument();
    expect(screen.getByText("Fix: Fix the range.")).toBeInTheDocument();
    expect(screen.getAllByText(new RegExp(TRACE.slice(0, 8))).length).toBeGreaterThan(0);
  });

  it("forbidden for an operator: explanation, no request", async () => {
    server.use(meHandler(user({ id: OPERATOR_ID, role: "operator" })));
    renderWithApp(<SettingsPage />, { path: "/settings?section=audit" });
    expect(await screen.findByText("Only admins can see the audit log.")).toBeInTheDocument();
  });
});
