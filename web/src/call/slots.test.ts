import { describe, expect, it } from "vitest";
import { applySpeakers, slotOf, slotOwners, slotSource } from "./slots";
import { initialState, reduce } from "./state";
import { ann, bob, cat, info, roomState } from "./test-fixtures";

describe("speakers → slots", () => {
  const event = { roomId: "rm_1", slots: [cat.id, null, ann.id], speaking: [cat.id, bob.id] };

  it("maps each slot to the user heard on it", () => {
    expect(slotOwners(event, bob.id)).toEqual([cat.id, null, ann.id]);
    expect(slotOf(event, ann.id, bob.id)).toBe(2);
    expect(slotOf(event, "usr_nobody", bob.id)).toBeNull();
    expect(slotSource(2)).toBe("slot-2");
  });

  it("never puts self on a slot", () => {
    const buggy = { slots: [bob.id, cat.id] };
    expect(slotOwners(buggy, bob.id)).toEqual([null, cat.id]);
    expect(slotOf(buggy, bob.id, bob.id)).toBeNull();
  });

  it("sets speaking flags from `speaking`, self included", () => {
    const state = reduce(initialState("rm_1", "sfu"), {
      type: "room-state",
      event: roomState("B", [info("A", ann), info("B", bob), info("C", cat)], "sfu"),
    });
    const next = applySpeakers(state.participants, event);
    expect(next.map((p) => [p.user.id, p.speaking])).toEqual([
      [ann.id, false],
      [bob.id, true],
      [cat.id, true],
    ]);
    // Nothing changed: the same array, so listeners are not woken.
    expect(applySpeakers(next, event)).toBe(next);
    const silent = applySpeakers(next, { speaking: [] });
    expect(silent.every((p) => !p.speaking)).toBe(true);
  });
});
