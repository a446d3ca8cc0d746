import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { JobsPage } from ".";

const QUEUED = "019ae3c1-0000-7000-8000-0000000000a1";
const DONE = "019ae3c1-0000-7000-8000-0000000000a2";

function job(id: string, status: string, over: Record<string, unknown> = {}) {
  return {
    id,
    kind: "backtest",
    status,
    created_at: new Date(Date.now() - 60_000).toISOString(),
    started_at: null,
    finished_at: null,
    heartbeat_at: null,
    timeout_seconds: 600,
    bot_id: null,
    payload: {},
    result: null,
    error: null,
    error_code: null,
    progress_pct: 0,
    attempts: 0,
    claimed_by: null,
    ...over,
  };
}

function me(role: "viewer" | "operator") {
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

describe("JobsPage", () => {
  it("lists jobs with state and progress; cancels a queued one after saying what happens", async () => {
    let cancelled = false;
    server.use(
      me("operator"),
      http.get("*/api/jobs", () =>
        HttpResponse.json(
          ok({
            items: [
              cancelled ? job(QUEUED, "CANCELLED", { error_code: "CANCELLED_BY_OPERATOR" }) : job(QUEUED, "QUEUED"),
              job(DONE, "SUCCEEDED", { progress_pct: 100, finished_at: new Date().toISOString() }),
            ],
            next_cursor: null,
          }),
        ),
      ),
      http.post(`*/api/jobs/${QUEUED}/cancel`, () => {
        cancelled = true;
        return HttpResponse.json(ok({ job: job(QUEUED, "CANCELLED"), events: [] }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<JobsPage />, { path: "/jobs" });
    const row = await screen.findByTestId(`job-${QUEUED}`);
    expect(row).toHaveTextContent("QUEUED");
    expect(within(screen.getByTestId(`job-${DONE}`)).getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100");
    expect(within(screen.getByTestId(`job-${DONE}`)).getByRole("button", { name: `Cancel job ${DONE}` })).toHaveAttribute(
      "title",
      "The job is SUCCEEDED: only QUEUED or RUNNING jobs can be cancelled",
    );
    const cancel = within(row).getByRole("button", { name: `Cancel job ${QUEUED}` });
    await waitFor(() => expect(cancel).toBeEnabled());
    await u.click(cancel);
    const dialog = screen.getByRole("alertdialog", { name: "Cancel backtest job" });
    expect(dialog).toHaveTextContent("No worker will pick it up");
    expect(cancelled).toBe(false);
    await u.click(within(dialog).getByRole("button", { name: "Cancel job" }));
    await waitFor(() => expect(screen.getByTestId(`job-${QUEUED}`)).toHaveTextContent("CANCELLED_BY_OPERATOR"));
    expect(cancelled).toBe(true);
  });

  it("disables Cancel for a viewer and says why", async () => {
    server.use(me("viewer"), http.get("*/api/jobs", () => HttpResponse.json(ok({ items: [job(QUEUED, "RUNNING", { progress_pct: 40 })], next_cursor: null }))));
    renderWithApp(<JobsPage />, { path: "/jobs" });
    const row = await screen.findByTestId(`job-${QUEUED}`);
    await waitFor(() => expect(within(row).getByRole("button", { name: `Cancel job ${QUEUED}` })).toHaveAttribute("title", "Cancel needs the operator role; you are signed in as viewer"));
    expect(within(row).getByRole("button", { name: `Cancel job ${QUEUED}` })).toBeDisabled();
    expect(document.title).toBe("Jobs · tradeplane");
  });
});
