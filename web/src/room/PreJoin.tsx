// Before entering: the room, who is there, a microphone check, and "Join muted".
import { useCallback, useEffect, useRef, useState } from "react";
import { Link } from "react-router-dom";

import { rooms as roomsApi } from "../api/endpoints";
import type { Room } from "../api/types";
import { rememberedMicrophone, rememberedMute, rememberMicrophone, useCall } from "../call/CallContext";
import { LevelMeter as Meter } from "../call/level";
import { microphoneConstraints, microphoneProblem } from "../call/microphone";
import { Avatar } from "../components/Avatar";
import { usePageTitle } from "../components/usePageTitle";
import { LevelMeter } from "./LevelMeter";
import { MicrophoneHelp } from "./MicrophoneHelp";
import { MicrophoneSelect } from "./MicrophoneSelect";
import { RoomBadges } from "./RoomBadges";
import { useMicrophonePermission, useMicrophones } from "./useMicrophones";

// Above this many people present, joining muted is the default: a surprise open microphone
// in a big room is worse than a moment's "unmute".
export const MUTED_BY_DEFAULT_ABOVE = 4;
// How often the open pre-join asks who is there (only while the page is visible).
export const PRESENCE_REFRESH_MS = 3_000;

/** The room as the server sees it now, refreshed while the page is visible. */
function useFreshRoom(initial: Room): Room {
  const [room, setRoom] = useState(initial);
  useEffect(() => {
    let current = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const schedule = () => {
      clearTimeout(timer);
      if (current && document.visibilityState === "visible") timer = setTimeout(refresh, PRESENCE_REFRESH_MS);
    };
    const refresh = () => {
      roomsApi.get(initial.id).then(
        (answer) => {
          if (current) setRoom(answer);
          schedule();
        },
        // A blip (or the room gone): keep what we know; Join says what is wrong.
        () => schedule(),
      );
    };
    const onVisibility = () => {
      if (document.visibilityState === "visible") refresh();
      else clearTimeout(timer);
    };
    schedule();
    document.addEventListener("visibilitychange", onVisibility);
    return () => {
      current = false;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [initial.id]);
  return room;
}

export function PreJoin({ room: initialRoom }: { room: Room }) {
  const { active, join } = useCall();
  const room = useFreshRoom(initialRoom);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const meterRef = useRef<Meter | null>(null);
  const [microphoneId, setMicrophoneId] = useState(rememberedMicrophone);
  const [granted, setGranted] = useState(false);
  const [problem, setProblem] = useState<{ code: string; message: string } | null>(null);
  // The person's own choice (now, or the last time in this room) wins; otherwise the default
  // follows how many people are there right now.
  const [mutedChoice, setMutedChoice] = useState<boolean | null>(() => rememberedMute(room.id));
  const muted = mutedChoice ?? room.participantCount > MUTED_BY_DEFAULT_ABOVE;
  const microphones = useMicrophones(granted);
  const permission = useMicrophonePermission();
  // Bumped when the browser starts allowing the microphone: the preview opens again.
  const [attempt, setAttempt] = useState(0);
  usePageTitle(room.topic);

  useEffect(() => headingRef.current?.focus(), []);

  // Allowed in the site settings while this page is open: try the preview again, no reload.
  // Once per "granted" (a refusal after it, whatever its cause, does not loop), and whichever
  // comes first: the permission change or the preview's refusal that was already on its way.
  const retried = useRef(false);
  const blocked = problem?.code === "microphone_denied";
  useEffect(() => {
    if (permission !== "granted") {
      retried.current = false;
      return;
    }
    if (blocked && !retried.current) {
      retried.current = true;
      setAttempt((n) => n + 1);
    }
  }, [permission, blocked]);

  // The preview stream: for the level meter and the device labels; stopped before joining.
  useEffect(() => {
    let current = true;
    let stream: MediaStream | null = null;
    if (!navigator.mediaDevices?.getUserMedia) {
      setProblem(microphoneProblem(new DOMException("No media devices", "NotFoundError")));
      return;
    }
    navigator.mediaDevices
      .getUserMedia(microphoneConstraints(microphoneId || undefined))
      .catch((error: unknown) => {
        const name = (error as { name?: string } | null)?.name;
        if (microphoneId && (name === "OverconstrainedError" || name === "NotFoundError")) {
          return navigator.mediaDevices.getUserMedia(microphoneConstraints());
        }
        throw error;
      })
      .then(
        (opened) => {
          if (!current) {
            opened.getTracks().forEach((t) => t.stop());
            return;
          }
          stream = opened;
          const track = opened.getAudioTracks()[0];
          meterRef.current?.close();
          meterRef.current = track ? new Meter(track) : null;
          setProblem(null);
          setGranted(true);
        },
        (error: unknown) => current && setProblem(microphoneProblem(error)),
      );
    return () => {
      current = false;
      stream?.getTracks().forEach((t) => t.stop());
      meterRef.current?.close();
      meterRef.current = null;
    };
  }, [microphoneId, attempt]);

  const readLevel = useCallback(() => meterRef.current?.level() ?? 0, []);
  const others = room.participants;
  const otherCall = active && active.room.id !== room.id && active.state.status !== "ended";
  const selected = microphoneId || (microphones[0]?.deviceId ?? "");

  function enter() {
    meterRef.current?.close();
    meterRef.current = null;
    if (microphoneId) rememberMicrophone(microphoneId);
    join(room, { muted, microphoneId: microphoneId || undefined });
  }

  return (
    <div className="room-page stack">
      <header className="room-header">
        <h1 ref={headingRef} tabIndex={-1}>
          {room.topic}
        </h1>
        <RoomBadges room={room} />
      </header>

      <section className="card prejoin" aria-labelledby="prejoin-heading">
        <h2 id="prejoin-heading">Ready to join?</h2>
        <div className="prejoin-present">
          <h3 id="present-heading">
            {others.length === 0
              ? "Nobody is here yet"
              : `${room.participantCount} ${room.participantCount === 1 ? "person is" : "people are"} here`}
          </h3>
          {others.length > 0 && (
            <ul className="present" aria-labelledby="present-heading">
              {others.map((person) => (
                <li key={person.id}>
                  <Avatar src={person.avatarUrl} name={person.name} />
                  <span>{person.name}</span>
                </li>
              ))}
            </ul>
          )}
        </div>

        {problem ? (
          problem.code === "microphone_denied" ? (
            <MicrophoneHelp insistent={false} place="prejoin" />
          ) : (
            <p className="notice warning">{problem.message}</p>
          )
        ) : (
          <div className="prejoin-microphone">
            <MicrophoneSelect
              id="prejoin-microphone"
              microphones={microphones}
              value={selected}
              onChange={setMicrophoneId}
            />
            {granted && <LevelMeter read={readLevel} label="Microphone level" />}
            {granted && <p className="hint">Say something: the bar moves when the microphone hears you.</p>}
          </div>
        )}

        {room.stage && room.role !== "owner" && (
          <p className="hint">
            This is a stage room: you join as a listener. Raise your hand to ask to speak.
          </p>
        )}
        <label className="check">
          <input type="checkbox" checked={muted} onChange={(e) => setMutedChoice(e.target.checked)} />
          Join muted
        </label>
        {otherCall && (
          <p className="notice warning">Joining this room leaves “{active.room.topic}”.</p>
        )}
        <div className="actions">
          <button type="button" className="button" onClick={enter}>
            Join
          </button>
          <Link className="button secondary" to="/rooms">
            Back to rooms
          </Link>
        </div>
      </section>
    </div>
  );
}
