import { describe, expect, it } from "vitest";
import { screen } from "@testing-library/react";
import { http, HttpResponse } from "msw";
import { server } from "../test/server";
import { ok, renderWithApp } from "../test/render";
import { BotName } from "./BotName";

const A = "019ae3c1-0000-7000-8000-000000000001";
const B = "019ae3c1-0000-7000-8000-000000000002";

describe("BotName", () => {
  it("names bots created together apart (same id prefix), with the id on hover", async () => {
    server.use(
      http.get("*/api/bots", () =>
        HttpResponse.json(ok({ items: [{ id: A, name: "es-trend" }, { id: B, name: "nq-revert" }], next_cursor: null })),
      ),
    );
    renderWithApp(
      <p>
        <BotName id={A} /> <BotName id={B} />
      </p>,
      { path: "/" },
    );
    expect(await screen.findByRole("link", { name: "es-trend" })).toHaveAttribute("title", `Bot id ${A}`);
    expect(screen.getByRole("link", { name: "nq-revert" })).toHaveAttribute("href", `/bots/${B}`);
  });
});
