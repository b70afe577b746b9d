import type { Call, CallState, Participant } from "../call/types";
import { Avatar } from "../components/Avatar";
import { PersonActions, type ActOn } from "./PersonActions";
import { actionsOn, type Viewer } from "./stageActions";

/**
 * Everyone in the call (roster mode: list "Participants"), or the stage of a stage room or a
 * large room (audience mode: region and list "Stage", hosts and speakers).
 */
export function Participants({
  call,
  state,
  ownerId,
  viewer,
  onAction,
  stage = false,
}: {
  call: Call;
  state: CallState;
  ownerId: string;
  viewer: Viewer;
  onAction: ActOn;
  stage?: boolean;
}) {
  const participants = state.participants;
  const id = stage ? "stage-heading" : "participants-heading";
  const count = participants.length;
  return (
    <section className={`card ${stage ? "stage" : ""}`} aria-labelledby={id}>
      <h2 id={id}>{stage ? "Stage" : "Participants"}</h2>
      <p className="muted small">
        {stage
          ? count === 0
            ? "Nobody is on the stage yet."
            : `${count} on the stage`
          : `${count} ${count === 1 ? "person" : "people"} here`}
      </p>
      <ul className="participants" aria-labelledby={id}>
        {participants.map((participant) => (
          <ParticipantItem
            key={participant.peerId}
            call={call}
            participant={participant}
            listening={state.listening[participant.user.id]}
            isOwnerUser={participant.user.id === ownerId}
            actions={actionsOn(viewer, {
              role: participant.role,
              isOwner: participant.user.id === ownerId,
              isSelf: participant.isSelf,
            })}
            onAction={onAction}
          />
        ))}
      </ul>
    </section>
  );
}

/** What a screen reader says for a participant: name, role, mute and speaking state. */
export function participantLabel(participant: Participant, isOwnerUser: boolean): string {
  const parts = [participant.user.name + (participant.isSelf ? " (you)" : "")];
  if (isOwnerUser) parts.push("host");
  else if (participant.role === "host") parts.push("co-host");
  parts.push(participant.muted ? "muted" : "microphone on");
  if (participant.speaking) parts.push("speaking");
  return parts.join(", ");
}

function ParticipantItem({
  call,
  participant,
  listening,
  isOwnerUser,
  actions,
  onAction,
}: {
  call: Call;
  participant: Participant;
  listening: { volume: number; muted: boolean } | undefined;
  isOwnerUser: boolean;
  actions: ReturnType<typeof actionsOn>;
  onAction: ActOn;
}) {
  const { user } = participant;
  const volume = Math.round((listening?.volume ?? 1) * 100);
  const silenced = listening?.muted ?? false;
  const volumeId = `volume-${participant.peerId}`;
  return (
    <li
      className="participant"
      aria-label={participantLabel(participant, isOwnerUser)}
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
          {isOwnerUser ? (
            <span className="role-badge">host</span>
          ) : participant.role === "host" ? (
            <span className="role-badge">co-host</span>
          ) : user.username ? (
            `@${user.username}`
          ) : (
            ""
          )}
          {!participant.isSelf && participant.connection === "connecting" ? " · connecting…" : ""}
          {!participant.isSelf && participant.connection === "failed" ? " · no audio connection" : ""}
        </span>
      </span>
      <span className="participant-state">
        {participant.speaking && <span className="speaking-tag">speaking</span>}
        {participant.muted && (
          <svg className="muted-icon" viewBox="0 0 24 24" role="img" aria-label="muted">
            <path
              d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3Zm5-3a5 5 0 0 1-.6 2.4l1.5 1.5A7 7 0 0 0 19 11h-2ZM4.3 3 3 4.3l6 6V11a3 3 0 0 0 4.4 2.6l1.6 1.6A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 3.4-1.4l3.3 3.3 1.3-1.3Z"
              fill="currentColor"
            />
          </svg>
        )}
      </span>
      {!participant.isSelf && (
        <div className="participant-controls">
          <label className="visually-hidden" htmlFor={volumeId}>
            Volume of {user.name}
          </label>
          <input
            id={volumeId}
            type="range"
            min={0}
            max={100}
            step={5}
            value={volume}
            disabled={silenced}
            aria-valuetext={`${volume}%`}
            onChange={(e) => call.setListening(user.id, { volume: Number(e.target.value) / 100 })}
          />
          <button
            type="button"
            className="button small secondary"
            aria-pressed={silenced}
            aria-label={`Silence ${user.name} for me`}
            onClick={() => call.setListening(user.id, { muted: !silenced })}
          >
            Silence
          </button>
          <PersonActions actions={actions} user={user} muted={participant.muted} onAction={onAction} />
        </div>
      )}
    </li>
  );
}
