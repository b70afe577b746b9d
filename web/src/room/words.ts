// What the call's states mean, in plain words.
import { SERVER_RESTARTING } from "../call/call";
import type { CallState } from "../call/types";

export const ROOM_MISSING = "This room does not exist or you were not invited";
export const ROOM_CLOSED = "This room was closed";

// Shown (in the call's role=status line) from the server's `server-draining` until the call is
// back on the restarted server.
export { SERVER_RESTARTING };
export const SERVER_RESTARTING_RECONNECTING = "The server is restarting; reconnecting you…";

export function errorInPlainWords(state: CallState): string | null {
  // While the server restarts, failing to reach it is expected: the restart notice says it.
  if (state.restart && state.errorCode === "connection_failed") return null;
  switch (state.errorCode) {
    case "room_full":
      return "This room is full. Try again when someone leaves.";
    case "microphone_denied":
      return "Microphone access was denied: you can listen, but nobody can hear you.";
    case "not_found":
      return ROOM_MISSING;
    case "room_closed":
      return null; // shown as the ended message
    default:
      return state.error;
  }
}

export function connectionInPlainWords(state: CallState): string {
  if (state.status !== "ended" && state.restart) {
    return state.restart === "announced" ? SERVER_RESTARTING : SERVER_RESTARTING_RECONNECTING;
  }
  switch (state.status) {
    case "idle":
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
}

export const ENDED_MESSAGES: Record<string, string> = {
  "room-closed": ROOM_CLOSED,
  removed: "The room's owner removed you from this room.",
  replaced: "You joined this room in another tab or window, so you left it here.",
  "session-ended": "Your session has ended. Sign in again to come back.",
};

export function endedMessage(state: CallState): string | null {
  if (!state.ended || state.ended === "left") return null;
  if (state.errorCode === "room_full") return "This room is full. Try again when someone leaves.";
  if (state.errorCode === "banned_from_room") return BANNED;
  if (state.ended === "removed" && (state.stage || state.removal)) return removedMessage(state);
  return ENDED_MESSAGES[state.ended] ?? state.error ?? "The call ended because of an error.";
}

export const BANNED = "A host removed you from this room: you cannot come back while it is open.";

function removedMessage(state: CallState): string {
  const who = state.removal?.byName ?? (state.stage ? "A host" : "The room's owner");
  const banned = state.removal?.banned ? " You cannot come back while it is open." : "";
  return `${who} removed you from this room.${banned}`;
}

/** Our own place in a stage room, once it changed (a role=status message). */
export function stageNoticeText(state: CallState): string | null {
  const notice = state.stageNotice;
  if (!notice) return null;
  switch (notice.kind) {
    case "moved-to-audience":
      return `You are a listener again: ${notice.byName ?? "a host"} moved you to the audience.`;
    case "left-stage":
      return "You are a listener again: you left the stage.";
    case "on-stage":
      return notice.muted
        ? "You are on the stage. Unmute when you want to speak."
        : "You are on the stage: everyone hears you now.";
    case "co-host":
      return "You are a co-host now: you can invite people to speak, move them and remove them.";
    case "no-longer-co-host":
      return "You are a speaker now, no longer a co-host.";
    case "invite-expired":
      return "The invitation to speak expired.";
  }
}

export function isTextField(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag !== "INPUT") return false;
  const type = (target as HTMLInputElement).type;
  return !["button", "checkbox", "radio", "submit", "reset", "range", "color", "file"].includes(type);
}
