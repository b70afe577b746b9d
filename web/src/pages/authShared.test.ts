import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { memoryStorage } from "../test-storage";
import { forgetStoredNext, inviteNext, safeNext, withNext } from "./authShared";

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
    // Normalizing these yields "//evil.example/x", another host.
    "/..//evil.example/x",
    "/.//evil.example/x",
    "/a/../..//evil.example/x",
    "/%2e%2e//evil.example/x",
  ])("refuses %j", (next) => {
    expect(safeNext(next)).toBeNull();
  });
});

describe("the next of a sign-up", () => {
  it("is no longer kept in storage: an old value is cleared at start-up", () => {
    localStorage.setItem("gethory.next", JSON.stringify({ path: "/invite/x", at: Date.now() }));
    forgetStoredNext();
    expect(localStorage.getItem("gethory.next")).toBeNull();
  });

  it("goes to the server only when it is an invite path", () => {
    expect(inviteNext("/invite/abcdefghijklmnop_-12")).toBe("/invite/abcdefghijklmnop_-12");
    expect(inviteNext("/invite/short")).toBeUndefined();
    expect(inviteNext("/rooms/rm_1")).toBeUndefined();
    expect(inviteNext("/invite/abcdefghijklmnop?x=1")).toBeUndefined();
    expect(inviteNext(null)).toBeUndefined();
  });

  it("travels in links", () => {
    expect(withNext("/signin", "/invite/a b")).toBe("/signin?next=%2Finvite%2Fa%20b");
    expect(withNext("/signin", null)).toBe("/signin");
  });
});
