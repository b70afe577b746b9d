import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";

import { ApiError } from "../api/client";
import { rooms as roomsApi } from "../api/endpoints";
import { describeError } from "../api/messages";
import type { Me, Room } from "../api/types";
import { createCall } from "../call";
import type { Call, CallState, Participant, PublicProfile } from "../call/types";
import { Avatar } from "../components/Avatar";
import { Loading } from "../components/Status";
import { useSession } from "../session/SessionContext";

declare global {
  interface Window {
    gethoryCall?: Call;
  }
}

export const ROOM_MISSING = "This room does not exist or you were not invited";
export const ROOM_CLOSED = "This room was closed";

export function RoomPage() {
  const { id = "" } = useParams();
  const { user } = useSession();
  const [room, setRoom] = useState<Room | null>(null);
  const [failure, setFailure] = useState<{ message: string; closed: boolean } | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let current = true;
    setRoom(null);
    setFailure(null);
    roomsApi.get(id).then(
      (answer) => current && setRoom(answer),
      (error: unknown) => {
        if (!current) return;
        if (error instanceof ApiError && error.status === 404) {
          setFailure({ message: ROOM_MISSING, closed: false });
        } else if (error instanceof ApiError && error.status === 410) {
          setFailure({ message: ROOM_CLOSED, closed: true });
        } else {
          setFailure({ message: describeError(error), closed: false });
        }
      },
    );
    return () => {
      current = false;
    };
  }, [id, attempt]);

  if (failure) {
    const recoverable = !failure.closed && failure.message !== ROOM_MISSING;
    return (
      <section className="card narrow">
        <h1>{failure.closed ? "Room closed" : "Cannot open this room"}</h1>
        <p className="error" role="alert">
          {failure.message}
        </p>
        <div className="actions">
          {recoverable && (
            <button type="button" className="button" onClick={() => setAttempt((n) => n + 1)}>
              Try again
            </button>
          )}
          <Link className="button secondary" to="/rooms">
            Back to rooms
          </Link>
        </div>
      </section>
    );
  }
  if (!room || !user) return <Loading label="Opening the room…" />;
  return <RoomCall key={room.id} room={room} me={user} />;
}

function publicProfile(me: Me): PublicProfile {
  return {
    id: me.id,
    name: me.name,
    username: me.username,
    bio: me.bio,
    avatarUrl: me.avatarUrl,
  };
}

function isTextField(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag !== "INPUT") return false;
  const type = (target as HTMLInputElement).type;
  return !["button", "checkbox", "radio", "submit", "reset", "range", "color", "file"].includes(type);
}

function errorInPlainWords(state: CallState): string | null {
  switch (state.errorCode) {
    case "room_full":
      return "This room is full. Try again when someone leaves.";
    case "microphone_denied":
      return "Microphone access was denied: you can listen, but nobody can hear you. Allow the microphone for this site in your browser to speak.";
    case "not_found":
      return ROOM_MISSING;
    case "room_closed":
      return null; // shown as the ended message
    default:
      return state.error;
  }
}

function connectionInPlainWords(state: CallState | null, starting: boolean): string {
  if (!state || state.status === "idle" || (starting && state.status === "connecting")) {
    return "Connecting…";
  }
  switch (state.status) {
    case "connecting":
      return "Connecting…";
    case "reconnecting":
      return "Connection lost. Reconnecting…";
    case "ended":
      return state.ended === "left" ? "You left the room." : "You are no longer in the call.";
    case "connected":
      if (state.serverConnection === "connecting") return "Connected. Setting up audio…";
      if (state.serverConnection === "failed") return "The audio connection dropped. Reconnecting…";
      return "Connected";
  }
  return "Connecting…";
}

const ENDED_MESSAGES: Record<string, string> = {
  "room-closed": ROOM_CLOSED,
  removed: "The room's owner removed you from this room.",
  replaced: "You joined this room in another tab or window, so you left it here.",
  "session-ended": "Your session has ended. Sign in again to come back.",
};

