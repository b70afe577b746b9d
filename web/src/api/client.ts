// The one way the browser talks to the REST API: JSON over fetch with the session cookies,
// typed errors, and silent, single-flight token refresh.

export interface ApiErrorBody {
  code: string;
  message: string;
  details?: unknown;
}

/** Every failure of an API call: HTTP errors, and network failures (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details: unknown = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const NETWORK_ERROR = "network_error";
export const CANNOT_REACH_SERVER = "Cannot reach the server";

// 401 codes after which a refresh may bring the request back to life. The access cookie's
// max-age equals the token's lifetime, so an expired token often arrives as a missing cookie
// (`not_authenticated`) rather than as `access_token_expired`.
const REFRESHABLE = new Set(["access_token_expired", "not_authenticated"]);
// 401 codes that mean the session is over: sign in again.
const SIGNED_OUT = new Set([
  "session_expired",
  "refresh_token_reused",
  "not_authenticated",
  "invalid_token",
]);

const REFRESH_PATH = "/api/auth/refresh";
// Refresh this long before the access token expires.
const REFRESH_LEAD_MS = 60_000;
const MIN_REFRESH_DELAY_MS = 5_000;
// Shared by the tabs of this origin: when the current access token expires.
const EXPIRY_KEY = "gethory.accessTokenExpiresAt";
// Set while this browser believes it has a session (never the token itself: the tokens stay in
// httpOnly cookies). Without it, start-up does not ask the server who is signed in, so a
// signed-out visitor's pages make no request that can only answer 401.
const SIGNED_IN_KEY = "gethory.signedIn";
const REFRESH_LOCK = "gethory-refresh";

export interface SignedInBody {
  accessTokenExpiresAt: string;
}

type SignedOutListener = (code: string) => void;
type RefreshedListener = () => void;

const signedOutListeners = new Set<SignedOutListener>();
const refreshedListeners = new Set<RefreshedListener>();

/** Called when a request proves the session is over (after any refresh attempt). */
export function onSignedOut(listener: SignedOutListener): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

/** Called after every successful refresh. */
export function onRefreshed(listener: RefreshedListener): () => void {
  refreshedListeners.add(listener);
  return () => refreshedListeners.delete(listener);
}

function notifySignedOut(code: string): void {
  for (const listener of [...signedOutListeners]) listener(code);
}

// ---- storage shared between tabs (absent in tests and some private modes) ----------------

function storage(): Storage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}

function readStoredExpiry(): number | null {
  const raw = storage()?.getItem(EXPIRY_KEY);
  const value = raw ? Number(raw) : NaN;
  return Number.isFinite(value) ? value : null;
}

function writeStoredExpiry(value: number | null): void {
  const store = storage();
  if (!store) return;
  try {
    if (value === null) {
      store.removeItem(EXPIRY_KEY);
      store.removeItem(SIGNED_IN_KEY);
    } else {
      store.setItem(EXPIRY_KEY, String(value));
    }
  } catch {
    // Quota or privacy mode: scheduling still works within this tab.
  }
}

function writeSignedInHint(): void {
  try {
    storage()?.setItem(SIGNED_IN_KEY, "1");
  } catch {
    // Without storage the hint is missing, and `mayBeSignedIn` says yes anyway.
  }
}

/**
 * Whether a session may exist: false only when this browser's storage says nobody signed in
 * here (or the last session ended). Where storage is unavailable the answer is true: asking the
 * server is then the only way to know.
 */
export function mayBeSignedIn(): boolean {
  const store = storage();
  if (!store) return true;
  try {
    // A tab of an older client recorded only the expiry: that counts as a hint too.
    return store.getItem(SIGNED_IN_KEY) !== null || store.getItem(EXPIRY_KEY) !== null;
  } catch {
    return true;
  }
}

// ---- refresh ------------------------------------------------------------------------------

type RefreshResult = "ok" | "refused" | "offline";

let refreshInFlight: Promise<RefreshResult> | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | null = null;

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

function lockManager(): LockManagerLike | null {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  return nav?.locks ?? null;
}

async function postRefresh(): Promise<RefreshResult> {
  let response: Response;
  try {
    response = await fetch(REFRESH_PATH, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
  } catch {
    // Offline: the session may well be fine; do not sign out.
    return "offline";
  }
  if (!response.ok) {
    if (response.status >= 500) return "offline";
    cancelScheduledRefresh();
    writeStoredExpiry(null);
    return "refused";
  }
  const body = (await response.json().catch(() => null)) as SignedInBody | null;
  if (body?.accessTokenExpiresAt) noteSignedIn(body);
  for (const listener of [...refreshedListeners]) listener();
  return "ok";
}

async function refreshOnce(): Promise<RefreshResult> {
  const known = readStoredExpiry();
  const locks = lockManager();
  if (!locks) return postRefresh();
  // Tabs share the refresh cookie: presenting it twice would end the session, so the tabs
  // take turns, and a tab that finds a fresher token from another tab uses that instead.
  return locks.request(REFRESH_LOCK, async () => {
    const now = readStoredExpiry();
    if (now !== null && now !== known && now - Date.now() > REFRESH_LEAD_MS / 2) {
      scheduleRefresh(now);
      return "ok" as const;
    }
    return postRefresh();
  });
}

/**
 * Rotates the refresh token and gets a new access token. Concurrent callers share one
 * request. Resolves true when the session is good again, false otherwise.
 */
export function refreshSession(): Promise<boolean> {
  return sharedRefresh().then((result) => result === "ok");
}

function sharedRefresh(): Promise<RefreshResult> {
  if (!refreshInFlight) {
    refreshInFlight = refreshOnce().finally(() => {
      refreshInFlight = null;
    });
  }
  return refreshInFlight;
}

export function cancelScheduledRefresh(): void {
  if (refreshTimer !== null) {
    clearTimeout(refreshTimer);
    refreshTimer = null;
  }
}

/** Plans a refresh shortly before `expiresAt` (epoch ms). */
export function scheduleRefresh(expiresAt: number): void {
  cancelScheduledRefresh();
  const delay = Math.max(expiresAt - Date.now() - REFRESH_LEAD_MS, MIN_REFRESH_DELAY_MS);
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    void sharedRefresh().then((result) => {
      // A refresh that failed because the network is down is retried later; one refused by
      // the server ends the session.
      if (result === "offline") scheduleRefresh(Date.now() + REFRESH_LEAD_MS + 30_000);
      else if (result === "refused") notifySignedOut("session_expired");
    });
  }, delay);
}

