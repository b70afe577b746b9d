// A thin typed wrapper over socket.io-client: typed events, acks turned into values or
// SignalingErrors, and the connect_error codes of docs/protocol.md turned into decisions.
import { io, type Socket } from "socket.io-client";
import type { ClientRequests, RequestName, ServerEvents } from "./events";

export class SignalingError extends Error {
  readonly code: string;
  readonly details: unknown;

  constructor(code: string, message: string, details?: unknown) {
    super(message);
    this.name = "SignalingError";
    this.code = code;
    this.details = details;
  }
}

// `{ok: true, ...}` → the fields; `{ok: false, error}` → a thrown SignalingError. Anything else
// is a server bug, reported as such rather than trusted.
export function parseAck<T>(ack: unknown): T {
  if (isRecord(ack) && ack.ok === true) return ack as T;
  if (isRecord(ack) && ack.ok === false) {
    const error = isRecord(ack.error) ? ack.error : {};
    const code = typeof error.code === "string" ? error.code : "internal_error";
    const message = typeof error.message === "string" ? error.message : code;
    throw new SignalingError(code, message, error.details);
  }
  throw new SignalingError("invalid_ack", "The server sent an unexpected answer.");
}

// What a refused connection means for the call.
export type ConnectErrorAction = "refresh" | "session-ended" | "retry";

export function connectErrorCode(error: unknown): string | null {
  if (!isRecord(error) || !isRecord(error.data)) return null;
  return typeof error.data.code === "string" ? error.data.code : null;
}

export function connectErrorAction(code: string | null): ConnectErrorAction {
  switch (code) {
    case "access_token_expired":
      return "refresh";
    case "session_expired":
    case "invalid_token":
    case "not_authenticated":
      return "session-ended";
    default:
      // No code: a network failure, which socket.io-client retries on its own.
      return "retry";
  }
}

export interface SignalingHooks {
  // Every successful (re)connection; `first` is the initial one.
  onConnect(first: boolean): void;
  onDisconnect(reason: string): void;
  // The connection cannot be made or kept: the session is over.
  onSessionEnded(): void;
  onConnectProblem(message: string): void;
}

export interface SignalingOptions {
  // Refresh the access cookie over REST; true when a new one was issued.
  onAuthExpired?: () => Promise<boolean>;
  requestTimeoutMs?: number;
  createSocket?: () => Socket;
}

const DEFAULT_TIMEOUT_MS = 10_000;
// One refresh per refused attempt is enough; more means the refresh itself is not working.
const MAX_REFRESHES_IN_A_ROW = 2;

export async function refreshAccessCookie(): Promise<boolean> {
  try {
    const response = await fetch("/api/auth/refresh", { method: "POST", credentials: "same-origin" });
    return response.ok;
  } catch {
    return false;
  }
}

export function createBrowserSocket(): Socket {
  return io({
    path: "/socket.io",
    transports: ["websocket", "polling"],
    withCredentials: true,
    reconnection: true,
    autoConnect: false,
  });
}

type Result<E extends RequestName> = ClientRequests[E]["result"] & { ok: true };

export class Signaling {
  private readonly socket: Socket;
  private readonly hooks: SignalingHooks;
  private readonly onAuthExpired: () => Promise<boolean>;
  private readonly timeoutMs: number;
  private connectedOnce = false;
  private refreshes = 0;
  private closed = false;

  constructor(hooks: SignalingHooks, options: SignalingOptions = {}) {
    this.hooks = hooks;
    this.onAuthExpired = options.onAuthExpired ?? refreshAccessCookie;
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.socket = (options.createSocket ?? createBrowserSocket)();
    this.socket.on("connect", () => {
      this.refreshes = 0;
      const first = !this.connectedOnce;
      this.connectedOnce = true;
      this.hooks.onConnect(first);
    });
    this.socket.on("disconnect", (reason) => {
      if (this.closed) return;
      this.hooks.onDisconnect(reason);
      // A server-side disconnect is not retried by socket.io-client; unless it came with
      // `session-ended` (the engine closes us first), try again: the connect_error will tell.
      if (reason === "io server disconnect") this.socket.connect();
    });
    this.socket.on("connect_error", (error) => void this.handleConnectError(error));
  }

  get id(): string | null {
    return this.socket.id ?? null;
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  connect(): void {
    this.socket.connect();
  }

  on<E extends keyof ServerEvents>(event: E, handler: ServerEvents[E]): void {
    // socket.io-client's untyped Socket takes any listener; the event map above is the contract.
    this.socket.on(event as string, handler as (...args: unknown[]) => void);
  }

  async request<E extends RequestName>(
    event: E,
    payload: ClientRequests[E]["payload"],
    timeoutMs = this.timeoutMs,
  ): Promise<Result<E>> {
    // socket.io-client would buffer the event until reconnection; by then it is stale (relays to
    // old peers, a join the reconnect logic redoes anyway), so refuse it now.
    if (!this.socket.connected) throw new SignalingError("disconnected", "Not connected to the server.");
    let ack: unknown;
    try {
      ack = await this.socket.timeout(timeoutMs).emitWithAck(event, payload);
    } catch {
      throw new SignalingError("timeout", `The server did not answer ${event} in time.`);
    }
    return parseAck<Result<E>>(ack);
  }

  close(): void {
    this.closed = true;
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }

  private async handleConnectError(error: Error): Promise<void> {
    if (this.closed) return;
    const code = connectErrorCode(error);
    const action = connectErrorAction(code);
    if (action === "retry") {
      this.hooks.onConnectProblem("Cannot reach the server; retrying…");
      return;
    }
    if (action === "refresh" && this.refreshes < MAX_REFRESHES_IN_A_ROW) {
      this.refreshes += 1;
      const refreshed = await this.onAuthExpired();
      if (this.closed) return;
      if (refreshed) {
        // A refused connection is not retried by socket.io-client: reconnect by hand.
        this.socket.connect();
        return;
      }
    }
    this.hooks.onSessionEnded();
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}
