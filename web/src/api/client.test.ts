import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { memoryStorage } from "../test-storage";

import {
  ApiError,
  CANNOT_REACH_SERVER,
  cancelScheduledRefresh,
  forgetSession,
  mayBeSignedIn,
  noteSignedIn,
  onSignedOut,
  refreshSession,
  request,
} from "./client";

type Handler = (url: string, init: RequestInit) => Response | Promise<Response>;

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

function apiError(status: number, code: string, message = code): Response {
  return json(status, { error: { code, message, details: null } });
}

const signedIn = () => ({
  user: { id: "usr_1" },
  sessionId: "ses_1",
  accessToken: "token",
  accessTokenExpiresAt: new Date(Date.now() + 15 * 60_000).toISOString(),
});

let calls: { url: string; method: string }[] = [];

function stubFetch(handler: Handler): void {
  calls = [];
  vi.stubGlobal("fetch", (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    calls.push({ url, method: init.method ?? "GET" });
    return Promise.resolve(handler(url, init));
  });
}

const count = (url: string) => calls.filter((call) => call.url === url).length;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
});

afterEach(() => {
  cancelScheduledRefresh();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("silent refresh", () => {
  it("shares one refresh between concurrent expired requests and retries both", async () => {
    let refreshed = false;
    let releaseRefresh: () => void = () => {};
    const refreshGate = new Promise<void>((resolve) => {
      releaseRefresh = resolve;
    });
    stubFetch(async (url) => {
      if (url === "/api/auth/refresh") {
        await refreshGate;
        refreshed = true;
        return json(200, signedIn());
      }
      if (!refreshed) return apiError(401, "access_token_expired");
      return json(200, { url });
    });

    const first = request<{ url: string }>("/api/users/me");
    const second = request<{ url: string }>("/api/rooms/mine");
    // Let both requests meet their 401 and wait on the refresh.
    await vi.waitFor(() => expect(count("/api/auth/refresh")).toBe(1));
    const third = refreshSession();
    releaseRefresh();

    await expect(first).resolves.toEqual({ url: "/api/users/me" });
    await expect(second).resolves.toEqual({ url: "/api/rooms/mine" });
    await expect(third).resolves.toBe(true);
    expect(count("/api/auth/refresh")).toBe(1);
    expect(count("/api/users/me")).toBe(2);
    expect(count("/api/rooms/mine")).toBe(2);
    const refresh = calls.find((call) => call.url === "/api/auth/refresh");
    expect(refresh?.method).toBe("POST");
  });

  it("does not loop when the refresh fails, and reports the session as over", async () => {
    stubFetch((url) =>
      url === "/api/auth/refresh"
        ? apiError(401, "refresh_token_reused")
        : apiError(401, "access_token_expired", "expired"),
    );
    const signedOut = vi.fn();
    const stop = onSignedOut(signedOut);
    try {
      const failure = await request("/api/users/me").catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(ApiError);
      expect((failure as ApiError).status).toBe(401);
      expect((failure as ApiError).code).toBe("access_token_expired");
      expect(count("/api/auth/refresh")).toBe(1);
      expect(count("/api/users/me")).toBe(1);
      expect(signedOut).toHaveBeenCalledTimes(1);
    } finally {
      stop();
    }
  });

  it("retries only once when the retried request is refused again", async () => {
    stubFetch((url) =>
      url === "/api/auth/refresh" ? json(200, signedIn()) : apiError(401, "access_token_expired"),
    );
    const failure = await request("/api/users/me").catch((error: unknown) => error);
    expect((failure as ApiError).code).toBe("access_token_expired");
    expect(count("/api/auth/refresh")).toBe(1);
    expect(count("/api/users/me")).toBe(2);
  });

  it("signs out without refreshing on session_expired", async () => {
    stubFetch(() => apiError(401, "session_expired", "Your session has ended; sign in again."));
    const signedOut = vi.fn();
    const stop = onSignedOut(signedOut);
    try {
      await expect(request("/api/users/me")).rejects.toMatchObject({ code: "session_expired" });
      expect(count("/api/auth/refresh")).toBe(0);
      expect(signedOut).toHaveBeenCalledWith("session_expired");
    } finally {
      stop();
    }
  });

  it("schedules a refresh shortly before the access token expires", async () => {
    stubFetch((url) =>
      url === "/api/auth/login" || url === "/api/auth/refresh"
        ? json(200, signedIn())
        : json(200, {}),
    );
    const { auth } = await import("./endpoints");
    await auth.login("ann@example.com", "correct horse battery staple");
    expect(count("/api/auth/refresh")).toBe(0);
    await vi.advanceTimersByTimeAsync(13 * 60_000);
    expect(count("/api/auth/refresh")).toBe(0);
    await vi.advanceTimersByTimeAsync(2 * 60_000);
    expect(count("/api/auth/refresh")).toBe(1);
  });
});

describe("errors", () => {
  it("maps the server's error body to ApiError", async () => {
    stubFetch(() =>
      json(422, {
        error: {
          code: "validation_failed",
          message: "The request is not valid.",
          details: [{ field: "topic", message: "too short" }],
        },
      }),
    );
    const failure = (await request("/api/rooms", { method: "POST", body: {} }).catch(
      (error: unknown) => error,
    )) as ApiError;
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure.status).toBe(422);
    expect(failure.code).toBe("validation_failed");
    expect(failure.message).toBe("The request is not valid.");
    expect(failure.details).toEqual([{ field: "topic", message: "too short" }]);
  });

  it("maps a body that is not an API error by status", async () => {
    stubFetch(() => new Response("<html>bad gateway</html>", { status: 502 }));
    await expect(request("/api/rooms")).rejects.toMatchObject({
      status: 502,
      code: "server_error",
    });
  });

  it("turns a network failure into 'Cannot reach the server'", async () => {
    vi.stubGlobal("fetch", () => Promise.reject(new TypeError("Failed to fetch")));
    await expect(request("/api/rooms")).rejects.toMatchObject({
      status: 0,
      code: "network_error",
      message: CANNOT_REACH_SERVER,
    });
  });

  it("sends JSON with the session cookies and returns nothing for 204", async () => {
    let seen: RequestInit | undefined;
    vi.stubGlobal("fetch", (_url: string, init: RequestInit) => {
      seen = init;
      return Promise.resolve(new Response(null, { status: 204 }));
    });
    await expect(
      request("/api/rooms/rm_1", { method: "PATCH", body: { topic: "x" } }),
    ).resolves.toBeUndefined();
    expect(seen?.credentials).toBe("same-origin");
    expect(seen?.body).toBe(JSON.stringify({ topic: "x" }));
    expect((seen?.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
  });
});

describe("the signed-in hint", () => {

  afterEach(() => {
    cancelScheduledRefresh();
    vi.unstubAllGlobals();
  });

  it("says a session may exist when storage cannot tell", () => {
    expect(mayBeSignedIn()).toBe(true);
  });

  it("is set by a sign-in and cleared by a sign-out", () => {
    vi.stubGlobal("localStorage", memoryStorage());
    expect(mayBeSignedIn()).toBe(false);
    noteSignedIn(signedIn());
    expect(mayBeSignedIn()).toBe(true);
    expect(localStorage.getItem("gethory.signedIn")).toBe("1");
    forgetSession();
    expect(mayBeSignedIn()).toBe(false);
  });

  it("counts the expiry an older client recorded", () => {
    vi.stubGlobal("localStorage", memoryStorage());
    localStorage.setItem("gethory.accessTokenExpiresAt", String(Date.now() + 60_000));
    expect(mayBeSignedIn()).toBe(true);
  });
});
