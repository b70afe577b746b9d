import { useEffect, useRef, useState } from "react";

import type { Participant } from "../call/types";

// At most one "X started speaking" per person in this long, so a screen reader is told who
// took the floor without hearing it at every breath.
export const SPEAKING_ANNOUNCE_MS = 8_000;
const KEEP = 6;

/** Polite announcements of others starting to speak, joining and leaving. */
export function useAnnouncements(participants: Participant[], active: boolean): string[] {
  const [messages, setMessages] = useState<string[]>([]);
  const previous = useRef<Map<string, Participant> | null>(null);
  const lastSpoke = useRef(new Map<string, number>());
  useEffect(() => {
    const before = previous.current;
    const now = new Map(participants.map((p) => [p.peerId, p]));
    previous.current = now;
    if (!before || !active) return;
    const said: string[] = [];
    const clock = performance.now();
    for (const p of participants) {
      if (p.isSelf) continue;
      const was = before.get(p.peerId);
      if (!was) said.push(`${p.user.name} joined`);
      else if (p.speaking && !was.speaking) {
        const last = lastSpoke.current.get(p.user.id) ?? -Infinity;
        if (clock - last >= SPEAKING_ANNOUNCE_MS) {
          lastSpoke.current.set(p.user.id, clock);
          said.push(`${p.user.name} started speaking`);
        }
      }
      if (was && was.muted !== p.muted) said.push(`${p.user.name} ${p.muted ? "muted" : "unmuted"}`);
    }
    for (const [peerId, p] of before) {
      if (!p.isSelf && !now.has(peerId)) said.push(`${p.user.name} left`);
    }
    if (said.length > 0) setMessages((old) => [...old, ...said].slice(-KEEP));
  }, [participants, active]);
  return messages;
}
