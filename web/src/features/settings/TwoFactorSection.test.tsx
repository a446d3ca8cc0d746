import { describe, expect, it } from "vitest";
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { otpParams, TwoFactorSection } from "./TwoFactorSection";
import { errorResponse, meBody, TRACE, user } from "./testData";

const SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const QR = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
const CODES = Array.from({ length: 10 }, (_, i) => `AB${i}C-DEFG-HJKM-NPQ${i}`);

function cacheText(client: ReturnType<typeof renderWithApp>["client"]) {
  const queries = client.getQueryCache().getAll().map((q) => q.state.data);
  const mutations = client.getMutationCache().getAll().map((m) => m.state.data);
  return JSON.stringify([queries, mutations]);
}

describe("otpParams", () => {
  it("reads algorithm, digits and period from the setup link, with the RFC defaults", () => {
    expect(otpParams("otpauth://totp/tp:a?secret=X&algorithm=SHA256&digits=8&period=60")).toBe("TOTP, SHA256, 8 digits, 60-second period");
    expect(otpParams("otpauth://totp/tp:a?secret=X")).toBe("TOTP, SHA1, 6 digits, 30-second period");
  });
});

describe("TwoFactorSection", () => {
  it("enrolls: password, QR + secret shown once, confirm with a code, backup codes behind an acknowledgement", async () => {
    let enabled = false;
    const bodies: unknown[] = [];
    server.use(
      http.get("*/api/auth/me", () =>
        HttpResponse.json(ok(meBody(enabled ? user({ two_factor_enabled: true, two_factor_method: "TOTP", backup_codes_remaining: 10, two_factor_enrolled_at: "2026-11-26T13:00:00Z" }) : user()))),
      ),
      http.get("*/api/auth/sessions", () => HttpResponse.json(ok({ items: [], next_cursor: null }))),
      http.post("*/api/auth/2fa/setup", async ({ request }) => {
        bodies.push(await request.json());
        return HttpResponse.json(ok({ otpauth_url: `otpauth://totp/tradeplane:ada?secret=${SECRET}`, qr_png_base64: QR, secret_base32: SECRET }));
      }),
      http.post("*/api/auth/2fa/confirm", async ({ request }) => {
        bodies.push(await request.json());
        enabled = true;
        return HttpResponse.json(ok({ backup_codes: CODES, backup_codes_remaining: 10, other_sessions: 2, csrf_token: "c" }));
      }),
    );
    const u = userEvent.setup();
    const { client } = renderWithApp(<TwoFactorSection />);
    expect(await screen.findByText("Not enabled")).toBeInTheDocument();

    await u.click(screen.getByRole("button", { name: "Set up two-factor" }));
    const dialog = screen.getByRole("dialog", { name: "Set up two-factor" });
    await u.type(within(dialog).getByLabelText("Current password"), "correct horse battery");
    await u.click(within(dialog).getByRole("button", { name: "Continue" }));

    const secret = await screen.findByLabelText("Secret key");
    // Exactly one element answers to the label, even by substring (Playwright's getByLabel default).
    expect(screen.getAllByLabelText(/secret key/i)).toHaveLength(1);
    expect(secret).toHaveTextContent(SECRET);
    expect(screen.getByRole("img", { name: "QR code for your authenticator app" })).toHaveAttribute("src", `data:image/png;base64,${QR}`);
    expect(bodies[0]).toEqual({ password: "correct horse battery" });
    expect(screen.getByText("TOTP, SHA1, 6 digits, 30-second period")).toBeInTheDocument();
    // The secret lives in component state only: neither the query cache nor the mutation cache holds it.
    expect(cacheText(client)).not.toContain(SECRET);

    await u.type(screen.getByLabelText("Authenticator code"), "123 456");
    await u.click(screen.getByRole("button", { name: "Confirm" }));

    const list = await screen.findByRole("list", { name: "Backup codes" });
    expect(within(list).getAllByRole("listitem").map((li) => li.textContent)).toEqual(CODES);
    expect(screen.getAllByLabelText(/backup codes/i)).toHaveLength(1);
    expect(bodies[1]).toEqual({ code: "123456" });
    expect(screen.queryByLabelText("Secret key")).not.toBeInTheDocument();
    expect(screen.getByText(/2 other signed-in sessions/)).toBeInTheDocument();
    expect(cacheText(client)).not.toContain(CODES[0]);

    const done = screen.getByRole("button", { name: "Done" });
    expect(done).toBeDisabled();
    expect(done).toHaveAttribute("title", expect.stringContaining("I saved them"));
    await u.click(screen.getByRole("checkbox", { name: "I saved them" }));
    expect(done).toBeEnabled();
    await u.click(done);

    expect(screen.queryByRole("list", { name: "Backup codes" })).not.toBeInTheDocument();
    expect(await screen.findByText("Enabled")).toBeInTheDocument();
    expect(screen.getByTestId("backup-codes-remaining")).toHaveTextContent("10 of 10");
  });

  it("keeps the dialog open with the server's code and trace id when the password re-check fails", async () => {
    server.use(
      http.get("*/api/auth/me", () => HttpResponse.json(ok(meBody()))),
      http.post("*/api/auth/2fa/setup", () => errorResponse(403, "FORBIDDEN", "The password re-check failed.", "Enter your current password.")),
    );
    const u = userEvent.setup();
    renderWithApp(<TwoFactorSection />);
    await u.click(await screen.findByRole("button", { name: "Set up two-factor" }));
    const dialog = screen.getByRole("dialog", { name: "Set up two-factor" });
    await u.type(within(dialog).getByLabelText("Current password"), "wrong");
    await u.click(within(dialog).getByRole("button", { name: "Continue" }));
    const alert = await within(dialog).findByRole("alert");
    expect(alert).toHaveTextContent("FORBIDDEN: The password re-check failed.");
    expect(alert).toHaveTextContent("Fix: Enter your current password.");
    expect(alert).toHaveTextContent(TRACE);
    expect(screen.queryByLabelText("Secret key")).not.toBeInTheDocument();
  });

  it("shows a wrong code's error and keeps the secret on screen to retry", async () => {
    server.use(
      http.get("*/api/auth/me", () => HttpResponse.json(ok(meBody()))),
      http.post("*/api/auth/2fa/setup", () => HttpResponse.json(ok({ otpauth_url: "otpauth://totp/x", qr_png_base64: QR, secret_base32: SECRET }))),
      http.post("*/api/auth/2fa/confirm", () => errorResponse(401, "TWO_FACTOR_INVALID", "The code is wrong or was already used.")),
    );
    const u = userEvent.setup();
    renderWithApp(<TwoFactorSection />);
    await u.click(await screen.findByRole("button", { name: "Set up two-factor" }));
    await u.type(screen.getByLabelText("Current password"), "pw");
    await u.click(screen.getByRole("button", { name: "Continue" }));
    await u.type(await screen.findByLabelText("Authenticator code"), "000000");
    await u.click(screen.getByRole("button", { name: "Confirm" }));
    expect(await screen.findByText(/TWO_FACTOR_INVALID: The code is wrong/)).toBeInTheDocument();
    expect(screen.getByLabelText("Secret key")).toHaveTextContent(SECRET);
    expect(screen.getByLabelText("Authenticator code")).toHaveValue("");
  });

  it("asks before leaving while backup codes are unacknowledged", async () => {
    const stepUps: unknown[] = [];
    server.use(
      http.get("*/api/auth/me", () => HttpResponse.json(ok(meBody(user({ two_factor_enabled: true, two_factor_method: "TOTP", backup_codes_remaining: 2 }))))),
      http.get("*/api/auth/sessions", () => HttpResponse.json(ok({ items: [], next_cursor: null }))),
      http.post("*/api/auth/step-up", async ({ request }) => {
        stepUps.push(await request.json());
        return HttpResponse.json(ok({ step_up_valid_until: "2026-12-07T12:10:00Z" }));
      }),
      http.post("*/api/auth/2fa/backup-codes", () => HttpResponse.json(ok({ backup_codes: CODES, backup_codes_remaining: 10, other_sessions: 0 }))),
    );
    const u = userEvent.setup();
    const { router } = renderWithApp(<TwoFactorSection />, { path: "/settings" });
    expect(await screen.findByTestId("backup-codes-remaining")).toHaveTextContent("2 of 10 — regenerate soon");
    await u.click(screen.getByRole("button", { name: "Regenerate backup codes" }));
    const dialog = screen.getByRole("dialog", { name: "Regenerate backup codes" });
    expect(dialog).toHaveTextContent("Your 2 remaining backup codes stop working at once");
    await u.type(within(dialog).getByLabelText("Current password"), "pw");
    // A factor the user holds, not the password alone: the code steps up first.
    expect(within(dialog).getByRole("button", { name: "Replace codes" })).toBeDisabled();
    await u.type(within(dialog).getByLabelText("Authenticator code"), "123456");
    await u.click(within(dialog).getByRole("button", { name: "Replace codes" }));
    expect(await screen.findByRole("list", { name: "Backup codes" })).toBeInTheDocument();
    expect(stepUps).toEqual([{ code: "123456" }]);

    void router.navigate({ to: "/bots" });
    const guard = await screen.findByRole("alertdialog", { name: "Leave without saving backup codes?" });
    await u.click(within(guard).getByRole("button", { name: "Stay" }));
    expect(router.state.location.pathname).toBe("/settings");
    expect(screen.getByRole("list", { name: "Backup codes" })).toBeInTheDocument();
  });

  it("says the state is unknown when the account cannot be read", async () => {
    server.use(http.get("*/api/auth/me", () => errorResponse(503, "DATABASE_UNAVAILABLE", "The database is unreachable.")));
    renderWithApp(<TwoFactorSection />);
    expect(await screen.findByText(/two-factor state is unknown/)).toBeInTheDocument();
    expect(screen.getByText("DATABASE_UNAVAILABLE: The database is unreachable.")).toBeInTheDocument();
    expect(screen.getAllByText(new RegExp(TRACE.slice(0, 8))).length).toBeGreaterThan(0);
    expect(screen.queryByRole("button", { name: "Set up two-factor" })).not.toBeInTheDocument();
  });
});