interface Microphone {
  deviceId: string;
  label: string;
}

function RoomCall({ room, me }: { room: Room; me: Me }) {
  const navigate = useNavigate();
  const audioRef = useRef<HTMLDivElement>(null);
  const callRef = useRef<Call | null>(null);
  const leftRef = useRef(false);
  const selfRef = useRef(publicProfile(me));
  const [state, setState] = useState<CallState | null>(null);
  const [starting, setStarting] = useState(true);
  const [startError, setStartError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [closedHere, setClosedHere] = useState(false);
  const [closing, setClosing] = useState(false);
  const [invite, setInvite] = useState<{ url: string; copied: boolean } | null>(null);
  const [inviteBusy, setInviteBusy] = useState(false);
  const [microphones, setMicrophones] = useState<Microphone[]>([]);
  const [microphoneId, setMicrophoneId] = useState("");
  const isOwner = room.role === "owner";

  useEffect(() => {
    const container = audioRef.current;
    if (!container) return;
    leftRef.current = false;
    let call: Call;
    try {
      call = createCall({
        roomId: room.id,
        media: room.media,
        slots: room.slots ?? 3,
        self: selfRef.current,
        audioContainer: container,
      });
    } catch (error) {
      setStartError(describeError(error));
      setStarting(false);
      return;
    }
    callRef.current = call;
    window.gethoryCall = call;
    setState(call.state);
    const unsubscribe = call.subscribe(setState);
    call.start().then(
      () => setStarting(false),
      (error: unknown) => {
        setStarting(false);
        setStartError(describeError(error));
      },
    );
    return () => {
      unsubscribe();
      if (window.gethoryCall === call) delete window.gethoryCall;
      callRef.current = null;
      if (!leftRef.current) {
        leftRef.current = true;
        void call.leave().catch(() => undefined);
      }
    };
  }, [room.id, room.media, room.slots]);

  const status = state?.status ?? "idle";
  const ended = state?.ended ?? null;
  const active = !ended && status !== "ended" && !closedHere;

  // The microphones, once the call has asked for one (labels need the permission).
  useEffect(() => {
    if (status !== "connected" || !navigator.mediaDevices?.enumerateDevices) return;
    let current = true;
    const list = () => {
      navigator.mediaDevices
        .enumerateDevices()
        .then((devices) => {
          if (!current) return;
          const inputs = devices.filter((d) => d.kind === "audioinput" && d.deviceId);
          setMicrophones(
            inputs.map((d, index) => ({
              deviceId: d.deviceId,
              label: d.label || `Microphone ${index + 1}`,
            })),
          );
        })
        .catch(() => undefined);
    };
    list();
    navigator.mediaDevices.addEventListener?.("devicechange", list);
    return () => {
      current = false;
      navigator.mediaDevices.removeEventListener?.("devicechange", list);
    };
  }, [status]);

  const toggleMute = useCallback(() => {
    const call = callRef.current;
    if (!call) return;
    setActionError(null);
    call.setMuted(!call.state.muted).catch((error: unknown) => setActionError(describeError(error)));
  }, []);

  // `m` mutes and unmutes, unless the person is typing somewhere.
  useEffect(() => {
    if (!active) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== "m" && event.key !== "M") return;
      if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
      if (isTextField(event.target)) return;
      event.preventDefault();
      toggleMute();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [active, toggleMute]);

  async function leave() {
    const call = callRef.current;
    leftRef.current = true;
    try {
      await call?.leave();
    } catch {
      // Leaving locally never fails in a way the person can act on.
    }
    navigate("/rooms");
  }

  async function closeRoom() {
    setActionError(null);
    setClosing(true);
    try {
      await roomsApi.close(room.id);
      setClosedHere(true);
    } catch (error) {
      setActionError(
        error instanceof ApiError && error.status === 410 ? null : describeError(error),
      );
      if (error instanceof ApiError && error.status === 410) setClosedHere(true);
    } finally {
      setClosing(false);
    }
  }

  async function copyInvite() {
    setActionError(null);
    setInviteBusy(true);
    try {
      const created = await roomsApi.createInvite(room.id);
      setInvite({ url: created.url, copied: false });
      try {
        await navigator.clipboard.writeText(created.url);
        setInvite({ url: created.url, copied: true });
      } catch {
        // No clipboard permission: the link is on screen to copy by hand.
      }
    } catch (error) {
      setActionError(describeError(error));
    } finally {
      setInviteBusy(false);
    }
  }

  function changeMicrophone(deviceId: string) {
    setMicrophoneId(deviceId);
    setActionError(null);
    callRef.current
      ?.setMicrophone(deviceId)
      .catch((error: unknown) => setActionError(describeError(error)));
  }

  function muteParticipant(participant: Participant) {
    setActionError(null);
    callRef.current
      ?.muteParticipant(participant.user.id)
      .catch((error: unknown) => setActionError(describeError(error)));
  }

  const participants = state?.participants ?? [];
  const endedMessage = closedHere
    ? ROOM_CLOSED
    : ended && ended !== "left"
      ? (ENDED_MESSAGES[ended] ?? state?.error ?? "The call ended because of an error.")
      : null;
  const callError = state ? errorInPlainWords(state) : null;
  const problem = endedMessage ? null : (startError ?? callError);
  const connection = endedMessage
    ? "You are no longer in the call."
    : connectionInPlainWords(state, starting && !startError);
  const microphoneValue = useMemo(
    () => microphoneId || (microphones[0]?.deviceId ?? ""),
    [microphoneId, microphones],
  );

  return (
    <div className="room-page stack">
      <div ref={audioRef} className="audio-sink" hidden aria-hidden="true" />
      <header className="room-header">
        <div>
          <h1>{room.topic}</h1>
          <p className="room-meta">
            <span className="badge">{room.media === "sfu" ? "SFU" : "Mesh"}</span>
            <span className="badge subtle">{room.visibility === "private" ? "Private" : "Public"}</span>
            <span className="muted small">hosted by {room.owner.name}</span>
          </p>
        </div>
      </header>

      <div className="call-status card" role="status" aria-live="polite">
        <span className={`dot dot-${endedMessage ? "ended" : status}`} aria-hidden="true" />
        <span>{connection}</span>
        {problem && <span className="call-problem">{problem}</span>}
      </div>

      {endedMessage ? (
        <section className="card ended">
          <p className="ended-message">{endedMessage}</p>
          <div className="actions">
            {ended === "session-ended" ? (
              <Link className="button" to={`/signin?next=${encodeURIComponent(`/rooms/${room.id}`)}`}>
                Sign in again
              </Link>
            ) : null}
            <Link className="button secondary" to="/rooms">
              Back to rooms
            </Link>
          </div>
        </section>
      ) : (
        <>
          {state?.audioBlocked && (
            <button
              type="button"
              className="button big"
              onClick={() => void callRef.current?.enableAudio().catch(() => undefined)}
            >
              Click to enable audio
            </button>
          )}

          <section className="card controls" aria-label="Call controls">
            <div className="actions">
              <button
                type="button"
                className={`button ${state?.muted ? "warn" : ""}`}
                onClick={toggleMute}
                disabled={!state}
                aria-describedby="mute-hint"
              >
                {state?.muted ? "Unmute" : "Mute"}
              </button>
              <button type="button" className="button secondary" onClick={() => void leave()}>
                Leave
              </button>
            </div>
            <p className="hint" id="mute-hint">
              Press M to mute or unmute.
            </p>
            {state?.mutedByOwner && state.muted && (
              <p className="notice">The room's owner muted you. Unmute when you want to speak.</p>
            )}
            {microphones.length > 0 && (
              <div className="field">
                <label htmlFor="microphone-select">Microphone</label>
                <select
                  id="microphone-select"
                  value={microphoneValue}
                  onChange={(e) => changeMicrophone(e.target.value)}
                >
                  {microphones.map((mic) => (
                    <option key={mic.deviceId} value={mic.deviceId}>
                      {mic.label}
                    </option>
                  ))}
                </select>
              </div>
            )}
            {actionError && (
              <p className="error" role="alert">
                {actionError}
              </p>
            )}
          </section>

          {isOwner && (
            <section className="card owner-controls" aria-labelledby="owner-heading">
              <h2 id="owner-heading">Host controls</h2>
              <div className="actions">
                {room.visibility === "private" && (
                  <button
                    type="button"
                    className="button secondary"
                    disabled={inviteBusy}
                    onClick={() => void copyInvite()}
                  >
                    Copy invite link
                  </button>
                )}
                <button
                  type="button"
                  className="button danger"
                  disabled={closing}
                  onClick={() => void closeRoom()}
                >
                  Close room
                </button>
              </div>
              {invite && (
                <div className="invite">
                  <span id="invite-link-label" className="invite-label">
                    Invite link
                  </span>
                  <code id="invite-link" className="invite-url" aria-labelledby="invite-link-label">
                    {invite.url}
                  </code>
                  <span className="muted small">
                    {invite.copied
                      ? "Copied to your clipboard."
                      : "Copy the link above and send it to the people you want to invite."}
                  </span>
                </div>
              )}
            </section>
          )}

          <section className="card" aria-labelledby="participants-heading">
            <h2 id="participants-heading">Participants</h2>
            <p className="muted small">
              {participants.length} {participants.length === 1 ? "person" : "people"} here
            </p>
            <ul className="participants" aria-labelledby="participants-heading">
              {participants.map((participant) => (
                <ParticipantItem
                  key={participant.peerId}
                  participant={participant}
                  isOwnerUser={participant.user.id === (state?.ownerId ?? room.owner.id)}
                  canMute={isOwner && !participant.isSelf}
                  onMute={() => muteParticipant(participant)}
                />
              ))}
            </ul>
          </section>
        </>
      )}
    </div>
  );
}

function ParticipantItem({
  participant,
  isOwnerUser,
  canMute,
  onMute,
}: {
  participant: Participant;
  isOwnerUser: boolean;
  canMute: boolean;
  onMute: () => void;
}) {
  const { user } = participant;
  return (
    <li
      className="participant"
      data-speaking={participant.speaking ? "true" : "false"}
      data-muted={participant.muted ? "true" : "false"}
    >
      <span className="participant-avatar">
        <Avatar src={user.avatarUrl} name={user.name} />
      </span>
      <span className="participant-text">
        <span className="participant-name">
          {user.name}
          {participant.isSelf && <span className="muted"> (you)</span>}
        </span>
        <span className="muted small">
          {isOwnerUser ? "host" : user.username ? `@${user.username}` : ""}
          {!participant.isSelf && participant.connection === "connecting" ? " · connecting…" : ""}
          {!participant.isSelf && participant.connection === "failed" ? " · no audio connection" : ""}
        </span>
      </span>
      {participant.muted && (
        <svg className="muted-icon" viewBox="0 0 24 24" role="img" aria-label="muted">
          <path
            d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3Zm5-3a5 5 0 0 1-.6 2.4l1.5 1.5A7 7 0 0 0 19 11h-2ZM4.3 3 3 4.3l6 6V11a3 3 0 0 0 4.4 2.6l1.6 1.6A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 3.4-1.4l3.3 3.3 1.3-1.3Z"
            fill="currentColor"
          />
        </svg>
      )}
      {canMute && (
        <button
          type="button"
          className="button small secondary"
          disabled={participant.muted}
          onClick={onMute}
        >
          Mute {user.name}
        </button>
      )}
    </li>
  );
}
