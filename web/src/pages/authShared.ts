import { useEffect } from "react";
import { useSearchParams } from "react-router-dom";

const PENDING_EMAIL_KEY = "gethory.pendingEmail";
// Where to go after signing in, kept across the whole sign-up: the verification email may be
// opened in a new tab (or after a restart), which has none of this tab's state.
const NEXT_KEY = "gethory.next";
// As long as the verification link works, and a little more.
const NEXT_TTL_MS = 25 * 3600 * 1000;

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
  return url.pathname + url.search + url.hash;
}

function localStore(): Storage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}

/** Keeps `next` (if it is safe) for after sign-in, in this tab and any other. */
export function rememberNext(next: string | null): void {
  const path = safeNext(next);
  if (!path) return;
  try {
    localStore()?.setItem(NEXT_KEY, JSON.stringify({ path, at: Date.now() }));
  } catch {
    // Without storage the `next` parameter still travels in the links of this tab.
  }
}

/** The `next` kept by `rememberNext`, unless it is stale. */
export function pendingNext(): string | null {
  const store = localStore();
  try {
    const raw = store?.getItem(NEXT_KEY);
    if (!raw) return null;
    const kept = JSON.parse(raw) as { path?: unknown; at?: unknown };
    const fresh = typeof kept.at === "number" && Date.now() - kept.at < NEXT_TTL_MS;
    const path = fresh && typeof kept.path === "string" ? safeNext(kept.path) : null;
    if (!path) store?.removeItem(NEXT_KEY);
    return path;
  } catch {
    return null;
  }
}

/** Called once `next` has been followed: a later sign-in goes to the rooms page again. */
export function forgetNext(): void {
  try {
    localStore()?.removeItem(NEXT_KEY);
  } catch {
    // Nothing kept.
  }
}

/**
 * Where this sign-in or sign-up leads: the page's own `?next=` (kept for other tabs), else one
 * kept from earlier in the sign-up. Null for the default (the rooms page).
 */
export function useNext(): string | null {
  const [params] = useSearchParams();
  const fromUrl = safeNext(params.get("next"));
  useEffect(() => {
    if (fromUrl) rememberNext(fromUrl);
  }, [fromUrl]);
  return fromUrl ?? pendingNext();
}

/** `path` with `?next=` when there is somewhere to go afterwards. */
export function withNext(path: string, next: string | null): string {
  return next ? `${path}?next=${encodeURIComponent(next)}` : path;
}

export function isInvite(next: string | null): boolean {
  return next !== null && next.startsWith("/invite/");
}
