import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { SettingsPage } from "./index";
import { UsersSection } from "./UsersSection";
import { ADMIN_ID, errorResponse, meHandler, OPERATOR_ID, TRACE, user } from "./testData";

const ADMIN = user({ two_factor_enabled: true, two_factor_method: "TOTP", backup_codes_remaining: 9 });
const OPERATOR = user({ id: OPERATOR_ID, email: "olu@desk.example", role: "operator", two_factor_enabled: true, two_factor_method: "TOTP", backup_codes_remaining: 2 });
const VIEWER = user({ id: "33333333-3333-4333-8333-333333333333", email: "vic@desk.example", role: "viewer", disabled: true, disabled_at: "2026-11-25T10:00:00Z" });

function users(items = [ADMIN, OPERATOR, VIEWER], next: string | null = null) {
  return http.get("*/api/users", () => HttpResponse.json(ok({ items, next_cursor: next })));
}

/** POST /api/auth/step-up accepting any code, recorded in `calls`; `done()`: it has run. */
function stepUp(calls: string[]) {
  let done = false;
  const handler = http.post("*/api/auth/step-up", async ({ request }) => {
    calls.push(`step-up ${JSON.stringify(await request.json())}`);
    done = true;
    return HttpResponse.json(ok({ step_up_at: new Date().toISOString(), step_up_valid_until: new Date(Date.now() + 600_000).toISOString(), csrf_token: "x" }));
  });
  return { handler, done: () => done };
}

/** The server's answer to a user change without a recent step-up. */
const stepUpRequired = () => errorResponse(401, "TWO_FACTOR_REQUIRED", "This action needs a two-factor step-up within the last 10 minutes.");

