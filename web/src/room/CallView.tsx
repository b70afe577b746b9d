// The room while in its call: controls, host actions, participants, and the announcements a
// screen reader hears. The call itself lives in CallProvider, so this view can come and go.
import { useCallback, useEffect, useRef, useState } from "react";
import { Link, useNavigate } from "react-router-dom";

import { ApiError } from "../api/client";
import { rooms as roomsApi } from "../api/endpoints";
import { describeError } from "../api/messages";
import type { Room } from "../api/types";
import type { ActiveCall } from "../call/CallContext";
import { useCall } from "../call/CallContext";
import type { PublicProfile } from "../call/types";
import { usePageTitle } from "../components/usePageTitle";
import { ConfirmDialog } from "./ConfirmDialog";
import { LevelMeter } from "./LevelMeter";
import { MicrophoneHelp } from "./MicrophoneHelp";
import { MicrophoneSelect } from "./MicrophoneSelect";
import { AudienceList } from "./AudienceList";
import { Participants } from "./Participants";
import { RaisedHands } from "./RaisedHands";
import { SpeakInvitePrompt } from "./SpeakInvitePrompt";
import type { StageAction, Viewer } from "./stageActions";
import { RoomBadges } from "./RoomBadges";
import { TopicEditor } from "./TopicEditor";
import { useAnnouncements } from "./useAnnouncements";
import { useMicrophonePermission, useMicrophones } from "./useMicrophones";
import {
  connectionInPlainWords,
  endedMessage as endedMessageOf,
  errorInPlainWords,
  isTextField,
  ROOM_CLOSED,
  stageNoticeText,
} from "./words";

// The local level above which a muted person is told they are speaking into a muted mic, and
// how long the hint stays after the last loud moment.
const MUTED_SPEECH_LEVEL = 0.03;
const MUTED_SPEECH_HOLD_MS = 2_500;

