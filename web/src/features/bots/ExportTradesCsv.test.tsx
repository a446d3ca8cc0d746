import { afterEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { ExportTradesCsv } from "./ExportTradesCsv";
import { BOT_ID, trade } from "./fixtures.test-util";

vi.setConfig({ testTimeout: 20_000 });

function blobText(blob: Blob): Promise<string> {
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.readAsText(blob);
  });
}

// jsdom has no Blob URLs: the test supplies them and puts back what was there.
const original = { create: URL.createObjectURL, revoke: URL.revokeObjectURL };
afterEach(() => {
  URL.createObjectURL = original.create;
  URL.revokeObjectURL = original.revoke;
});

describe("ExportTradesCsv", () => {
  it("pages through every trade (cursor by cursor) and downloads them all as one CSV", async () => {
    const cursors: (string | null)[] = [];
    server.use(
      http.get(`*/api/bots/${BOT_ID}/trades`, ({ request }) => {
        const url = new URL(request.url);
        const cursor = url.searchParams.get("cursor");
        cursors.push(cursor);
        expect(url.searchParams.get("limit")).toBe("500");
        return HttpResponse.json(
          cursor === null
            ? ok({ items: [trade({ id: "t3" }), trade({ id: "t2" })], next_cursor: "c1" })
            : ok({ items: [trade({ id: "t1", run_id: 'say "x"' })], next_cursor: null }),
        );
      }),
    );
    const blobs: Blob[] = [];
    const createObjectURL = vi.fn((b: Blob) => {
      blobs.push(b);
      return "blob:trades";
    });
    URL.createObjectURL = createObjectURL;
    URL.revokeObjectURL = vi.fn();
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => {});
    const user = userEvent.setup({ delay: null });
    renderWithApp(<ExportTradesCsv botId={BOT_ID} botName="es sma" />);
    await user.click(await screen.findByRole("button", { name: "Export CSV" }));
    await waitFor(() => expect(screen.getByRole("status")).toHaveTextContent(/^3 trades exported to es_sma-trades-.*\.csv$/));
    expect(cursors).toEqual([null, "c1"]);
    expect(click).toHaveBeenCalledTimes(1);
    expect(blobs).toHaveLength(1);
    const lines = (await blobText(blobs[0]!)).split("\r\n");
    expect(lines.map((l) => l.split(",")[0])).toEqual(["id", "t3", "t2", "t1", ""]);
    expect(lines[3]!.endsWith(',"say ""x"""')).toBe(true);
    click.mockRestore();
  });

  it("shows the API's error and downloads nothing when a page fails", async () => {
    server.use(http.get(`*/api/bots/${BOT_ID}/trades`, () => HttpResponse.json(apiError("INTERNAL", "boom"), { status: 500 })));
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => {});
    const user = userEvent.setup({ delay: null });
    renderWithApp(<ExportTradesCsv botId={BOT_ID} botName="es" />);
    await user.click(await screen.findByRole("button", { name: "Export CSV" }));
    expect(await screen.findByTestId("action-error")).toHaveTextContent("INTERNAL");
    expect(click).not.toHaveBeenCalled();
    click.mockRestore();
  });
});
