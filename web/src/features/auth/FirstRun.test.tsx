import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { firstAdminProblems } from "./FirstRunStep";
import { LoginPage } from "./LoginPage";

const admin = {
  id: "7d1c3a52-3f1e-4a57-9d59-8f1f6f2b8a10",
  email: "first@example.com",
  role: "admin",
  disabled: false,
  two_factor_enabled: false,
  backup_codes_remaining: 0,
  created_at: "2026-11-01T10:00:00Z",
};

describe("first run", () => {
  it("creates the first admin, signs in and leads on to Connections", async () => {
    const registered: unknown[] = [];
    const logins: unknown[] = [];
    server.use(
      http.get("*/api/auth/first-run", () => HttpResponse.json(ok({ needs_first_admin: true }))),
      http.post("*/api/auth/register", async ({ request }) => {
        registered.push(await request.json());
        return HttpResponse.json(ok({ user: admin }), { status: 201 });
      }),
      http.post("*/api/auth/login", async ({ request }) => {
        logins.push(await request.json());
        return HttpResponse.json(ok({ requires_2fa: false, user: admin, csrf_token: "csrf" }));
      }),
    );
    const u = userEvent.setup();
    const { router } = renderWithApp(<LoginPage />, { path: "/login" });
    expect(await screen.findByRole("heading", { name: "Welcome: create the first admin" })).toBeInTheDocument();
    expect(screen.queryByText(/an admin created for you/)).not.toBeInTheDocument();
    await u.type(screen.getByLabelText("Email"), "first@example.com");
    await u.type(screen.getByLabelText("Password"), "a-long-first-password");
    await u.type(screen.getByLabelText("Repeat the password"), "a-long-first-password");
    await u.click(screen.getByRole("button", { name: "Create the first admin" }));
    await waitFor(() => expect(router.state.location.pathname).toBe("/connections"), { timeout: 5_000 });
    expect(router.state.location.searchStr).toBe("?first_run=1");
    expect(registered).toEqual([{ email: "first@example.com", password: "a-long-first-password" }]);
    expect(logins).toEqual([{ email: "first@example.com", password: "a-long-first-password" }]);
  });

  it("names each field's problem before sending, and shows the server's refusal", async () => {
    let calls = 0;
    server.use(
      http.get("*/api/auth/first-run", () => HttpResponse.json(ok({ needs_first_admin: true }))),
      http.post("*/api/auth/register", () => {
        calls += 1;
        return HttpResponse.json(apiError("FORBIDDEN", "Registration is closed: the first admin exists.", "ab".repeat(16), "Ask an admin to create your account."), { status: 403 });
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<LoginPage />, { path: "/login" });
    await screen.findByRole("heading", { name: "Welcome: create the first admin" });
    await u.type(screen.getByLabelText("Email"), "first@example.com");
    await u.type(screen.getByLabelText("Password"), "short");
    await u.type(screen.getByLabelText("Repeat the password"), "other");
    await u.click(screen.getByRole("button", { name: "Create the first admin" }));
    expect(screen.getByText("At least 12 characters.")).toBeInTheDocument();
    expect(screen.getByText("The two passwords differ.")).toBeInTheDocument();
    expect(calls).toBe(0);
    await u.clear(screen.getByLabelText("Password"));
    await u.type(screen.getByLabelText("Password"), "a-long-first-password");
    await u.clear(screen.getByLabelText("Repeat the password"));
    await u.type(screen.getByLabelText("Repeat the password"), "a-long-first-password");
    await u.click(screen.getByRole("button", { name: "Create the first admin" }));
    expect(await screen.findByText(/Registration is closed/)).toBeInTheDocument();
    expect(calls).toBe(1);
  });

  it("signs in (without telling a first user to ask an admin) once an admin exists", async () => {
    renderWithApp(<LoginPage />, { path: "/login" });
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    expect(screen.getByText(/Sign in with your tradeplane account/)).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Create the first admin" })).not.toBeInTheDocument();
  });

  it("checks the form's fields", () => {
    expect(firstAdminProblems({ email: "a@b.co", password: "x".repeat(12), confirm: "x".repeat(12) })).toEqual({});
    expect(firstAdminProblems({ email: "nope", password: "x".repeat(11), confirm: "y" })).toEqual({
      email: "Enter an email address.",
      password: "At least 12 characters.",
      confirm: "The two passwords differ.",
    });
  });
});