export function CallView({ active }: { active: ActiveCall }) {
  const { room, call, state } = active;
  const { leave, dismiss, join, updateRoom, setMuted } = useCall();
  const navigate = useNavigate();
  const headingRef = useRef<HTMLHeadingElement>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [closedHere, setClosedHere] = useState(false);
  const [confirmClose, setConfirmClose] = useState(false);
  const [closing, setClosing] = useState(false);
  const [editing, setEditing] = useState(false);
  const [invite, setInvite] = useState<{ url: string; copied: boolean } | null>(null);
  const [inviteBusy, setInviteBusy] = useState(false);
  const [roomLink, setRoomLink] = useState<{ url: string; copied: boolean } | null>(null);
  const [microphoneId, setMicrophoneId] = useState(active.choices.microphoneId ?? "");
  const [unmuteRefused, setUnmuteRefused] = useState(0);
  const [speakingMuted, setSpeakingMuted] = useState(false);
  const [handBusy, setHandBusy] = useState(false);
  const [answering, setAnswering] = useState(false);
  const [confirmRemove, setConfirmRemove] = useState<PublicProfile | null>(null);
  const [removing, setRemoving] = useState(false);
  const muteRef = useRef<HTMLButtonElement>(null);
  const raiseRef = useRef<HTMLButtonElement>(null);
  const isOwner = room.role === "owner";
  // Stage rooms: listeners have no microphone to mute (it is not sent at all).
  const stage = state.stage || room.stage === true;
  const onStage = !stage || state.role !== "listener";
  const isHost = stage && state.role === "host";
  const viewer: Viewer = { stage, role: state.role, isOwner };
  const ownerId = state.ownerId ?? room.owner.id;
  usePageTitle(room.topic);

  useEffect(() => headingRef.current?.focus(), []);

  const status = state.status;
  const ended = state.ended;
  const live = !ended && status !== "ended" && !closedHere;
  const hasMicrophone = !state.errorCode?.startsWith("microphone_") || !state.muted;
  const microphones = useMicrophones(status === "connected" && hasMicrophone);
  const permission = useMicrophonePermission();
  const announcements = useAnnouncements(
    state.participants,
    live,
    state.audienceMode,
    state.stage && state.role === "host" ? state.raisedHands : undefined,
  );
  const denied = state.errorCode === "microphone_denied" && state.muted;

  const toggleMute = useCallback(() => {
    setActionError(null);
    const wantUnmute = call.state.muted;
    setMuted(!call.state.muted).then(
      () => {
        if (wantUnmute && call.state.muted && call.state.errorCode?.startsWith("microphone_")) {
          setUnmuteRefused((n) => n + 1);
        } else {
          setUnmuteRefused(0);
        }
      },
      (error: unknown) => setActionError(describeError(error)),
    );
  }, [call, setMuted]);

  // Our role changed (on the stage, or back in the audience): the button that was pressed may
  // be gone; the focus goes to the control that took its place.
  const previousRole = useRef(state.role);
  useEffect(() => {
    if (previousRole.current === state.role) return;
    previousRole.current = state.role;
    const focused = document.activeElement;
    if (focused && focused !== document.body) return;
    (onStage ? muteRef : raiseRef).current?.focus();
  }, [state.role, onStage]);

  // `m` mutes and unmutes, unless the person is typing somewhere (and only on the stage).
  useEffect(() => {
    if (!live || !onStage) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== "m" && event.key !== "M") return;
      if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
      if (isTextField(event.target)) return;
      if (document.querySelector("dialog[open]")) return;
      event.preventDefault();
      toggleMute();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [live, onStage, toggleMute]);

  // Muted but talking: the microphone still hears (on a clone of the track), nobody else does.
  useEffect(() => {
    if (!live || !state.muted) {
      setSpeakingMuted(false);
      return;
    }
    let lastLoud = -Infinity;
    const timer = setInterval(() => {
      const now = performance.now();
      if (call.localLevel() >= MUTED_SPEECH_LEVEL) lastLoud = now;
      setSpeakingMuted(now - lastLoud <= MUTED_SPEECH_HOLD_MS);
    }, 100);
    return () => clearInterval(timer);
  }, [live, state.muted, call]);

  const readLevel = useCallback(() => call.localLevel(), [call]);

  function leaveRoom() {
    navigate("/rooms");
    void leave();
  }

  async function closeRoom() {
    setActionError(null);
    setClosing(true);
    try {
      await roomsApi.close(room.id);
      // Everyone, us included, gets room-closed from the server, which ends the call.
      setClosedHere(true);
      setConfirmClose(false);
    } catch (error) {
      if (error instanceof ApiError && error.status === 410) {
        setClosedHere(true);
        setConfirmClose(false);
      } else {
        setActionError(describeError(error));
        setConfirmClose(false);
      }
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

  async function copyRoomLink() {
    const url = `${window.location.origin}/rooms/${encodeURIComponent(room.id)}`;
    setRoomLink({ url, copied: false });
    try {
      await navigator.clipboard.writeText(url);
      setRoomLink({ url, copied: true });
    } catch {
      // As for invites: the link is shown to copy by hand.
    }
  }

  function changeMicrophone(deviceId: string) {
    setMicrophoneId(deviceId);
    setActionError(null);
    call.setMicrophone(deviceId).catch((error: unknown) => setActionError(describeError(error)));
  }

  function attempt(work: Promise<void>) {
    work.catch((error: unknown) => setActionError(describeError(error)));
  }

  // A host's action on someone (stage, audience or raised hands).
  function act(action: StageAction, user: PublicProfile) {
    setActionError(null);
    switch (action) {
      case "invite":
        return attempt(call.inviteToSpeak(user.id));
      case "mute":
        return attempt(call.muteParticipant(user.id));
      case "make-co-host":
        return attempt(call.setRole(user.id, "host"));
      case "make-speaker":
        return attempt(call.setRole(user.id, "speaker"));
      case "move-to-audience":
        return attempt(call.setRole(user.id, "listener"));
      case "remove":
        return setConfirmRemove(user);
    }
  }

  async function removeConfirmed(user: PublicProfile) {
    setRemoving(true);
    try {
      await call.removeParticipant(user.id);
    } catch (error) {
      setActionError(describeError(error));
    } finally {
      setRemoving(false);
      setConfirmRemove(null);
    }
  }

  function toggleHand() {
    setActionError(null);
    setHandBusy(true);
    call
      .setHandRaised(!state.handRaised)
      .catch((error: unknown) => setActionError(describeError(error)))
      .finally(() => setHandBusy(false));
  }

  function answerInvite(accept: boolean) {
    setActionError(null);
    setAnswering(true);
    call
      .answerSpeakInvite(accept)
      .catch((error: unknown) => setActionError(describeError(error)))
      .finally(() => {
        setAnswering(false);
        if (!accept) raiseRef.current?.focus();
      });
  }

  function leaveStage() {
    setActionError(null);
    attempt(call.leaveStage());
  }

  function saved(changed: Room) {
    updateRoom(changed);
  }

  const endedText = closedHere ? ROOM_CLOSED : endedMessageOf(state);
  const callError = errorInPlainWords(state);
  const problem = endedText ? null : callError;
  const connection = endedText ? "You are no longer in the call." : connectionInPlainWords(state);
  const microphoneValue = microphoneId || (microphones[0]?.deviceId ?? "");
  const others = state.participants.length + (state.audienceMode ? state.audience.count : 0);
  const notice = stageNoticeText(state);
  const canRetry = !closedHere && (state.errorCode === "room_full" || ended === "replaced" || ended === "error");

  return (
    <div className="room-page stack">
      <header className="room-header">
        <div>
          <h1 ref={headingRef} tabIndex={-1}>
            {room.topic}
          </h1>
          <RoomBadges room={room} />
        </div>
        {isOwner && live && !editing && (
          <button type="button" className="button secondary small" onClick={() => setEditing(true)}>
            Edit topic
          </button>
        )}
      </header>
      {editing && <TopicEditor room={room} onSaved={saved} onClose={() => setEditing(false)} />}

      <div className="call-status card" role="status" aria-live="polite">
        <span className={`dot dot-${endedText ? "ended" : status}`} aria-hidden="true" />
        <span>{connection}</span>
        {problem && <span className="call-problem">{problem}</span>}
      </div>
      <div className="visually-hidden" aria-live="polite" id="room-announcements">
        {announcements.map((message) => (
          <p key={message.id}>{message.text}</p>
        ))}
      </div>

      {endedText ? (
        <section className="card ended">
          <p className="ended-message">{endedText}</p>
          <div className="actions">
            {canRetry && (
              <button type="button" className="button" onClick={() => join(room, active.choices)}>
                Try again
              </button>
            )}
            {ended === "session-ended" ? (
              <Link className="button" to={`/signin?next=${encodeURIComponent(`/rooms/${room.id}`)}`}>
                Sign in again
              </Link>
            ) : null}
            <Link className="button secondary" to="/rooms" onClick={dismiss}>
              Back to rooms
            </Link>
          </div>
        </section>
      ) : (
        <>
          {state.audioBlocked && (
            <button
              type="button"
              className="button big"
              onClick={() => void call.enableAudio().catch(() => undefined)}
            >
              Click to enable audio
            </button>
          )}

          {state.speakInvite && !onStage && (
            <SpeakInvitePrompt invite={state.speakInvite} muted={state.muted} busy={answering} onAnswer={answerInvite} />
          )}

          <section className="card controls" aria-label="Call controls">
            <div className="actions">
              {onStage && (
                <button
                  ref={muteRef}
                  type="button"
                  className={`button ${state.muted ? "warn" : ""}`}
                  onClick={toggleMute}
                  aria-describedby="mute-hint"
                >
                  {state.muted ? "Unmute" : "Mute"}
                </button>
              )}
              {!onStage && (
                <button
                  ref={raiseRef}
                  type="button"
                  className={`button raise-hand ${state.handRaised ? "raised" : "secondary"}`}
                  aria-pressed={state.handRaised}
                  aria-describedby="hand-hint"
                  disabled={handBusy}
                  onClick={toggleHand}
                >
                  <svg className="hand-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
                    <path
                      d="M23 5.5V20c0 2.2-1.8 4-4 4h-7.3c-1.08 0-2.1-.43-2.85-1.19L1 14.83s1.26-1.23 1.3-1.25c.22-.19.49-.29.79-.29.22 0 .42.06.6.16.04.01 4.31 2.46 4.31 2.46V4c0-.83.67-1.5 1.5-1.5S11 3.17 11 4v7h1V1.5c0-.83.67-1.5 1.5-1.5S15 .67 15 1.5V11h1V2.5c0-.83.67-1.5 1.5-1.5s1.5.67 1.5 1.5V11h1V5.5c0-.83.67-1.5 1.5-1.5s1.5.67 1.5 1.5z"
                      fill="currentColor"
                    />
                  </svg>
                  Raise hand
                </button>
              )}
              {stage && onStage && !isOwner && (
                <button type="button" className="button secondary" onClick={leaveStage}>
                  Leave stage
                </button>
              )}
              <button type="button" className="button secondary" onClick={leaveRoom}>
                Leave
              </button>
            </div>
            {stage && (
              <p className="stage-notice" role="status">
                {notice}
              </p>
            )}
            {!onStage && (
              <p className="hint" id="hand-hint">
                {state.handRaised
                  ? "Your hand is raised: the hosts see it and may invite you to speak."
                  : "You are listening. Raise your hand to ask to speak."}
              </p>
            )}
            {onStage && (
              <>
                <div className="mute-state" aria-live="polite">
                  {state.mutedByOwner && state.muted && (
                    <p className="notice warning">
                      {stage ? "A host muted you." : "The room's owner muted you."} Unmute when you want to speak.
                    </p>
                  )}
                  {state.muted && !denied && (
                    <p className="you-muted">
                      {speakingMuted
                        ? "You are speaking but muted: press Unmute (or M) to be heard."
                        : "You are muted"}
                    </p>
                  )}
                </div>
                {!state.muted && <LevelMeter read={readLevel} label="Your microphone level" />}
                <p className="hint" id="mute-hint">
                  Press M to mute or unmute.
                </p>
              </>
            )}
            {denied && (
              <MicrophoneHelp key={unmuteRefused} insistent={unmuteRefused > 0} />
            )}
            {denied && permission === "granted" && (
              <p className="notice">The microphone is allowed now: press Unmute to speak.</p>
            )}
            <MicrophoneSelect
              id="microphone-select"
              microphones={microphones}
              value={microphoneValue}
              onChange={changeMicrophone}
            />
            {room.visibility === "public" && (
              <div className="actions">
                <button type="button" className="button secondary small" onClick={() => void copyRoomLink()}>
                  Copy room link
                </button>
              </div>
            )}
            {roomLink && (
              <div className="invite">
                <span id="room-link-label" className="invite-label">
                  Room link
                </span>
                <code className="invite-url" aria-labelledby="room-link-label">
                  {roomLink.url}
                </code>
                <span className="muted small" aria-live="polite">
                  {roomLink.copied ? "Copied to your clipboard." : "Copy the link above to share the room."}
                </span>
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
                  onClick={() => setConfirmClose(true)}
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

          {isHost && <RaisedHands state={state} ownerId={ownerId} viewer={viewer} onAction={act} />}

          <Participants
            call={call}
            state={state}
            ownerId={ownerId}
            viewer={viewer}
            onAction={act}
            stage={state.audienceMode}
          />
          {state.audienceMode && (
            <AudienceList call={call} state={state} ownerId={ownerId} viewer={viewer} onAction={act} />
          )}
        </>
      )}
      {confirmRemove && (
        <ConfirmDialog
          title={`Remove ${confirmRemove.name} from the room?`}
          confirmLabel="Remove from the room"
          busy={removing}
          onConfirm={() => void removeConfirmed(confirmRemove)}
          onCancel={() => setConfirmRemove(null)}
        >
          <p>
            {confirmRemove.name} leaves the call now
            {room.visibility === "public"
              ? " and cannot come back while the room is open."
              : " and is no longer a member of this private room."}
          </p>
        </ConfirmDialog>
      )}
      {confirmClose && (
        <ConfirmDialog
          title="Close this room for everyone?"
          confirmLabel="Close room for everyone"
          busy={closing}
          onConfirm={() => void closeRoom()}
          onCancel={() => setConfirmClose(false)}
        >
          <p>
            {others} {others === 1 ? "person" : "people"} will be disconnected (you included), and
            nobody can join it again. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