describe("UsersSection", () => {
  it("lists users with role, state and two-factor; your own row cannot be demoted or disabled", async () => {
    server.use(meHandler(ADMIN), users());
    renderWithApp(<UsersSection />);
    const rows = await screen.findAllByTestId("user-row");
    expect(rows).toHaveLength(3);
    expect(rows[0]).toHaveTextContent("ada@desk.example");
    expect(rows[0]).toHaveTextContent("you");
    await waitFor(() => expect(screen.getByRole("combobox", { name: "Role of ada@desk.example" })).toBeDisabled());
    expect(screen.getByRole("button", { name: "Disable ada@desk.example" })).toHaveAttribute("title", "You cannot disable yourself; another admin must.");
    expect(rows[1]).toHaveTextContent("2 backup codes left");
    expect(rows[2]).toHaveTextContent("DISABLED");
    expect(rows[2]).toHaveTextContent("not enabled");
    expect(screen.getByRole("combobox", { name: "Role of olu@desk.example" })).toHaveValue("operator");
    expect(screen.getByRole("button", { name: "Enable vic@desk.example" })).toBeEnabled();
  });

  it("changes a role after a confirmation that states what the role may do (step-up active: no code asked)", async () => {
    const patches: unknown[] = [];
    server.use(
      meHandler(ADMIN, new Date(Date.now() + 600_000).toISOString()),
      users(),
      http.patch("*/api/users/:id", async ({ request, params }) => {
        patches.push({ id: params.id, body: await request.json() });
        return HttpResponse.json(ok({ user: { ...OPERATOR, role: "admin" } }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<UsersSection />);
    const select = await screen.findByRole("combobox", { name: "Role of olu@desk.example" });
    await waitFor(() => expect(select).toBeEnabled());
    await u.selectOptions(select, "admin");
    const dialog = screen.getByRole("alertdialog", { name: "Change role" });
    expect(dialog).toHaveTextContent("olu@desk.example goes from operator to admin");
    expect(dialog).toHaveTextContent("manages users, service tokens");
    expect(within(dialog).queryByLabelText("Authenticator code")).not.toBeInTheDocument();
    await u.click(within(dialog).getByRole("button", { name: "Change role" }));
    await waitFor(() => expect(patches).toEqual([{ id: OPERATOR_ID, body: { role: "admin" } }]));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument());
  });

  it("disables a user: the consequence (signed out everywhere) is stated, and the step-up code asked up front", async () => {
    const calls: string[] = [];
    const step = stepUp(calls);
    server.use(
      meHandler(ADMIN),
      users(),
      step.handler,
      http.patch("*/api/users/:id", async ({ request }) => {
        calls.push(`patch ${JSON.stringify(await request.json())}`);
        return HttpResponse.json(ok({ user: { ...OPERATOR, disabled: true } }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<UsersSection />);
    const disable = await screen.findByRole("button", { name: "Disable olu@desk.example" });
    await waitFor(() => expect(disable).toBeEnabled());
    await u.click(disable);
    const dialog = screen.getByRole("alertdialog", { name: "Disable user" });
    expect(dialog).toHaveTextContent("signed out of every session at once");
    expect(dialog).toHaveTextContent("This needs your own step-up");
    const confirm = within(dialog).getByRole("button", { name: "Disable" });
    expect(confirm).toBeDisabled();
    await u.type(within(dialog).getByLabelText("Authenticator code"), "654321");
    await u.click(confirm);
    await waitFor(() => expect(calls).toEqual(['step-up {"code":"654321"}', 'patch {"disabled":true}']));
  });

  it("a role change the server refuses with TWO_FACTOR_REQUIRED brings up the code field", async () => {
    const calls: string[] = [];
    const step = stepUp(calls);
    server.use(
      meHandler(ADMIN, new Date(Date.now() + 60_000).toISOString()),
      users(),
      step.handler,
      http.patch("*/api/users/:id", async ({ request }) => {
        calls.push(`patch ${JSON.stringify(await request.json())}`);
        if (!step.done()) return stepUpRequired();
        return HttpResponse.json(ok({ user: { ...OPERATOR, role: "viewer" } }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<UsersSection />);
    const select = await screen.findByRole("combobox", { name: "Role of olu@desk.example" });
    await waitFor(() => expect(select).toBeEnabled());
    await u.selectOptions(select, "viewer");
    const dialog = screen.getByRole("alertdialog", { name: "Change role" });
    expect(within(dialog).queryByLabelText("Authenticator code")).not.toBeInTheDocument();
    await u.click(within(dialog).getByRole("button", { name: "Change role" }));
    expect(await within(dialog).findByText(/TWO_FACTOR_REQUIRED/)).toBeInTheDocument();
    await u.type(within(dialog).getByLabelText("Authenticator code"), "123456");
    await u.click(within(dialog).getByRole("button", { name: "Change role" }));
    await waitFor(() => expect(calls).toEqual(['patch {"role":"viewer"}', 'step-up {"code":"123456"}', 'patch {"role":"viewer"}']));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument());
  });

  it("creates a user after a step-up when none is active", async () => {
    const calls: string[] = [];
    const step = stepUp(calls);
    server.use(
      meHandler(ADMIN),
      users(),
      step.handler,
      http.post("*/api/users", async ({ request }) => {
        calls.push(`create ${JSON.stringify(await request.json())}`);
        return HttpResponse.json(ok({ user: user({ id: "44444444-4444-4444-8444-444444444444", email: "new@desk.example", role: "viewer" }) }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<UsersSection />);
    const button = await screen.findByRole("button", { name: "New user" });
    await waitFor(() => expect(button).toBeEnabled());
    await u.click(button);
    const dialog = screen.getByRole("dialog", { name: "New user" });
    await u.type(within(dialog).getByLabelText("Email"), "new@desk.example");
    await u.type(within(dialog).getByLabelText("Initial password"), "long-enough-password");
    const create = within(dialog).getByRole("button", { name: "Create user" });
    expect(create).toBeDisabled();
    await u.type(within(dialog).getByLabelText("Authenticator code"), "654321");
    await u.click(create);
    await waitFor(() => expect(calls).toEqual(['step-up {"code":"654321"}', 'create {"email":"new@desk.example","password":"long-enough-password","role":"viewer"}']));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
  });

  it("resets another user's 2FA with a step-up code first when no step-up is active", async () => {
    const calls: string[] = [];
    const step = stepUp(calls);
    server.use(
      meHandler(ADMIN),
      users(),
      step.handler,
      http.patch("*/api/users/:id", async ({ request }) => {
        calls.push(`patch ${JSON.stringify(await request.json())}`);
        if (!step.done()) return stepUpRequired();
        return HttpResponse.json(ok({ user: { ...OPERATOR, two_factor_enabled: false } }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<UsersSection />);
    await u.click(await screen.findByRole("button", { name: "Reset two-factor of olu@desk.example" }));
    const dialog = screen.getByRole("alertdialog", { name: "Reset two-factor" });
    expect(dialog).toHaveTextContent("loses their authenticator and backup codes and is signed out everywhere");
    expect(dialog).toHaveTextContent("This needs your own step-up");
    const confirm = within(dialog).getByRole("button", { name: "Reset 2FA" });
    expect(confirm).toBeDisabled();
    await u.type(within(dialog).getByLabelText("Authenticator code"), "654321");
    await u.click(confirm);
    await waitFor(() => expect(calls).toEqual(['step-up {"code":"654321"}', 'patch {"reset_two_factor":true}']));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument());
  });

  it("asks for a code when the server wants a new step-up although one looked active", async () => {
    const calls: string[] = [];
    const step = stepUp(calls);
    server.use(
      meHandler(ADMIN, new Date(Date.now() + 60_000).toISOString()),
      users(),
      step.handler,
      http.patch("*/api/users/:id", async ({ request }) => {
        calls.push(`patch ${JSON.stringify(await request.json())}`);
        if (!step.done()) return stepUpRequired();
        return HttpResponse.json(ok({ user: { ...OPERATOR, two_factor_enabled: false } }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<UsersSection />);
    await u.click(await screen.findByRole("button", { name: "Reset two-factor of olu@desk.example" }));
    const dialog = screen.getByRole("alertdialog", { name: "Reset two-factor" });
    await waitFor(() => expect(within(dialog).queryByLabelText("Authenticator code")).not.toBeInTheDocument());
    await u.click(within(dialog).getByRole("button", { name: "Reset 2FA" }));
    expect(await within(dialog).findByText(/TWO_FACTOR_REQUIRED/)).toBeInTheDocument();
    await u.type(within(dialog).getByLabelText("Authenticator code"), "ABCD-EFGH-JKMN-PQRS");
    await u.click(within(dialog).getByRole("button", { name: "Reset 2FA" }));
    await waitFor(() =>
      expect(calls).toEqual(['patch {"reset_two_factor":true}', 'step-up {"backup_code":"ABCD-EFGH-JKMN-PQRS"}', 'patch {"reset_two_factor":true}']),
    );
    await waitFor(() => expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument());
  });

  it("disables every user change with the reason when the admin has no 2FA to step up with", async () => {
    server.use(meHandler(user()), users([user(), OPERATOR]));
    renderWithApp(<UsersSection />);
    const reset = await screen.findByRole("button", { name: "Reset two-factor of olu@desk.example" });
    await waitFor(() => expect(reset).toBeDisabled());
    expect(reset.title).toContain("set up two-factor for your account first");
    expect(screen.getByRole("button", { name: "Disable olu@desk.example" }).title).toContain("set up two-factor for your account first");
    expect(screen.getByRole("combobox", { name: "Role of olu@desk.example" })).toBeDisabled();
    expect(screen.getByRole("button", { name: "New user" }).title).toContain("set up two-factor for your account first");
  });

  it("creates a user and shows the server's refusal", async () => {
    const posted: unknown[] = [];
    server.use(
      meHandler(ADMIN, new Date(Date.now() + 600_000).toISOString()),
      users(),
      http.post("*/api/users", async ({ request }) => {
        posted.push(await request.json());
        return errorResponse(422, "VALIDATION_FAILED", "email is already used by another user");
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<UsersSection />);
    const button = await screen.findByRole("button", { name: "New user" });
    await waitFor(() => expect(button).toBeEnabled());
    await u.click(button);
    const dialog = screen.getByRole("dialog", { name: "New user" });
    await u.type(within(dialog).getByLabelText("Email"), "olu@desk.example");
    await u.type(within(dialog).getByLabelText("Initial password"), "short");
    expect(dialog).toHaveTextContent("At least 12 characters (5 so far)");
    expect(within(dialog).getByRole("button", { name: "Create user" })).toBeDisabled();
    await u.type(within(dialog).getByLabelText("Initial password"), "-but-long-now");
    await u.selectOptions(within(dialog).getByLabelText("Role"), "operator");
    await u.click(within(dialog).getByRole("button", { name: "Create user" }));
    expect(await within(dialog).findByText(/VALIDATION_FAILED: email is already used/)).toBeInTheDocument();
    expect(dialog).toHaveTextContent(TRACE);
    expect(posted).toEqual([{ email: "olu@desk.example", password: "short-but-long-now", role: "operator" }]);
  });

  it("pages with the cursor", async () => {
    const cursors: (string | null)[] = [];
    server.use(
      meHandler(ADMIN),
      http.get("*/api/users", ({ request }) => {
        const cursor = new URL(request.url).searchParams.get("cursor");
        cursors.push(cursor);
        return HttpResponse.json(ok(cursor ? { items: [VIEWER], next_cursor: null } : { items: [ADMIN, OPERATOR], next_cursor: "c2" }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<UsersSection />);
    await u.click(await screen.findByRole("button", { name: "Load more users" }));
    await waitFor(() => expect(screen.getAllByTestId("user-row")).toHaveLength(3));
    expect(cursors).toEqual([null, "c2"]);
    expect(screen.queryByRole("button", { name: "Load more users" })).not.toBeInTheDocument();
  });

  it("says why the list is empty", async () => {
    server.use(meHandler(ADMIN), users([]));
    renderWithApp(<UsersSection />);
    expect(await screen.findByText("No users returned")).toBeInTheDocument();
  });

  it("degraded: the error's code, message, fix and trace id", async () => {
    server.use(meHandler(ADMIN), http.get("*/api/users", () => errorResponse(503, "DATABASE_UNAVAILABLE", "The database is unreachable.", "Check Postgres.")));
    renderWithApp(<UsersSection />);
    expect(await screen.findByText("DATABASE_UNAVAILABLE: The database is unreachable.")).toBeInTheDocument();
    expect(screen.getByText("Fix: Check Postgres.")).toBeInTheDocument();
    expect(screen.getAllByText(new RegExp(TRACE.slice(0, 8))).length).toBeGreaterThan(0);
    await waitFor(() => expect(screen.getByRole("button", { name: "New user" })).toBeDisabled());
  });

  it("forbidden by the server: an explanation, not an error", async () => {
    server.use(meHandler(ADMIN), http.get("*/api/users", () => errorResponse(403, "FORBIDDEN", "Needs the admin role.")));
    renderWithApp(<UsersSection />);
    expect(await screen.findByText("Only admins can see users and roles.")).toBeInTheDocument();
    expect(screen.getByText(/The server refused with FORBIDDEN/)).toBeInTheDocument();
    expect(screen.queryByRole("table")).not.toBeInTheDocument();
  });

  it("forbidden for a non-admin: the page explains and never asks the server", async () => {
    // No /api/users handler: a request would fail the test.
    server.use(meHandler(user({ id: OPERATOR_ID, role: "operator" })));
    renderWithApp(<SettingsPage />, { path: "/settings?section=users" });
    expect(await screen.findByText("Only admins can see users and roles.")).toBeInTheDocument();
    expect(screen.getByText(/signed in with the/)).toHaveTextContent("signed in with the operator role");
    expect(ADMIN_ID).toBeTruthy();
  });
});
