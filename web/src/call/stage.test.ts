import { describe, expect, it } from "vitest";

import { initialState, reduce, type CallAction } from "./state";
import { ann, bob, cat, dan, info, stageRoomState } from "./test-fixtures";
import type { CallState } from "./types";

function run(state: CallState, ...actions: CallAction[]): CallState {
  return actions.reduce(reduce, state);
}

const listener = (peerId: string, user = bob) => info(peerId, user, false, "listener");

// Bob's view: a listener in Ann's stage room, with Cat also listening.
function bobListening(): CallState {
  return run(initialState("rm_1", "sfu"), {
    type: "room-state",
    event: stageRoomState("B", [listener("B", bob), listener("C", cat)]),
    now: 0,
  });
}

// Ann's view: she hosts; Bob and Cat listen.
function annHosting(extra = {}): CallState {
  return run(initialState("rm_1", "sfu"), {
    type: "room-state",
    event: stageRoomState("A", [listener("B", bob), listener("C", cat)], extra),
    now: 0,
  });
}

describe("stage room-state", () => {
  it("puts the stage in participants and the listeners in the audience", () => {
    const state = bobListening();
    expect(state.stage).toBe(true);
    expect(state.audienceMode).toBe(true);
    expect(state.role).toBe("listener");
    expect(state.participants.map((p) => [p.user.name, p.role])).toEqual([["Ann", "host"]]);
    expect(state.audience.count).toBe(2);
    expect(state.audience.members.map((m) => [m.user.name, m.isSelf])).toEqual([
      ["Bob", true],
      ["Cat", false],
    ]);
  });

  it("reads a room-state without stage fields as a roster (older servers)", () => {
    const state = run(initialState("rm_1", "mesh"), {
      type: "room-state",
      event: { roomId: "rm_1", media: "mesh", ownerId: ann.id, selfPeerId: "B", participants: [info("A", ann), info("B", bob)] },
    });
    expect(state.stage).toBe(false);
    expect(state.audienceMode).toBe(false);
    expect(state.role).toBe("speaker");
    expect(state.participants.map((p) => p.role)).toEqual(["host", "speaker"]);
  });

  it("gives hosts the raised hands in the order they were raised", () => {
    const state = annHosting({
      raisedHands: [
        { peerId: "C", userId: cat.id, user: cat, raisedAt: 20 },
        { peerId: "B", userId: bob.id, user: bob, raisedAt: 10 },
      ],
    });
    expect(state.raisedHands.map((h) => h.user.name)).toEqual(["Bob", "Cat"]);
  });
});

describe("audience-update", () => {
  it("adds joiners and drops leavers, taking the server's count", () => {
    const state = reduce(bobListening(), {
      type: "audience-update",
      event: { roomId: "rm_1", count: 2, joined: [listener("D", dan)], left: [{ peerId: "C", userId: cat.id }], more: false },
    });
    expect(state.audience.members.map((m) => m.user.name)).toEqual(["Bob", "Dan"]);
    expect(state.audience.count).toBe(2);
    expect(state.audience.reloads).toBe(0);
  });

  it("leaves newcomers to the last page while pages remain, and asks for a reload on `more`", () => {
    let state = annHosting();
    state = { ...state, audience: { ...state.audience, nextCursor: "50" } };
    state = reduce(state, {
      type: "audience-update",
      event: { roomId: "rm_1", count: 300, joined: [listener("D", dan)], left: [], more: true },
    });
    expect(state.audience.members.map((m) => m.user.name)).toEqual(["Bob", "Cat"]);
    expect(state.audience.count).toBe(300);
    expect(state.audience.reloads).toBe(1);
  });

  it("puts a listener told of one by one in the audience, never on the stage", () => {
    const state = reduce(bobListening(), { type: "participant-joined", info: listener("D", dan) });
    expect(state.participants.map((p) => p.user.name)).toEqual(["Ann"]);
    expect(state.audience.members.map((m) => m.user.name)).toEqual(["Bob", "Cat", "Dan"]);
  });
});

