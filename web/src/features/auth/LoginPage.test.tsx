import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { safeNext } from "../../queries/login";
import { LoginPage } from "./LoginPage";

const user = {
  id: "7d1c3a52-3f1e-4a57-9d59-8f1f6f2b8a10",
  email: "ops@example.com",
  role: "operator",
  disabled: false,
  two_factor_enabled: true,
  backup_codes_remaining: 8,
  created_at: "2026-11-01T10:00:00Z",
};

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

function twoFactorLogin(seen: unknown[] = []) {
  return http.post("*/api/auth/login", async ({ request }) => {
    seen.push(await request.json());
    return HttpResponse.json(ok({ requires_2fa: true, temp_token: "tmp-123", temp_token_expires_at: "2026-11-26T13:10:00Z" }));
  });
}

async function passPasswordStep(u: ReturnType<typeof userEvent.setup>) {
  await u.type(await screen.findByLabelText("Email"), "ops@example.com");
  await u.type(screen.getByLabelText("Password"), "correct horse battery");
  await u.click(screen.getByRole("button", { name: "Sign in" }));
  return screen.findByLabelText("Authenticator code");
}

describe("LoginPage", () => {
  it("goes password → TOTP → success and returns to `next`", async () => {
    const logins: unknown[] = [];
    const verifies: unknown[] = [];
    server.use(
      twoFactorLogin(logins),
      http.post("*/api/auth/2fa/verify", async ({ request }) => {
        verifies.push(await request.json());
        return HttpResponse.json(ok({ user, csrf_token: "csrf" }));
      }),
    );
    const u = userEvent.setup();
    const { router } = renderWithApp(<LoginPage />, { path: "/login?next=%2Fbots%3Fstage%3DLIVE" });
    const code = await passPasswordStep(u);
    expect(logins).toEqual([{ email: "ops@example.com", password: "correct horse battery" }]);
    expect(code).toHaveAttribute("autocomplete", "one-time-code");
    expect(code).toHaveAttribute("inputmode", "numeric");
    expect(screen.getByRole("heading", { name: "Two-factor authentication" })).toBeInTheDocument();
    // Only digits, at most six.
    await u.type(code, "12a34567");
    expect(code).toHaveValue("123456");
    await u.click(screen.getByRole("button", { name: "Verify code" }));
    await waitFor(() => expect(router.state.location.pathname).toBe("/bots"));
    expect(router.state.location.searchStr).toBe("?stage=LIVE");
    expect(verifies).toEqual([{ temp_token: "tmp-123", code: "123456" }]);
  });

  it("signs in without 2FA and goes to / when `next` is an absolute URL", async () => {
    server.use(http.post("*/api/auth/login", () => HttpResponse.json(ok({ requires_2fa: false, user, csrf_token: "csrf" }))));
    const u = userEvent.setup();
    const { router } = renderWithApp(<LoginPage />, { path: "/login?next=https%3A%2F%2Fevil.example%2Fphish" });
    await u.type(await screen.findByLabelText("Email"), "ops@example.com");
    await u.type(screen.getByLabelText("Password"), "correct horse battery");
    await u.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(router.state.location.pathname).toBe("/"));
    expect(router.state.location.href).toBe("/");
  });

  it("says plainly when the password is wrong, with code and trace id", async () => {
    server.use(
      http.post("*/api/auth/login", () =>
        HttpResponse.json(apiError("UNAUTHENTICATED", "Email or password is wrong.", TRACE, "Check both and try again; repeated failures add a growing wait."), { status: 401 }),
      ),
    );
    const u = userEvent.setup();
    renderWithApp(<LoginPage />, { path: "/login" });
    await u.type(await screen.findByLabelText("Email"), "ops@example.com");
    await u.type(screen.getByLabelText("Password"), "wrong password!");
    await u.click(screen.getByRole("button", { name: "Sign in" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Email or password is wrong.");
    expect(alert).toHaveTextContent("repeated failures add a growing wait");
    expect(alert).toHaveTextContent("UNAUTHENTICATED");
    expect(alert.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", TRACE);
    // Still on the password step, email kept.
    expect(screen.getByLabelText("Email")).toHaveValue("ops@example.com");
  });

  it("names a wrong code with the attempts left and stays on the code step", async () => {
    server.use(
      twoFactorLogin(),
      http.post("*/api/auth/2fa/verify", () =>
        HttpResponse.json(
          { success: false, trace_id: TRACE, error: { code: "TWO_FACTOR_INVALID", message: "The two-factor code is wrong, expired or already used.", suggested_fix: "Enter the current code from your authenticator app; check the device clock.", details: { attempts_left: 4, sign_in_again: false } } },
          { status: 401 },
        ),
      ),
    );
    const u = userEvent.setup();
    renderWithApp(<LoginPage />, { path: "/login" });
    const code = await passPasswordStep(u);
    await u.type(code, "000000");
    await u.click(screen.getByRole("button", { name: "Verify code" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("That code is wrong or was already used.");
    expect(alert).toHaveTextContent("4 attempts left before you must enter your password again.");
    expect(alert).toHaveTextContent("check the device clock");
    expect(alert).toHaveTextContent("TWO_FACTOR_INVALID");
    expect(screen.getByLabelText("Authenticator code")).toBeInTheDocument();
  });

  it("shows the throttle wait, disables submit and counts down until it may be retried", async () => {
    let calls = 0;
    server.use(
      http.post("*/api/auth/login", () => {
        calls += 1;
        return HttpResponse.json(
          { success: false, trace_id: TRACE, error: { code: "RATE_LIMITED", message: "Too many attempts.", suggested_fix: "Wait.", details: { retry_after_secs: 2 } } },
          { status: 429, headers: { "retry-after": "2" } },
        );
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<LoginPage />, { path: "/login" });
    await u.type(await screen.findByLabelText("Email"), "ops@example.com");
    await u.type(screen.getByLabelText("Password"), "correct horse battery");
    await u.click(screen.getByRole("button", { name: "Sign in" }));
    const notice = await screen.findByTestId("throttled");
    expect(notice).toHaveTextContent(/Too many attempts\. Try again in [12] s\./);
    expect(notice).toHaveTextContent("RATE_LIMITED");
    const submit = screen.getByRole("button", { name: "Sign in" });
    expect(submit).toBeDisabled();
    expect(submit.title).toMatch(/Throttled: try again in [12] s/);
    // Enter does not send either while throttled.
    await u.type(screen.getByLabelText("Password"), "{Enter}");
    expect(calls).toBe(1);
    await waitFor(() => expect(screen.getByTestId("throttled")).toHaveTextContent("You can try again now."), { timeout: 4000 });
    expect(screen.getByRole("button", { name: "Sign in" })).toBeEnabled();
  });

  it("accepts a backup code instead of the authenticator code", async () => {
    const verifies: unknown[] = [];
    server.use(
      twoFactorLogin(),
      http.post("*/api/auth/2fa/verify", async ({ request }) => {
        verifies.push(await request.json());
        return HttpResponse.json(ok({ user, csrf_token: "csrf" }));
      }),
    );
    const u = userEvent.setup();
    const { router } = renderWithApp(<LoginPage />, { path: "/login?next=%2Fconnections" });
    await passPasswordStep(u);
    await u.click(screen.getByRole("button", { name: "Use a backup code" }));
    expect(screen.queryByLabelText("Authenticator code")).not.toBeInTheDocument();
    await u.type(screen.getByLabelText("Backup code"), " ABCD-EFGH-JKMN-PQRS ");
    await u.click(screen.getByRole("button", { name: "Verify code" }));
    await waitFor(() => expect(router.state.location.pathname).toBe("/connections"));
    expect(verifies).toEqual([{ temp_token: "tmp-123", backup_code: "ABCD-EFGH-JKMN-PQRS" }]);
  });

  it("returns to the password step when the sign-in attempt expired", async () => {
    let logins = 0;
    server.use(
      http.post("*/api/auth/login", () => {
        logins += 1;
        return HttpResponse.json(ok({ requires_2fa: true, temp_token: `tmp-${logins}` }));
      }),
      http.post("*/api/auth/2fa/verify", () =>
        HttpResponse.json(apiError("TWO_FACTOR_INVALID", "This sign-in attempt expired, was used, or was revoked.", TRACE, "Sign in again with your email and password."), { status: 401 }),
      ),
    );
    const u = userEvent.setup();
    renderWithApp(<LoginPage />, { path: "/login" });
    const code = await passPasswordStep(u);
    await u.type(code, "123456");
    await u.click(screen.getByRole("button", { name: "Verify code" }));
    expect(await screen.findByText(/This sign-in attempt expired/)).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    expect(screen.getByLabelText("Email")).toHaveValue("ops@example.com");
    expect(screen.getByLabelText("Password")).toHaveValue("");
    expect(screen.queryByLabelText("Authenticator code")).not.toBeInTheDocument();
    // A new password step gets a new temp token.
    await u.type(screen.getByLabelText("Password"), "correct horse battery");
    await u.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByLabelText("Authenticator code")).toBeInTheDocument();
    expect(logins).toBe(2);
  });

  it("says the session expired when sent here by a 401", () => {
    renderWithApp(<LoginPage />, { path: "/login?next=%2Fevents&expired=1" });
    return screen.findByText("Your session expired — sign in again.").then((el) => {
      expect(el).toBeInTheDocument();
      expect(screen.getByText("/events")).toBeInTheDocument();
    });
  });
});

describe("safeNext", () => {
  const origin = "https://tp.example";
  it.each([
    ["/bots?x=1#a", "/bots?x=1#a"],
    ["/", "/"],
    [undefined, "/"],
    ["", "/"],
    ["https://evil.example/", "/"],
    ["//evil.example/x", "/"],
    ["/\\evil.example", "/"],
    ["/\tevil", "/"],
    ["javascript:alert(1)", "/"],
    ["bots", "/"],
    ["/login?next=/x", "/"],
  ])("%s → %s", (next, expected) => {
    expect(safeNext(next, origin)).toBe(expected);
  });
});
