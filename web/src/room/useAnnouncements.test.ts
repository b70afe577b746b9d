import { describe, expect, it } from "vitest";

import type { Participant } from "../call/types";
import { ann, bob, profile } from "../call/test-fixtures";
import {
  AnnouncementQueue,
  MUTE_ANNOUNCE_MS,
  PRESENCE_BATCH_MS,
  SPEAKING_ANNOUNCE_MS,
  STAGE_VERBS,
} from "./useAnnouncements";

function person(user = bob, changes: Partial<Participant> = {}): Participant {
  return {
    peerId: `peer-${user.id}`,
    user,
    muted: false,
    role: "speaker",
    speaking: false,
    connection: "connected",
    isSelf: false,
    ...changes,
  };
}

const self = person(ann, { isSelf: true });

/** Feeds snapshots one after another, `step` ms apart; returns the queue. */
function drive(snapshots: Participant[][], step = 100): { queue: AnnouncementQueue; clock: number } {
  const queue = new AnnouncementQueue();
  let clock = 0;
  for (let i = 1; i < snapshots.length; i++) {
    clock += step;
    queue.observe(snapshots[i - 1], snapshots[i], clock);
  }
  return { queue, clock };
}

const texts = (queue: AnnouncementQueue) => queue.messages.map((m) => m.text);

describe("announcements", () => {
  it("give every message its own increasing id", () => {
    const queue = new AnnouncementQueue();
    let before = [self, person()];
    let clock = 0;
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) {
      clock += MUTE_ANNOUNCE_MS;
      const after = [self, person(bob, { muted: i % 2 === 0 })];
      queue.observe(before, after, clock);
      before = after;
      ids.push(queue.messages[queue.messages.length - 1].id);
    }
    expect(new Set(ids).size).toBe(10);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(queue.messages.length).toBe(6);
  });

  it("coalesce quick mute toggles into the state the person ends up in", () => {
    const snapshots = [[self, person()]];
    for (let i = 0; i < 10; i++) snapshots.push([self, person(bob, { muted: i % 2 === 0 })]);
    // 10 toggles: muted, unmuted, ... ending unmuted.
    const { queue, clock } = drive(snapshots);
    expect(texts(queue)).toEqual(["Bob muted"]);
    expect(queue.nextDue()).toBe(100 + MUTE_ANNOUNCE_MS);
    queue.flush(clock + MUTE_ANNOUNCE_MS);
    expect(texts(queue)).toEqual(["Bob muted", "Bob unmuted"]);
    expect(queue.nextDue()).toBeNull();
  });

  it("say nothing more when the toggles end where they were announced", () => {
    const { queue, clock } = drive([
      [self, person()],
      [self, person(bob, { muted: true })],
      [self, person(bob, { muted: false })],
      [self, person(bob, { muted: true })],
    ]);
    expect(queue.flush(clock + MUTE_ANNOUNCE_MS)).toBe(false);
    expect(texts(queue)).toEqual(["Bob muted"]);
  });

  it("gather joins and leaves, and count them in a busy room", () => {
    const cat = profile("usr_cat", "Cat");
    const dan = profile("usr_dan", "Dan");
    const queue = new AnnouncementQueue();
    queue.observe([self], [self, person(bob)], 0);
    queue.observe([self, person(bob)], [self, person(bob), person(cat), person(dan)], 500);
    expect(texts(queue)).toEqual([]);
    expect(queue.nextDue()).toBe(PRESENCE_BATCH_MS);
    queue.flush(PRESENCE_BATCH_MS);
    expect(texts(queue)).toEqual(["3 people joined"]);

    queue.observe([self, person(bob), person(cat), person(dan)], [self, person(dan)], 5_000);
    queue.flush(5_000 + PRESENCE_BATCH_MS);
    expect(texts(queue)).toEqual(["3 people joined", "Bob and Cat left"]);
  });

  it("say nothing of a reconnection (left and back within the batch)", () => {
    const queue = new AnnouncementQueue();
    queue.observe([self, person()], [self], 0);
    queue.observe([self], [self, person(bob, { peerId: "new-peer" })], 300);
    expect(queue.flush(PRESENCE_BATCH_MS)).toBe(false);
    expect(texts(queue)).toEqual([]);
  });

  it("say who started speaking at most every few seconds", () => {
    const queue = new AnnouncementQueue();
    queue.observe([self, person()], [self, person(bob, { speaking: true })], 0);
    queue.observe([self, person(bob, { speaking: true })], [self, person()], 100);
    queue.observe([self, person()], [self, person(bob, { speaking: true })], 200);
    expect(texts(queue)).toEqual(["Bob started speaking"]);
    queue.observe([self, person()], [self, person(bob, { speaking: true })], SPEAKING_ANNOUNCE_MS + 1);
    expect(texts(queue)).toEqual(["Bob started speaking", "Bob started speaking"]);
  });

  it("say who came on the stage and left it, in audience mode", () => {
    const queue = new AnnouncementQueue();
    queue.verbs = STAGE_VERBS;
    queue.observe([self], [self, person()], 0);
    queue.flush(PRESENCE_BATCH_MS);
    queue.observe([self, person()], [self], PRESENCE_BATCH_MS + 1);
    queue.flush(2 * PRESENCE_BATCH_MS + 1);
    queue.announce("Cat raised a hand");
    expect(texts(queue)).toEqual(["Bob came on the stage", "Bob left the stage", "Cat raised a hand"]);
  });
});
