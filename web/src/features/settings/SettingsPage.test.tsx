import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { SettingsPage, sectionOf } from "./index";
import { meHandler, session, user } from "./testData";

describe("SettingsPage", () => {
  it("opens the section named in ?section= and moves between sections by link", async () => {
    server.use(meHandler(), http.get("*/api/auth/sessions", () => HttpResponse.json(ok({ items: [session()], next_cursor: null }))));
    const u = userEvent.setup();
    const { router } = renderWithApp(<SettingsPage />, { path: "/settings?section=sessions" });
    expect(await screen.findByRole("heading", { name: "Sessions" })).toBeInTheDocument();
    expect(screen.getByRole("link", { name: /Sessions/ })).toHaveAttribute("aria-current", "page");
    await u.click(screen.getByRole("link", { name: /Two-factor/ }));
    await waitFor(() => expect(router.state.location.search).toEqual({ section: "two-factor" }));
    expect(await screen.findByRole("heading", { name: "Two-factor authentication" })).toBeInTheDocument();
  });

  it("marks admin sections as admins-only for other roles", async () => {
    server.use(meHandler(user({ role: "viewer" })));
    renderWithApp(<SettingsPage />, { path: "/settings" });
    expect(await screen.findByRole("heading", { name: "Two-factor authentication" })).toBeInTheDocument();
    expect(screen.getAllByLabelText("admins only")).toHaveLength(3);
  });

  it("falls back to two-factor for an unknown section", () => {
    expect(sectionOf("nope")).toBe("two-factor");
    expect(sectionOf(undefined)).toBe("two-factor");
    expect(sectionOf("audit")).toBe("audit");
  });
});
