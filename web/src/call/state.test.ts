import { describe, expect, it } from "vitest";
import { initialState, reduce, ROOM_END_EVENTS, type CallAction } from "./state";
import { ann, bob, cat, info, roomState } from "./test-fixtures";
import type { CallState } from "./types";

function run(state: CallState, ...actions: CallAction[]): CallState {
  return actions.reduce(reduce, state);
}

// Bob's view of a mesh room Ann owns.
function joinedAsBob(media: "mesh" | "sfu" = "mesh"): CallState {
  return run(
    initialState("rm_1", media),
    { type: "status", status: "connecting" },
    { type: "room-state", event: roomState("B", [info("A", ann), info("B", bob)], media) },
  );
}

describe("reduce", () => {
  it("takes presence from room-state, marking self", () => {
    const state = joinedAsBob();
    expect(state.selfPeerId).toBe("B");
    expect(state.ownerId).toBe(ann.id);
    expect(state.participants.map((p) => [p.peerId, p.isSelf])).toEqual([
      ["A", false],
      ["B", true],
    ]);
    expect(state.participants[0]?.connection).toBe("connecting");
  });

  it("adds joiners at the end and removes leavers", () => {
    let state = reduce(joinedAsBob(), { type: "participant-joined", info: info("C", cat, true) });
    expect(state.participants.map((p) => p.peerId)).toEqual(["A", "B", "C"]);
    expect(state.participants[2]?.muted).toBe(true);
    state = reduce(state, { type: "participant-left", peerId: "A" });
    expect(state.participants.map((p) => p.peerId)).toEqual(["B", "C"]);
  });

  it("returns the same state when nothing changes", () => {
    const state = joinedAsBob();
    expect(reduce(state, { type: "participant-left", peerId: "nobody" })).toBe(state);
    expect(reduce(state, { type: "speaking", peerId: "A", speaking: false })).toBe(state);
  });

  it("applies someone else's mute-info to them only", () => {
    const state = reduce(joinedAsBob(), {
      type: "mute-info",
      event: { userId: ann.id, mute: true },
      selfUserId: bob.id,
    });
    expect(state.participants.find((p) => p.peerId === "A")?.muted).toBe(true);
    expect(state.muted).toBe(false);
    expect(state.mutedByOwner).toBe(false);
  });

  it("sets mutedByOwner when the owner mutes us, and unmuting ourselves clears it", () => {
    let state = reduce(joinedAsBob(), {
      type: "mute-info",
      event: { userId: bob.id, mute: true, by: ann.id },
      selfUserId: bob.id,
    });
    expect(state.muted).toBe(true);
    expect(state.mutedByOwner).toBe(true);
    expect(state.participants.find((p) => p.isSelf)?.muted).toBe(true);
    state = reduce(state, { type: "self-muted", muted: false });
    expect(state.muted).toBe(false);
    expect(state.mutedByOwner).toBe(false);
    expect(state.participants.find((p) => p.isSelf)?.muted).toBe(false);
  });

  it("keeps our own mute across a re-join's room-state (the server starts us unmuted)", () => {
    let state = reduce(joinedAsBob(), { type: "self-muted", muted: true });
    state = reduce(state, { type: "room-state", event: roomState("B2", [info("A", ann), info("B2", bob)]) });
    expect(state.selfPeerId).toBe("B2");
    expect(state.participants.find((p) => p.isSelf)?.muted).toBe(true);
  });

  it("ends for good: later events change nothing", () => {
    const ended = reduce(joinedAsBob(), { type: "ended", reason: ROOM_END_EVENTS["room-closed"] });
    expect(ended.status).toBe("ended");
    expect(ended.ended).toBe("room-closed");
    expect(ended.serverConnection).toBe("closed");
    expect(reduce(ended, { type: "participant-joined", info: info("C", cat) })).toBe(ended);
    expect(reduce(ended, { type: "status", status: "connected" })).toBe(ended);
  });

  it("maps the ending events to their reasons", () => {
    expect(ROOM_END_EVENTS).toEqual({
      "room-closed": "room-closed",
      "removed-from-room": "removed",
      replaced: "replaced",
    });
    const state = reduce(joinedAsBob(), { type: "ended", reason: ROOM_END_EVENTS.replaced });
    expect(state.ended).toBe("replaced");
  });

  it("in sfu rooms, gives everyone the server connection's state", () => {
    const state = reduce(joinedAsBob("sfu"), { type: "server-connection", connection: "connected" });
    expect(state.participants.every((p) => p.connection === "connected")).toBe(true);
    const joined = reduce(state, { type: "participant-joined", info: info("C", cat) });
    expect(joined.participants[2]?.connection).toBe("connected");
  });

  it("in mesh rooms, tracks each peer's connection", () => {
    const state = reduce(joinedAsBob(), { type: "peer-connection", peerId: "A", connection: "connected" });
    expect(state.participants[0]?.connection).toBe("connected");
  });

  it("clears only the error it is asked to", () => {
    const state = reduce(joinedAsBob(), { type: "error", code: "microphone_denied", message: "denied" });
    expect(reduce(state, { type: "clear-error", code: "connection_failed" })).toBe(state);
    expect(reduce(state, { type: "clear-error" }).error).toBeNull();
  });
});

describe("listening and slots", () => {
  it("keeps who is on which sfu slot, without self, and the same array when unchanged", () => {
    const state = reduce(joinedAsBob("sfu"), {
      type: "speakers",
      event: { roomId: "rm_1", slots: [ann.id, bob.id, null], speaking: [] },
    });
    expect(state.slotOwners).toEqual([ann.id, null, null]);
    const again = reduce(state, {
      type: "speakers",
      event: { roomId: "rm_1", slots: [ann.id, null, null], speaking: [] },
    });
    expect(again.slotOwners).toBe(state.slotOwners);
  });

  it("records how we hear each person", () => {
    const state = reduce(joinedAsBob(), {
      type: "listening",
      userId: ann.id,
      listening: { volume: 0.3, muted: false },
    });
    expect(state.listening[ann.id]).toEqual({ volume: 0.3, muted: false });
    expect(state.participants.every((p) => !p.muted)).toBe(true);
  });

  it("keeps the topic the owner set, and stays unchanged for the same one", () => {
    const renamed = reduce(joinedAsBob(), { type: "topic", topic: "Jazz after dark" });
    expect(renamed.topic).toBe("Jazz after dark");
    expect(reduce(renamed, { type: "topic", topic: "Jazz after dark" })).toBe(renamed);
  });
});
