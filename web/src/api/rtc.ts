// ICE servers for a new call: GET /api/rtc/ice-servers gives STUN URLs and TURN URLs with a
// credential of our own that expires (coturn's REST API scheme: username "<expiry>:<user id>").
// Fetched before each call is created, kept while it is fresh, and never fatal: without them a
// call on one network still connects on host candidates, so a failure is logged and the call
// goes on with none.

import { request } from "./client";

export interface IceServersAnswer {
  iceServers: RTCIceServer[];
  // How long the TURN credentials stay valid from now; absent when no TURN is configured.
  ttlSeconds?: number;
}

export const ICE_SERVERS_PATH = "/api/rtc/ice-servers";
// A call must not wait long for this: after it, the call starts with no ICE servers.
export const FETCH_TIMEOUT_MS = 5_000;
// Without TURN nothing expires, but a long-open tab should notice a new configuration.
export const NO_TURN_REUSE_MS = 10 * 60_000;

interface Cached {
  userId: string;
  servers: RTCIceServer[];
  reuseUntil: number; // epoch ms
}

type Warn = (message: string, error: unknown) => void;

/**
 * One user's ICE servers, fetched once and reused for new calls while the TURN credential has
 * at least half its lifetime left (12 h of the default 24 h): a call started with it has that
 * long before coturn refuses its allocation refreshes. Concurrent callers share one request.
 */
export class IceServerCache {
  private cached: Cached | null = null;
  private inFlight: { userId: string; answer: Promise<RTCIceServer[]> } | null = null;
  // Bumped by forget(): an answer to a request sent before is not kept.
  private generation = 0;

  constructor(
    private readonly fetchAnswer: (signal: AbortSignal) => Promise<IceServersAnswer> = (signal) =>
      request<IceServersAnswer>(ICE_SERVERS_PATH, { signal }),
    private readonly now: () => number = Date.now,
    private readonly warn: Warn = (message, error) => console.warn(message, error),
  ) {}

  /** The servers to pass as `iceServers` for `userId`'s next call; [] if they cannot be had. */
  forCall(userId: string): Promise<RTCIceServer[]> {
    const owner = this.cached?.userId ?? this.inFlight?.userId;
    if (owner !== undefined && owner !== userId) this.forget();
    const cached = this.cached;
    if (cached && this.now() < cached.reuseUntil) return Promise.resolve(cached.servers);
    if (!this.inFlight) {
      const answer = this.fetchFor(userId).finally(() => {
        if (this.inFlight?.answer === answer) this.inFlight = null;
      });
      this.inFlight = { userId, answer };
    }
    return this.inFlight.answer;
  }

  /** Signed out (or another account): the credentials name the user, drop them. */
  forget(): void {
    this.generation += 1;
    this.cached = null;
    this.inFlight = null;
  }

  private async fetchFor(userId: string): Promise<RTCIceServer[]> {
    const generation = this.generation;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    try {
      const fetchedAt = this.now();
      const answer = await this.fetchAnswer(controller.signal);
      const servers = Array.isArray(answer?.iceServers) ? answer.iceServers : [];
      const ttl = typeof answer?.ttlSeconds === "number" ? answer.ttlSeconds : null;
      const reuseUntil = ttl === null ? fetchedAt + NO_TURN_REUSE_MS : fetchedAt + (ttl * 1000) / 2;
      if (generation === this.generation) this.cached = { userId, servers, reuseUntil };
      return servers;
    } catch (error) {
      // Not hidden: a call without TURN fails behind strict NATs, and this says why.
      this.warn("Gethory: no ICE servers for this call (TURN unavailable); using none", error);
      return [];
    } finally {
      clearTimeout(timer);
    }
  }
}

export const iceServers = new IceServerCache();
