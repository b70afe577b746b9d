import { describe, expect, it } from "vitest";

import { actionLabel, actionsOn } from "./stageActions";

const owner = { stage: true, role: "host" as const, isOwner: true };
const coHost = { stage: true, role: "host" as const, isOwner: false };
const speaker = { stage: true, role: "speaker" as const, isOwner: false };

describe("host actions", () => {
  it("lets hosts invite and remove listeners", () => {
    expect(actionsOn(coHost, { role: "listener", isOwner: false, isSelf: false })).toEqual(["invite", "remove"]);
  });

  it("lets only the owner make co-hosts and act on them", () => {
    expect(actionsOn(owner, { role: "speaker", isOwner: false, isSelf: false })).toEqual([
      "mute",
      "make-co-host",
      "move-to-audience",
      "remove",
    ]);
    expect(actionsOn(coHost, { role: "speaker", isOwner: false, isSelf: false })).toEqual([
      "mute",
      "move-to-audience",
      "remove",
    ]);
    expect(actionsOn(coHost, { role: "host", isOwner: false, isSelf: false })).toEqual([]);
    expect(actionsOn(owner, { role: "host", isOwner: false, isSelf: false })).toContain("make-speaker");
  });

  it("offers nothing on the owner, on oneself, or to non-hosts", () => {
    expect(actionsOn(coHost, { role: "host", isOwner: true, isSelf: false })).toEqual([]);
    expect(actionsOn(owner, { role: "host", isOwner: true, isSelf: true })).toEqual([]);
    expect(actionsOn(speaker, { role: "listener", isOwner: false, isSelf: false })).toEqual([]);
  });

  it("keeps the owner's mute as the one action of non-stage rooms", () => {
    const roomOwner = { stage: false, role: "host" as const, isOwner: true };
    expect(actionsOn(roomOwner, { role: "speaker", isOwner: false, isSelf: false })).toEqual(["mute"]);
  });

  it("names each button after the person", () => {
    expect(actionLabel("invite", "Bob").label).toBe("Invite Bob to speak");
    expect(actionLabel("move-to-audience", "Bob").label).toBe("Move Bob to the audience");
    expect(actionLabel("make-co-host", "Bob").label).toBe("Make Bob a co-host");
    expect(actionLabel("remove", "Bob").label).toBe("Remove Bob");
  });
});
