// A host invites us (a listener) to speak: join the stage or not, before the invitation lapses.
// Not modal: the call goes on around it; it takes the focus once, and Escape means "Not now".
import { useEffect, useRef, useState } from "react";

import type { SpeakInvite } from "../call/types";

export function inviteTitle(invite: SpeakInvite): string {
  return `${invite.byName} invites you to speak`;
}

export function secondsLeft(invite: SpeakInvite, now: number): number {
  return Math.max(0, Math.ceil((invite.expiresAt - now) / 1000));
}

export function SpeakInvitePrompt({
  invite,
  muted,
  busy,
  onAnswer,
}: {
  invite: SpeakInvite;
  muted: boolean;
  busy: boolean;
  onAnswer: (accept: boolean) => void;
}) {
  const joinRef = useRef<HTMLButtonElement>(null);
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    joinRef.current?.focus();
  }, [invite]);

  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, []);

  const left = secondsLeft(invite, now);
  return (
    <section
      className="card speak-invite"
      role="alertdialog"
      aria-modal="false"
      aria-labelledby="speak-invite-title"
      aria-describedby="speak-invite-body"
      onKeyDown={(event) => {
        if (event.key === "Escape" && !busy) {
          event.preventDefault();
          onAnswer(false);
        }
      }}
    >
      <h2 id="speak-invite-title">{inviteTitle(invite)}</h2>
      <p id="speak-invite-body">
        {muted
          ? "On the stage everyone can hear you once you unmute."
          : "On the stage everyone hears you: your microphone is on."}{" "}
        <span className="muted">
          {left > 0 ? `This invitation ends in ${left} s.` : "This invitation is ending."}
        </span>
      </p>
      <div className="actions">
        <button ref={joinRef} type="button" className="button" disabled={busy} onClick={() => onAnswer(true)}>
          Join the stage
        </button>
        <button type="button" className="button secondary" disabled={busy} onClick={() => onAnswer(false)}>
          Not now
        </button>
      </div>
    </section>
  );
}