describe("audience pages", () => {
  it("appends a page once per person, skipping who left meanwhile or is on the stage", () => {
    const state = reduce(bobListening(), {
      type: "audience-page",
      page: {
        participants: [
          { user: cat, role: "listener", muted: false },
          { user: dan, role: "listener", muted: true },
          { user: ann, role: "listener", muted: false },
          { user: { ...dan, id: "usr_eve", name: "Eve" }, role: "listener", muted: false },
        ],
        count: 4,
        nextCursor: "x",
      },
      reset: false,
      selfUserId: bob.id,
      gone: new Set(["usr_eve"]),
    });
    expect(state.audience.members.map((m) => m.user.name)).toEqual(["Bob", "Cat", "Dan"]);
    expect(state.audience.nextCursor).toBe("x");
    expect(state.audience.count).toBe(4);
  });

  it("starts the list again from a reset page", () => {
    const state = reduce(bobListening(), {
      type: "audience-page",
      page: { participants: [{ user: dan, role: "listener", muted: false }], count: 1, nextCursor: null },
      reset: true,
      selfUserId: bob.id,
      gone: new Set(),
    });
    expect(state.audience.members.map((m) => m.user.name)).toEqual(["Dan"]);
  });
});

describe("role-changed", () => {
  it("moves an accepted listener to the stage: audience, hands and our own place follow", () => {
    let state = run(
      bobListening(),
      { type: "self-hand", raised: true },
      { type: "speak-invite", invite: { by: ann.id, expiresInSeconds: 60 }, now: 1_000 },
    );
    expect(state.speakInvite).toEqual({ byUserId: ann.id, byName: "Ann", expiresAt: 61_000 });
    state = reduce(state, {
      type: "role-changed",
      event: { roomId: "rm_1", userId: bob.id, role: "speaker", participant: info("B", bob, false, "speaker") },
      selfUserId: bob.id,
    });
    expect(state.role).toBe("speaker");
    expect(state.handRaised).toBe(false);
    expect(state.speakInvite).toBeNull();
    expect(state.participants.map((p) => [p.user.name, p.role, p.isSelf])).toEqual([
      ["Ann", "host", false],
      ["Bob", "speaker", true],
    ]);
    expect(state.audience.members.map((m) => m.user.name)).toEqual(["Cat"]);
    expect(state.audience.count).toBe(1);
    expect(state.stageNotice?.kind).toBe("on-stage");
  });

  it("moves a speaker back to the audience and says who did it", () => {
    let state = reduce(bobListening(), {
      type: "role-changed",
      event: { roomId: "rm_1", userId: bob.id, role: "speaker", participant: info("B", bob, false, "speaker") },
      selfUserId: bob.id,
    });
    state = reduce(state, {
      type: "role-changed",
      event: { roomId: "rm_1", userId: bob.id, role: "listener", by: ann.id, participant: info("B", bob, false, "listener") },
      selfUserId: bob.id,
    });
    expect(state.role).toBe("listener");
    expect(state.participants.map((p) => p.user.name)).toEqual(["Ann"]);
    expect(state.audience.members.map((m) => [m.user.name, m.isSelf])).toEqual([
      ["Cat", false],
      ["Bob", true],
    ]);
    expect(state.audience.count).toBe(2);
    expect(state.stageNotice).toMatchObject({ kind: "moved-to-audience", byName: "Ann" });
  });

  it("tells a speaker who stepped down that they left the stage", () => {
    let state = reduce(bobListening(), {
      type: "role-changed",
      event: { roomId: "rm_1", userId: bob.id, role: "speaker", participant: info("B", bob, false, "speaker") },
      selfUserId: bob.id,
    });
    state = reduce(state, {
      type: "role-changed",
      event: { roomId: "rm_1", userId: bob.id, role: "listener", participant: info("B", bob, false, "listener") },
      selfUserId: bob.id,
    });
    expect(state.stageNotice?.kind).toBe("left-stage");
  });

  it("updates roles in place in a roster (non-stage) room", () => {
    const state = run(
      initialState("rm_1", "sfu"),
      { type: "room-state", event: { roomId: "rm_1", media: "sfu", ownerId: ann.id, selfPeerId: "A", participants: [info("A", ann), info("B", bob)] } },
      { type: "role-changed", event: { roomId: "rm_1", userId: bob.id, role: "host" }, selfUserId: ann.id },
    );
    expect(state.participants.map((p) => p.role)).toEqual(["host", "host"]);
    expect(state.stageNotice).toBeNull();
  });
});