/** Records a login/refresh answer: remembers the expiry (for all tabs) and schedules. */
export function noteSignedIn(body: SignedInBody): void {
  writeSignedInHint();
  const expiresAt = Date.parse(body.accessTokenExpiresAt);
  if (!Number.isFinite(expiresAt)) return;
  writeStoredExpiry(expiresAt);
  scheduleRefresh(expiresAt);
}

/** Resumes the schedule at start-up from what this or another tab last recorded. */
export function resumeRefreshSchedule(): void {
  const expiresAt = readStoredExpiry();
  if (expiresAt !== null) scheduleRefresh(expiresAt);
}

/** Forgets the session locally (after sign-out). */
export function forgetSession(): void {
  cancelScheduledRefresh();
  writeStoredExpiry(null);
}

type SignedInElsewhereListener = () => void;
const signedInElsewhereListeners = new Set<SignedInElsewhereListener>();

/** Called when another tab of this browser signs in. */
export function onSignedInElsewhere(listener: SignedInElsewhereListener): () => void {
  signedInElsewhereListeners.add(listener);
  return () => signedInElsewhereListeners.delete(listener);
}

// When another tab refreshes, follow its schedule instead of keeping our own.
if (typeof window !== "undefined" && typeof window.addEventListener === "function") {
  window.addEventListener("storage", (event) => {
    if (event.key === SIGNED_IN_KEY && event.newValue !== null) {
      for (const listener of [...signedInElsewhereListeners]) listener();
      return;
    }
    if (event.key !== EXPIRY_KEY) return;
    const expiresAt = readStoredExpiry();
    if (expiresAt === null) cancelScheduledRefresh();
    else scheduleRefresh(expiresAt);
  });
}

// ---- requests -----------------------------------------------------------------------------

export interface RequestOptions {
  method?: string;
  /** A JSON body (serialized here) or FormData (sent as multipart). */
  body?: unknown;
  signal?: AbortSignal;
  /** Do not try to refresh on 401 (auth endpoints that answer 401 for other reasons). */
  noRefresh?: boolean;
}

async function errorFrom(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = (body as { error?: Partial<ApiErrorBody> } | null)?.error;
  if (error && typeof error.code === "string") {
    return new ApiError(
      response.status,
      error.code,
      typeof error.message === "string" ? error.message : defaultMessage(response.status),
      error.details ?? null,
    );
  }
  return new ApiError(response.status, codeForStatus(response.status), defaultMessage(response.status));
}

function codeForStatus(status: number): string {
  if (status === 401) return "not_authenticated";
  if (status === 404) return "not_found";
  if (status === 413) return "payload_too_large";
  if (status === 429) return "rate_limited";
  if (status >= 500) return "server_error";
  return "http_error";
}

function defaultMessage(status: number): string {
  if (status === 401) return "Sign in first.";
  if (status === 404) return "Not found.";
  if (status === 413) return "That is too large.";
  if (status === 429) return "Too many attempts; try again later.";
  if (status >= 500) return "Something went wrong on the server. Try again in a moment.";
  return `The server answered ${status}.`;
}

async function send(path: string, options: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  let body: BodyInit | undefined;
  if (options.body instanceof FormData) {
    body = options.body;
  } else if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  try {
    return await fetch(path, {
      method: options.method ?? (body === undefined ? "GET" : "POST"),
      credentials: "same-origin",
      headers,
      body,
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    if (error instanceof Error && error.name === "AbortError") throw error;
    throw new ApiError(0, NETWORK_ERROR, CANNOT_REACH_SERVER);
  }
}

/** Sends a request and returns the parsed JSON body (undefined for 204). */
export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  let response = await send(path, options);
  if (response.status === 401 && !options.noRefresh) {
    const error = await errorFrom(response);
    if (!REFRESHABLE.has(error.code)) {
      if (SIGNED_OUT.has(error.code)) notifySignedOut(error.code);
      throw error;
    }
    const result = await sharedRefresh();
    if (result === "offline") throw new ApiError(0, NETWORK_ERROR, CANNOT_REACH_SERVER);
    if (result === "refused") {
      notifySignedOut(error.code);
      throw error;
    }
    // Retried once: a second 401 is reported below, never refreshed again.
    response = await send(path, options);
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 && !options.noRefresh && SIGNED_OUT.has(error.code)) {
      notifySignedOut(error.code);
    }
    throw error;
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(response.status, "invalid_response", "The server sent an unreadable answer.");
  }
}

/** The message to show a person for any error. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return CANNOT_REACH_SERVER;
  if (error instanceof Error && error.message) return error.message;
  return "Something went wrong.";
}
