// A server restart as the call sees it (docs/protocol.md, "Server restarts"): the notice from
// `server-draining` (or a join refused with server_draining) until the call is back.
import { describe, expect, it } from "vitest";
import { connectionInPlainWords, errorInPlainWords, SERVER_RESTARTING, SERVER_RESTARTING_RECONNECTING } from "../room/words";
import { endReasonForJoinError, joinErrorMessage, SERVER_DRAINING } from "./call";
import { SignalingError } from "./signaling";
import { initialState, reduce, type CallAction } from "./state";
import type { CallState } from "./types";

function run(...actions: CallAction[]): CallState {
  return actions.reduce(reduce, initialState("rm_1", "sfu"));
}

const connected: CallAction = { type: "status", status: "connected" };
const reconnecting: CallAction = { type: "status", status: "reconnecting" };
const draining: CallAction = { type: "server-draining" };

describe("server restart", () => {
  it("is announced while the call goes on", () => {
    const state = run(connected, draining);
    expect(state.status).toBe("connected");
    expect(state.restart).toBe("announced");
    expect(connectionInPlainWords(state)).toBe(SERVER_RESTARTING);
  });

  it("says it reconnects once the old server closed the connection", () => {
    const state = run(connected, draining, reconnecting);
    expect(state.restart).toBe("reconnecting");
    expect(connectionInPlainWords(state)).toBe(SERVER_RESTARTING_RECONNECTING);
  });

  it("ends when the call is connected again after the drop", () => {
    const state = run(connected, draining, reconnecting, connected);
    expect(state.restart).toBeNull();
    expect(connectionInPlainWords(state)).not.toContain("restarting");
  });

  it("is not cleared by a connection made before the old server dropped us", () => {
    // e.g. an sfu negotiation that started before the drain answers during it
    expect(run(draining, connected).restart).toBe("announced");
  });

  it("follows a drop that came while already reconnecting", () => {
    const state = run(connected, reconnecting, draining, reconnecting, connected);
    expect(state.restart).toBeNull();
    expect(run(connected, reconnecting, draining, reconnecting).restart).toBe("reconnecting");
  });

  it("a second notice changes nothing", () => {
    const before = run(connected, draining, reconnecting);
    expect(reduce(before, draining)).toBe(before);
  });

  it("hides the expected connection failures while it lasts", () => {
    const failing: CallAction = { type: "error", code: "connection_failed", message: "Cannot reach the server; retrying…" };
    expect(errorInPlainWords(run(connected, draining, reconnecting, failing))).toBeNull();
    expect(errorInPlainWords(run(connected, reconnecting, failing))).toBe("Cannot reach the server; retrying…");
  });

  it("gives way to the end of the call", () => {
    const state = run(connected, draining, { type: "ended", reason: "left" });
    expect(state.restart).toBeNull();
    expect(connectionInPlainWords(state)).toBe("You left the room.");
  });

  it("a join refused with server_draining reads as the restart, not as an error", () => {
    const refusal = new SignalingError(SERVER_DRAINING, "The server is restarting; you will be reconnected in a moment.");
    expect(joinErrorMessage(refusal)).toBe(SERVER_RESTARTING);
    expect(endReasonForJoinError(SERVER_DRAINING)).toBe("error"); // never reached: the engine does not end on it
  });
});
