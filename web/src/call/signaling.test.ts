import { describe, expect, it } from "vitest";
import { connectErrorAction, connectErrorCode, parseAck, SignalingError } from "./signaling";

describe("parseAck", () => {
  it("returns a successful ack's fields", () => {
    expect(parseAck<{ ok: true; peerId: string }>({ ok: true, peerId: "p1" })).toEqual({ ok: true, peerId: "p1" });
  });

  it("throws a SignalingError with the server's code and message", () => {
    let caught: unknown;
    try {
      parseAck({ ok: false, error: { code: "room_full", message: "The room is full." } });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SignalingError);
    expect((caught as SignalingError).code).toBe("room_full");
    expect((caught as SignalingError).message).toBe("The room is full.");
  });

  it("keeps details (validation_failed, rate_limited)", () => {
    expect(() =>
      parseAck({ ok: false, error: { code: "rate_limited", message: "slow down", details: { retryAfter: 3 } } }),
    ).toThrowError(expect.objectContaining({ code: "rate_limited", details: { retryAfter: 3 } }));
  });

  it("uses the code as message when there is none", () => {
    expect(() => parseAck({ ok: false, error: { code: "room_full" } })).toThrowError(
      expect.objectContaining({ code: "room_full", message: "room_full" }),
    );
  });

  it("rejects malformed acks", () => {
    expect(() => parseAck(undefined)).toThrowError(expect.objectContaining({ code: "invalid_ack" }));
    expect(() => parseAck({ ok: false })).toThrowError(expect.objectContaining({ code: "internal_error" }));
  });
});

describe("connect_error", () => {
  it("reads the code from the error's data", () => {
    const error = Object.assign(new Error("expired"), { data: { code: "access_token_expired" } });
    expect(connectErrorCode(error)).toBe("access_token_expired");
    expect(connectErrorCode(new Error("xhr poll error"))).toBeNull();
  });

  it("refreshes an expired access token, ends an expired session, retries the network", () => {
    expect(connectErrorAction("access_token_expired")).toBe("refresh");
    expect(connectErrorAction("session_expired")).toBe("session-ended");
    expect(connectErrorAction("invalid_token")).toBe("session-ended");
    expect(connectErrorAction("not_authenticated")).toBe("session-ended");
    expect(connectErrorAction(null)).toBe("retry");
  });
});
