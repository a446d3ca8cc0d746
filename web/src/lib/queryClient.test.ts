import { afterEach, describe, expect, it } from "vitest";
import { http, HttpResponse } from "msw";
import { onlineManager } from "@tanstack/react-query";
import { server } from "../test/server";
import { api, unwrap } from "../api/client";
import { ApiError, NETWORK_UNREACHABLE } from "../api/errors";
import { makeQueryClient } from "./queryClient";

afterEach(() => onlineManager.setOnline(true));

describe("makeQueryClient", () => {
  it("sends a query even while the browser says it is offline, so a dead link fails instead of pausing with the last answer current", async () => {
    server.use(http.get("*/api/system/status", () => HttpResponse.error()));
    onlineManager.setOnline(false);
    const client = makeQueryClient();
    const result = client.fetchQuery({ queryKey: ["/api/system/status"], queryFn: () => unwrap(api.GET("/api/system/status")), retry: false });
    const error = await result.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: NETWORK_UNREACHABLE });
    expect(client.getQueryState(["/api/system/status"])).toMatchObject({ status: "error", fetchStatus: "idle" });
  });
});
