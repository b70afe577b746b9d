import { useSearchParams } from "react-router-dom";

const PENDING_EMAIL_KEY = "gethory.pendingEmail";
// Where to go after signing in travels only in URLs (`?next=`, and the verification email's
// link). Earlier versions kept it in localStorage, where any later sign-in in the browser
// followed it: `forgetStoredNext` clears that old value once at start-up.
const OLD_NEXT_KEY = "gethory.next";

export function rememberPendingEmail(email: string): void {
  try {
    sessionStorage.setItem(PENDING_EMAIL_KEY, email);
  } catch {
    // Storage may be unavailable (privacy modes); the page then asks for the address.
  }
}

export function pendingEmail(): string {
  try {
    return sessionStorage.getItem(PENDING_EMAIL_KEY) ?? "";
  } catch {
    return "";
  }
}

/**
 * A `next` parameter we may follow: a path on this site only (never another origin, which
 * would make sign-in an open redirect). Returns the path normalized, or null.
 */
export function safeNext(next: string | null | undefined): string | null {
  if (!next || !next.startsWith("/") || next.startsWith("//")) return null;
  // Browsers read "\" as "/" in URLs ("/\evil.example" is another host); control characters
  // may be dropped on the way. Neither belongs in a path of ours.
  if (/[\\\u0000-\u001f\u007f]/.test(next)) return null;
  let url: URL;
  try {
    url = new URL(next, window.location.origin);
  } catch {
    return null;
  }
  if (url.origin !== window.location.origin) return null;
  const path = url.pathname + url.search + url.hash;
  // Normalizing may produce what the raw string was not: "/..//evil.example/x" becomes
  // "//evil.example/x", another host when navigated to. Check the result again.
  if (!path.startsWith("/") || path.startsWith("//") || /[\\\u0000-\u001f\u007f]/.test(path)) {
    return null;
  }
  return path;
}

/** Removes the `next` that earlier versions kept in localStorage (called once at start-up). */
export function forgetStoredNext(): void {
  try {
    if (typeof localStorage !== "undefined") localStorage.removeItem(OLD_NEXT_KEY);
  } catch {
    // Storage unavailable: nothing was kept there either.
  }
}

/** Where this sign-in or sign-up leads: the page's own `?next=`, or null (the rooms page). */
export function useNext(): string | null {
  const [params] = useSearchParams();
  return safeNext(params.get("next"));
}

/** `path` with `?next=` when there is somewhere to go afterwards. */
export function withNext(path: string, next: string | null): string {
  return next ? `${path}?next=${encodeURIComponent(next)}` : path;
}

export function isInvite(next: string | null): boolean {
  return next !== null && next.startsWith("/invite/");
}

// The only `next` the server takes with a registration (it goes into the verification link).
const INVITE_PATH = /^\/invite\/[A-Za-z0-9_-]{16,128}$/;

/** `next` as the server accepts it in register / resend-verification, else undefined. */
export function inviteNext(next: string | null): string | undefined {
  return next !== null && INVITE_PATH.test(next) ? next : undefined;
}
