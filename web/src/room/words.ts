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
  return ENDED_MESSAGES[state.ended] ?? state.error ?? "The call ended because of an error.";
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
