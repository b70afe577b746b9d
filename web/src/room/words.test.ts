import { describe, expect, it } from "vitest";

import { initialState } from "../call/state";
import type { CallState, StageNoticeKind } from "../call/types";
import { endedMessage, stageNoticeText } from "./words";

function withNotice(kind: StageNoticeKind, byName: string | null, muted = false): CallState {
  return { ...initialState("rm_1", "sfu"), stage: true, muted, stageNotice: { kind, byName, serial: 1, muted } };
}

describe("stage words", () => {
  it("tells a listener again who moved them, or that they stepped down", () => {
    expect(stageNoticeText(withNotice("moved-to-audience", "Ann"))).toBe(
      "You are a listener again: Ann moved you to the audience.",
    );
    expect(stageNoticeText(withNotice("moved-to-audience", null))).toBe(
      "You are a listener again: a host moved you to the audience.",
    );
    expect(stageNoticeText(withNotice("left-stage", null))).toBe("You are a listener again: you left the stage.");
  });

  it("says on the stage whether they are heard yet", () => {
    expect(stageNoticeText(withNotice("on-stage", "Ann", true))).toMatch(/Unmute when you want to speak/);
    expect(stageNoticeText(withNotice("on-stage", "Ann", false))).toMatch(/everyone hears you now/);
  });

  it("names the host who removed us, and a ban", () => {
    const state: CallState = {
      ...initialState("rm_1", "sfu"),
      stage: true,
      status: "ended",
      ended: "removed",
      removal: { byName: "Ann", banned: true },
    };
    expect(endedMessage(state)).toBe("Ann removed you from this room. You cannot come back while it is open.");
    expect(endedMessage({ ...state, removal: null })).toBe("A host removed you from this room.");
  });
});
