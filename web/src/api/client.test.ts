import { afterEach, describe, expect, it, vi } from "vitest";
import { delay, http, HttpResponse } from "msw";
import { server } from "../test/server";
import { api, REQUEST_TIMEOUT_MS, requestSignal, unwrap } from "./client";
import { ApiError, NETWORK_UNREACHABLE } from "./errors";

afterEach(() => vi.restoreAllMocks());

describe("the API client's request timeout", () => {
  it("fails a read that gets no answer once the timeout passes, instead of hanging with the last answer current", async () => {
    server.use(
      http.get("*/api/system/status", async () => {
        await delay("infinite");
        return HttpResponse.json({});
      }),
    );
    // Stand in for the 10 s timer: the test fires it at once.
    const timer = new AbortController();
    const timeout = vi.spyOn(AbortSignal, "timeout").mockReturnValue(timer.signal);
    const call = unwrap(api.GET("/api/system/status"));
    await vi.waitFor(() => expect(timeout).toHaveBeenCalledWith(REQUEST_TIMEOUT_MS));
    timer.abort(new DOMException("The operation timed out.", "TimeoutError"));
    const error = await call.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 0, code: NETWORK_UNREACHABLE, endpoint: "/api/system/status" });
    expect((error as ApiError).message).toBe("The server did not answer /api/system/status within 10 s");
  });

  it("keeps the caller's own signal on reads and puts no timeout on writes", () => {
    const caller = new AbortController();
    const signal = requestSignal("GET", caller.signal);
    expect(signal?.aborted).toBe(false);
    caller.abort();
    expect(signal?.aborted).toBe(true);
    expect(requestSignal("get", null)).toBeInstanceOf(AbortSignal);
    expect(requestSignal("POST", caller.signal)).toBeNull();
  });
});