describe("hands and invitations (hosts)", () => {
  it("keeps the queue in order of raising, and drops a lowered hand", () => {
    let state = run(
      annHosting(),
      { type: "hand-raised", event: { roomId: "rm_1", userId: cat.id, peerId: "C", user: cat, raised: true, raisedAt: 30 }, now: 0 },
      { type: "hand-raised", event: { roomId: "rm_1", userId: bob.id, peerId: "B", user: bob, raised: true, raisedAt: 20 }, now: 0 },
    );
    expect(state.raisedHands.map((h) => h.user.name)).toEqual(["Bob", "Cat"]);
    state = reduce(state, {
      type: "hand-raised",
      event: { roomId: "rm_1", userId: bob.id, peerId: "B", user: bob, raised: false },
      now: 0,
    });
    expect(state.raisedHands.map((h) => h.user.name)).toEqual(["Cat"]);
  });

  it("takes the whole queue a new co-host is given", () => {
    const state = reduce(bobListening(), {
      type: "raised-hands",
      hands: [
        { peerId: "C", userId: cat.id, user: cat, raisedAt: 9 },
        { peerId: "D", userId: dan.id, user: dan, raisedAt: 3 },
      ],
    });
    expect(state.raisedHands.map((h) => h.user.name)).toEqual(["Dan", "Cat"]);
  });

  it("shows where an invitation stands, and forgets it once accepted", () => {
    let state = run(
      annHosting(),
      { type: "hand-raised", event: { roomId: "rm_1", userId: bob.id, peerId: "B", user: bob, raised: true, raisedAt: 1 }, now: 0 },
      { type: "speak-invite-answered", event: { roomId: "rm_1", userId: bob.id, answer: "pending" } },
    );
    expect(state.inviteAnswers[bob.id]).toBe("pending");
    state = reduce(state, { type: "speak-invite-answered", event: { roomId: "rm_1", userId: bob.id, answer: "declined" } });
    expect(state.inviteAnswers[bob.id]).toBe("declined");
    state = reduce(state, { type: "speak-invite-answered", event: { roomId: "rm_1", userId: bob.id, answer: "accepted" } });
    expect(state.raisedHands).toEqual([]);
    expect(state.inviteAnswers[bob.id]).toBeUndefined();
  });

  it("ends a lapsed invitation with a notice, and a declined one quietly", () => {
    const invited = reduce(bobListening(), {
      type: "speak-invite",
      invite: { by: ann.id, expiresInSeconds: 60 },
      now: 0,
    });
    const expired = reduce(invited, { type: "speak-invite-ended", reason: "expired" });
    expect(expired.speakInvite).toBeNull();
    expect(expired.stageNotice?.kind).toBe("invite-expired");
    const declined = reduce(invited, { type: "speak-invite-ended", reason: "declined" });
    expect(declined.speakInvite).toBeNull();
    expect(declined.stageNotice).toBeNull();
  });
});

describe("audience mode in a large non-stage room", () => {
  it("moves everyone but the hosts to the audience on the first audience-update", () => {
    const state = run(
      initialState("rm_1", "sfu"),
      {
        type: "room-state",
        event: { roomId: "rm_1", media: "sfu", ownerId: ann.id, selfPeerId: "B", participants: [info("A", ann), info("B", bob)] },
      },
      { type: "audience-update", event: { roomId: "rm_1", count: 2, joined: [info("C", cat, false, "speaker")], left: [], more: false } },
    );
    expect(state.audienceMode).toBe(true);
    expect(state.participants.map((p) => p.user.name)).toEqual(["Ann"]);
    expect(state.audience.members.map((m) => m.user.name)).toEqual(["Bob", "Cat"]);
  });

  it("lists one-by-one joins and leaves in the audience once the room is back at 50 or fewer", () => {
    let state = run(
      initialState("rm_1", "sfu"),
      {
        type: "room-state",
        event: { roomId: "rm_1", media: "sfu", ownerId: ann.id, selfPeerId: "A", participants: [info("A", ann)] },
      },
      { type: "audience-update", event: { roomId: "rm_1", count: 1, joined: [info("B", bob, false, "speaker")], left: [], more: false } },
      { type: "participant-joined", info: info("C", cat, false, "speaker") },
    );
    expect(state.audience.members.map((m) => m.user.name)).toEqual(["Bob", "Cat"]);
    expect(state.audience.count).toBe(2);
    state = reduce(state, { type: "participant-left", peerId: "B" });
    expect(state.audience.members.map((m) => m.user.name)).toEqual(["Cat"]);
    expect(state.audience.count).toBe(1);
  });
});
