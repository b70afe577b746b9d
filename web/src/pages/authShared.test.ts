import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { memoryStorage } from "../test-storage";
import { forgetNext, pendingNext, rememberNext, safeNext, withNext } from "./authShared";


beforeEach(() => {
  vi.stubGlobal("window", { location: { origin: "http://localhost:8000" } });
  vi.stubGlobal("localStorage", memoryStorage());
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe("safeNext", () => {
  it("keeps paths of this site", () => {
    expect(safeNext("/invite/abc_DEF-1")).toBe("/invite/abc_DEF-1");
    expect(safeNext("/rooms/rm_1?x=1#y")).toBe("/rooms/rm_1?x=1#y");
    expect(safeNext("/a/../rooms")).toBe("/rooms");
  });

  it.each([
    null,
    "",
    "rooms",
    "https://evil.example/x",
    "//evil.example/x",
    "/\\evil.example",
    "/\\/evil.example",
    "\\\\evil.example",
    "/\tevil",
    "/\n/evil.example",
    "javascript:alert(1)",
    " /rooms",
  ])("refuses %j", (next) => {
    expect(safeNext(next)).toBeNull();
  });
});

describe("the next kept across the sign-up", () => {
  it("is kept, followed once, and forgotten", () => {
    rememberNext("/invite/tok");
    expect(pendingNext()).toBe("/invite/tok");
    forgetNext();
    expect(pendingNext()).toBeNull();
  });

  it("is never an unsafe path, even if storage is tampered with", () => {
    rememberNext("//evil.example");
    expect(pendingNext()).toBeNull();
    localStorage.setItem("gethory.next", JSON.stringify({ path: "//evil", at: Date.now() }));
    expect(pendingNext()).toBeNull();
    expect(localStorage.getItem("gethory.next")).toBeNull();
  });

  it("goes stale after a day", () => {
    vi.useFakeTimers();
    rememberNext("/invite/tok");
    vi.advanceTimersByTime(26 * 3600 * 1000);
    expect(pendingNext()).toBeNull();
  });

  it("travels in links", () => {
    expect(withNext("/signin", "/invite/a b")).toBe("/signin?next=%2Finvite%2Fa%20b");
    expect(withNext("/signin", null)).toBe("/signin");
  });
});
