import { useEffect, useRef, useState } from "react";

import type { Participant, RaisedHand } from "../call/types";

// At most one "X started speaking" per person in this long, so a screen reader is told who
// took the floor without hearing it at every breath.
export const SPEAKING_ANNOUNCE_MS = 8_000;
// At most one "X muted" / "X unmuted" per person in this long: quick toggles are coalesced
// into the state the person ends up in (nothing at all if it is the one last announced).
export const MUTE_ANNOUNCE_MS = 4_000;
// Joins and leaves are gathered this long and said together ("3 people joined" in a busy room).
export const PRESENCE_BATCH_MS = 2_000;
// Named one by one up to this many; beyond, counted.
const NAMED_AT_MOST = 2;
const KEEP = 6;

export interface Announcement {
  // Increases with every message: the live region's elements keep their identity, so a new
  // message inserts one node (a screen reader reads each inserted node).
  id: number;
  text: string;
}

interface MuteTrack {
  name: string;
  said: boolean;
  at: number;
  want: boolean;
}

function together(names: string[], verb: string): string {
  if (names.length > NAMED_AT_MOST) return `${names.length} people ${verb}`;
  return `${names.join(" and ")} ${verb}`;
}

/**
 * What the room's live region says, from successive snapshots of the participants: pure apart
 * from the clock it is given, so tests drive it with their own.
 */
export interface PresenceVerbs {
  joined: string;
  left: string;
}

// In audience mode the list watched is the stage: people come on it and leave it (a
// promotion is not a join).
export const ROOM_VERBS: PresenceVerbs = { joined: "joined", left: "left" };
export const STAGE_VERBS: PresenceVerbs = { joined: "came on the stage", left: "left the stage" };

const NO_HANDS: RaisedHand[] = [];

export class AnnouncementQueue {
  messages: Announcement[] = [];
  verbs: PresenceVerbs = ROOM_VERBS;
  private serial = 0;
  private joined = new Map<string, string>();
  private left = new Map<string, string>();
  private presenceDue: number | null = null;
  private readonly mutes = new Map<string, MuteTrack>();
  private readonly spoke = new Map<string, number>();
  private present = new Set<string>();

  /** Says something now (a raised hand, for hosts); returns true. */
  announce(text: string): boolean {
    return this.say([text]);
  }

  /** Notes what changed between two snapshots; returns whether `messages` changed. */
  observe(before: Participant[], after: Participant[], clock: number): boolean {
    const said: string[] = [];
    const was = new Map(before.filter((p) => !p.isSelf).map((p) => [p.user.id, p]));
    const now = new Map(after.filter((p) => !p.isSelf).map((p) => [p.user.id, p]));
    this.present = new Set(now.keys());
    for (const [userId, p] of now) {
      const old = was.get(userId);
      if (!old) {
        this.arrive(userId, p.user.name, clock);
        continue;
      }
      if (p.speaking && !old.speaking) {
        const last = this.spoke.get(userId) ?? -Infinity;
        if (clock - last >= SPEAKING_ANNOUNCE_MS) {
          this.spoke.set(userId, clock);
          said.push(`${p.user.name} started speaking`);
        }
      }
      if (p.muted !== old.muted) {
        const text = this.muteChanged(userId, p.user.name, p.muted, clock);
        if (text) said.push(text);
      }
    }
    for (const [userId, p] of was) if (!now.has(userId)) this.depart(userId, p.user.name, clock);
    const flushed = this.collect(clock);
    return this.say([...said, ...flushed]);
  }

  /** Says what has become due (coalesced mute states, a batch of joins and leaves). */
  flush(clock: number): boolean {
    return this.say(this.collect(clock));
  }

  /** When `flush` next has something to say, or null. */
  nextDue(): number | null {
    let due = this.presenceDue;
    for (const track of this.mutes.values()) {
      if (track.want === track.said) continue;
      const at = track.at + MUTE_ANNOUNCE_MS;
      due = due === null ? at : Math.min(due, at);
    }
    return due;
  }

