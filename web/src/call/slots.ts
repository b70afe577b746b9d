// Pure helpers for the sfu `speakers` event: which user is heard on which receive slot, and
// who is speaking right now.
import type { SpeakersEvent } from "./events";
import type { Participant } from "./types";

// The server never puts our own voice on a slot; a stale or buggy event must still not make us
// appear on one, so self is filtered out here rather than trusted.
export function slotOwners(event: Pick<SpeakersEvent, "slots">, selfUserId: string): (string | null)[] {
  return event.slots.map((userId) => (userId && userId !== selfUserId ? userId : null));
}

export function slotOf(
  event: Pick<SpeakersEvent, "slots">,
  userId: string,
  selfUserId: string,
): number | null {
  const index = slotOwners(event, selfUserId).indexOf(userId);
  return index < 0 ? null : index;
}

export function slotSource(index: number): string {
  return `slot-${index}`;
}

// `speaking` lists everyone speaking (self included: our ring lights up too); returns the same
// array when nothing changed so subscribers are not woken for nothing.
export function applySpeakers(
  participants: Participant[],
  event: Pick<SpeakersEvent, "speaking">,
): Participant[] {
  const speaking = new Set(event.speaking);
  let changed = false;
  const next = participants.map((p) => {
    const now = speaking.has(p.user.id);
    if (now === p.speaking) return p;
    changed = true;
    return { ...p, speaking: now };
  });
  return changed ? next : participants;
}
