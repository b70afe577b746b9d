import { afterEach, describe, expect, it, vi } from "vitest";

import { ApiError } from "./client";
import { FETCH_TIMEOUT_MS, ICE_SERVERS_PATH, IceServerCache, NO_TURN_REUSE_MS } from "./rtc";
import type { IceServersAnswer } from "./rtc";

const TURN: RTCIceServer = {
  urls: ["turn:turn.example:3478?transport=udp"],
  username: "1700000000:usr_ann",
  credential: "c2VjcmV0",
};
const DAY = 24 * 3600;

function setup(answers: (() => Promise<IceServersAnswer>)[]) {
  let clock = 1_000_000;
  const warnings: unknown[] = [];
  const signals: AbortSignal[] = [];
  const fetchAnswer = vi.fn((signal: AbortSignal) => {
    signals.push(signal);
    const next = answers.shift();
    if (!next) throw new Error("unexpected fetch");
    return next();
  });
  const cache = new IceServerCache(
    fetchAnswer,
    () => clock,
    (_message, error) => warnings.push(error),
  );
  return {
    cache,
    fetchAnswer,
    warnings,
    signals,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("ICE servers for a call", () => {
  it("hands out the server's list and reuses it while half the credential's life remains", async () => {
    const answer = { iceServers: [TURN], ttlSeconds: DAY };
    const t = setup([async () => answer, async () => ({ iceServers: [], ttlSeconds: DAY })]);
    expect(await t.cache.forCall("usr_ann")).toEqual([TURN]);
    t.advance((DAY * 1000) / 2 - 1);
    expect(await t.cache.forCall("usr_ann")).toEqual([TURN]);
    expect(t.fetchAnswer).toHaveBeenCalledTimes(1);
    // Near expiry: a new call gets fresh credentials.
    t.advance(1);
    expect(await t.cache.forCall("usr_ann")).toEqual([]);
    expect(t.fetchAnswer).toHaveBeenCalledTimes(2);
  });

  it("asks again after a while when no TURN is configured (nothing expires)", async () => {
    const t = setup([async () => ({ iceServers: [] }), async () => ({ iceServers: [TURN] })]);
    expect(await t.cache.forCall("usr_ann")).toEqual([]);
    t.advance(NO_TURN_REUSE_MS - 1);
    expect(await t.cache.forCall("usr_ann")).toEqual([]);
    t.advance(1);
    expect(await t.cache.forCall("usr_ann")).toEqual([TURN]);
  });

  it("shares one request between concurrent joins", async () => {
    const t = setup([async () => ({ iceServers: [TURN], ttlSeconds: DAY })]);
    const [a, b] = await Promise.all([t.cache.forCall("usr_ann"), t.cache.forCall("usr_ann")]);
    expect(a).toEqual([TURN]);
    expect(b).toEqual([TURN]);
    expect(t.fetchAnswer).toHaveBeenCalledTimes(1);
  });

  it("goes on with no servers when the request fails, says so, and tries again next time", async () => {
    const failure = new ApiError(0, "network_error", "Cannot reach the server");
    const t = setup([() => Promise.reject(failure), async () => ({ iceServers: [TURN], ttlSeconds: DAY })]);
    expect(await t.cache.forCall("usr_ann")).toEqual([]);
    expect(t.warnings).toEqual([failure]);
    expect(await t.cache.forCall("usr_ann")).toEqual([TURN]);
  });

  it("gives up after the timeout rather than holding the call back", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const t = setup([]);
    // A server that never answers: only the abort (which fetch obeys) ends the request.
    t.fetchAnswer.mockImplementationOnce(
      (signal: AbortSignal) =>
        new Promise<IceServersAnswer>((_, reject) => {
          t.signals.push(signal);
          signal.addEventListener("abort", () => reject(new DOMException("timeout", "AbortError")));
        }),
    );
    const pending = t.cache.forCall("usr_ann");
    vi.advanceTimersByTime(FETCH_TIMEOUT_MS - 1);
    expect(t.signals[0].aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(await pending).toEqual([]);
    expect(t.warnings).toHaveLength(1);
  });

  it("never gives one user's credentials to another, nor keeps them after sign-out", async () => {
    const bob = { ...TURN, username: "1700000000:usr_bob" };
    const t = setup([
      async () => ({ iceServers: [TURN], ttlSeconds: DAY }),
      async () => ({ iceServers: [bob], ttlSeconds: DAY }),
      async () => ({ iceServers: [TURN], ttlSeconds: DAY }),
    ]);
    expect(await t.cache.forCall("usr_ann")).toEqual([TURN]);
    expect(await t.cache.forCall("usr_bob")).toEqual([bob]);
    t.cache.forget();
    expect(await t.cache.forCall("usr_ann")).toEqual([TURN]);
    expect(t.fetchAnswer).toHaveBeenCalledTimes(3);
  });

  it("keeps no answer that arrives after sign-out", async () => {
    let release: (answer: IceServersAnswer) => void = () => undefined;
    const t = setup([
      () => new Promise<IceServersAnswer>((resolve) => (release = resolve)),
      async () => ({ iceServers: [], ttlSeconds: DAY }),
    ]);
    const pending = t.cache.forCall("usr_ann");
    t.cache.forget();
    release({ iceServers: [TURN], ttlSeconds: DAY });
    await pending;
    expect(await t.cache.forCall("usr_ann")).toEqual([]);
  });

  it("asks the documented endpoint with the session's cookies", async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    vi.stubGlobal("fetch", (input: RequestInfo | URL, init: RequestInit = {}) => {
      calls.push({ url: String(input), init });
      return Promise.resolve(
        new Response(JSON.stringify({ iceServers: [TURN], ttlSeconds: DAY }), {
          status: 200,
          headers: { "Content-Type": "application/json" },
        }),
      );
    });
    expect(await new IceServerCache().forCall("usr_ann")).toEqual([TURN]);
    expect(calls.map((c) => c.url)).toEqual([ICE_SERVERS_PATH]);
    expect(calls[0].init.credentials).toBe("same-origin");
    expect(calls[0].init.signal).toBeInstanceOf(AbortSignal);
  });
});