  private arrive(userId: string, name: string, clock: number): void {
    // Left and back within the batch (a reconnection): nothing to say.
    if (this.left.delete(userId)) return;
    this.joined.set(userId, name);
    this.presenceDue ??= clock + PRESENCE_BATCH_MS;
  }

  private depart(userId: string, name: string, clock: number): void {
    this.mutes.delete(userId);
    if (this.joined.delete(userId)) return;
    this.left.set(userId, name);
    this.presenceDue ??= clock + PRESENCE_BATCH_MS;
  }

  private muteChanged(userId: string, name: string, muted: boolean, clock: number): string | null {
    const track = this.mutes.get(userId);
    if (!track || (track.want === track.said && clock - track.at >= MUTE_ANNOUNCE_MS)) {
      this.mutes.set(userId, { name, said: muted, at: clock, want: muted });
      return `${name} ${muted ? "muted" : "unmuted"}`;
    }
    track.want = muted;
    track.name = name;
    return null;
  }

  private collect(clock: number): string[] {
    const said: string[] = [];
    for (const [userId, track] of this.mutes) {
      if (track.want === track.said || clock < track.at + MUTE_ANNOUNCE_MS) continue;
      if (!this.present.has(userId)) {
        this.mutes.delete(userId);
        continue;
      }
      track.said = track.want;
      track.at = clock;
      said.push(`${track.name} ${track.want ? "muted" : "unmuted"}`);
    }
    if (this.presenceDue !== null && clock >= this.presenceDue) {
      if (this.joined.size > 0) said.push(together([...this.joined.values()], this.verbs.joined));
      if (this.left.size > 0) said.push(together([...this.left.values()], this.verbs.left));
      this.joined = new Map();
      this.left = new Map();
      this.presenceDue = null;
    }
    return said;
  }

  private say(texts: string[]): boolean {
    if (texts.length === 0) return false;
    const added = texts.map((text) => ({ id: ++this.serial, text }));
    this.messages = [...this.messages, ...added].slice(-KEEP);
    return true;
  }
}

/**
 * Polite announcements of others starting to speak, muting, joining and leaving (in audience
 * mode, `participants` is the stage: coming on it and leaving it); for hosts, `hands` says who
 * raised a hand.
 */
export function useAnnouncements(
  participants: Participant[],
  active: boolean,
  stageMode = false,
  hands: RaisedHand[] = NO_HANDS,
): Announcement[] {
  const [messages, setMessages] = useState<Announcement[]>([]);
  const queue = useRef<AnnouncementQueue | null>(null);
  const previous = useRef<Participant[] | null>(null);
  const previousHands = useRef<Set<string> | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => () => clearTimeout(timer.current), []);

  useEffect(() => {
    const q = (queue.current ??= new AnnouncementQueue());
    q.verbs = stageMode ? STAGE_VERBS : ROOM_VERBS;
  }, [stageMode]);

  useEffect(() => {
    const before = previousHands.current;
    previousHands.current = new Set(hands.map((h) => h.userId));
    // The queue as we found it (room-state) is not news; hands raised after it are.
    if (!before || !active) return;
    const q = (queue.current ??= new AnnouncementQueue());
    const raised = hands.filter((h) => !before.has(h.userId));
    let changed = false;
    for (const hand of raised) changed = q.announce(`${hand.user.name} raised a hand`) || changed;
    if (changed) setMessages(q.messages);
  }, [hands, active]);

  useEffect(() => {
    const before = previous.current;
    previous.current = participants;
    if (!before || !active) {
      clearTimeout(timer.current);
      return;
    }
    const q = (queue.current ??= new AnnouncementQueue());
    const schedule = () => {
      clearTimeout(timer.current);
      const due = q.nextDue();
      if (due === null) return;
      timer.current = setTimeout(
        () => {
          if (q.flush(performance.now())) setMessages(q.messages);
          schedule();
        },
        Math.max(0, due - performance.now()),
      );
    };
    if (q.observe(before, participants, performance.now())) setMessages(q.messages);
    schedule();
  }, [participants, active]);
  return messages;
}
