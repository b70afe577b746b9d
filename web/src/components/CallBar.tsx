// The current call on every other page: where it is, mute, leave; the call goes on meanwhile.
import { Link, useLocation } from "react-router-dom";

import { useCall } from "../call/CallContext";
import { endedMessage } from "../room/words";

export function CallBar() {
  const { active, leave, dismiss, toggleMute } = useCall();
  const location = useLocation();
  if (!active) return null;
  const { room, state } = active;
  const roomPath = `/rooms/${room.id}`;
  if (location.pathname === roomPath) return null;
  const ended = state.status === "ended";
  // A stage room's listener sends no microphone: nothing to mute.
  const onStage = !state.stage || state.role !== "listener";
  const message = ended ? (endedMessage(state) ?? "The call ended.") : null;
  return (
    <aside className="call-bar" aria-label="Current call">
      <span className={`dot dot-${ended ? "ended" : state.status}`} aria-hidden="true" />
      <span className="call-bar-room">
        {ended ? "Call ended:" : "In the call"}{" "}
        <Link to={roomPath} aria-label={`Back to the room ${room.topic}`}>
          {room.topic}
        </Link>
      </span>
      {message ? (
        <>
          <span className="call-bar-message">{message}</span>
          <button type="button" className="button small secondary" onClick={dismiss}>
            Dismiss
          </button>
        </>
      ) : (
        <span className="actions">
          {onStage && (
            <button
              type="button"
              className={`button small ${state.muted ? "warn" : ""}`}
              onClick={toggleMute}
            >
              {state.muted ? "Unmute" : "Mute"}
            </button>
          )}
          <button type="button" className="button small secondary" onClick={() => void leave()}>
            Leave
          </button>
        </span>
      )}
      {!ended && state.errorCode === "microphone_denied" && state.muted && (
        <span className="call-bar-message">
          The browser blocks your microphone: <Link to={roomPath}>see how to allow it</Link>.
        </span>
      )}
    </aside>
  );
}
