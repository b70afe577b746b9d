// The call's state machine: every CallState change goes through `reduce`, so the rules (who is
// self, what mutedByOwner means, that an ended call stays ended) live in one place.
import type { MuteInfoEvent, ParticipantInfo, RoomStateEvent, SpeakersEvent } from "./events";
import { applySpeakers, slotOwners } from "./slots";
import type {
  CallState,
  Listening,
  CallStatus,
  EndReason,
  MediaMode,
  Participant,
  PeerConnectionState,
  RestartPhase,
} from "./types";

export type CallAction =
  | { type: "status"; status: Exclude<CallStatus, "ended"> }
  | { type: "room-state"; event: RoomStateEvent }
  | { type: "participant-joined"; info: ParticipantInfo }
  | { type: "participant-left"; peerId: string }
  | { type: "mute-info"; event: MuteInfoEvent; selfUserId: string }
  | { type: "self-muted"; muted: boolean }
  | { type: "peer-connection"; peerId: string; connection: PeerConnectionState }
  | { type: "server-connection"; connection: PeerConnectionState }
  | { type: "speaking"; peerId: string; speaking: boolean }
  | { type: "speakers"; event: SpeakersEvent }
  | { type: "error"; message: string; code: string }
  // Clears the error, or only an error with this code.
  | { type: "clear-error"; code?: string }
  | { type: "audio-blocked"; blocked: boolean }
  | { type: "listening"; userId: string; listening: Listening }
  | { type: "topic"; topic: string }
  // The server is restarting (its `server-draining`, or a join refused with server_draining).
  | { type: "server-draining" }
  | { type: "ended"; reason: EndReason };

// Server events that take us out of the room, and the EndReason each one means.
export const ROOM_END_EVENTS = {
  "room-closed": "room-closed",
  "removed-from-room": "removed",
  replaced: "replaced",
} as const satisfies Record<string, EndReason>;
export const SESSION_END_REASON: EndReason = "session-ended";

export function initialState(roomId: string, media: MediaMode): CallState {
  return {
    status: "idle",
    roomId,
    media,
    selfPeerId: null,
    ownerId: null,
    participants: [],
    muted: false,
    mutedByOwner: false,
    error: null,
    errorCode: null,
    ended: null,
    audioBlocked: false,
    serverConnection: "connecting",
    slotOwners: [],
    listening: {},
    topic: null,
    restart: null,
  };
}

export function reduce(state: CallState, action: CallAction): CallState {
  // An ended call is final: late socket events must not bring it back to life.
  if (state.status === "ended") return state;
  switch (action.type) {
    case "status": {
      const restart = restartAfter(state.restart, action.status);
      if (state.status === action.status && state.restart === restart) return state;
      return { ...state, status: action.status, restart };
    }
    case "server-draining":
      return state.restart ? state : { ...state, restart: "announced" };
    case "room-state":
      return roomState(state, action.event);
    case "participant-joined": {
      const others = state.participants.filter((p) => p.peerId !== action.info.peerId);
      return { ...state, participants: [...others, toParticipant(state, action.info)] };
    }
    case "participant-left": {
      const participants = state.participants.filter((p) => p.peerId !== action.peerId);
      return participants.length === state.participants.length ? state : { ...state, participants };
    }
    case "mute-info":
      return muteInfo(state, action.event, action.selfUserId);
    case "topic":
      return state.topic === action.topic ? state : { ...state, topic: action.topic };
    case "self-muted":
      return {
        ...state,
        muted: action.muted,
        // Unmuting ourselves is allowed after an owner's mute and ends it.
        mutedByOwner: action.muted ? state.mutedByOwner : false,
        participants: updateWhere(state.participants, (p) => p.isSelf, { muted: action.muted }),
      };
    case "peer-connection":
      return withParticipants(
        state,
        updateWhere(state.participants, (p) => p.peerId === action.peerId, {
          connection: action.connection,
        }),
      );
    case "server-connection": {
      if (state.serverConnection === action.connection) return state;
      const next = { ...state, serverConnection: action.connection };
      if (state.media === "sfu") {
        next.participants = state.participants.map((p) =>
          p.connection === action.connection ? p : { ...p, connection: action.connection },
        );
      } else {
        next.participants = updateWhere(state.participants, (p) => p.isSelf, {
          connection: action.connection,
        });
      }
      return next;
    }
    case "speaking":
      return withParticipants(
        state,
        updateWhere(state.participants, (p) => p.peerId === action.peerId, {
          speaking: action.speaking,
        }),
      );
    case "speakers": {
      const next = withParticipants(state, applySpeakers(state.participants, action.event));
      const selfUserId = state.participants.find((p) => p.isSelf)?.user.id ?? "";
      const owners = slotOwners(action.event, selfUserId);
      const same =
        owners.length === state.slotOwners.length && owners.every((o, i) => o === state.slotOwners[i]);
      return same ? next : { ...next, slotOwners: owners };
    }
    case "listening":
      return { ...state, listening: { ...state.listening, [action.userId]: action.listening } };
    case "error":
      return { ...state, error: action.message, errorCode: action.code };
    case "clear-error":
      if (state.error === null && state.errorCode === null) return state;
      if (action.code !== undefined && action.code !== state.errorCode) return state;
      return { ...state, error: null, errorCode: null };
    case "audio-blocked":
      return state.audioBlocked === action.blocked ? state : { ...state, audioBlocked: action.blocked };
    case "ended":
      return {
        ...state,
        status: "ended",
        ended: action.reason,
        restart: null,
        serverConnection: "closed",
        participants: state.participants.map((p) => ({ ...p, speaking: false, connection: "closed" })),
      };
  }
}

// A restart notice lasts until we are back in the call: the old server's connection drops
// ("reconnecting"), then we are connected again (to the restarted server: the draining one
// refuses every join, so "connected" cannot come from it).
function restartAfter(restart: RestartPhase | null, status: Exclude<CallStatus, "ended">): RestartPhase | null {
  if (restart === "announced" && status === "reconnecting") return "reconnecting";
  if (restart === "reconnecting" && status === "connected") return null;
  return restart;
}

function roomState(state: CallState, event: RoomStateEvent): CallState {
  const next: CallState = {
    ...state,
    roomId: event.roomId,
    media: event.media,
    ownerId: event.ownerId,
    selfPeerId: event.selfPeerId,
  };
  // Keep what we already know about peers (connection, speaking) across a repeated room-state.
  const known = new Map(state.participants.map((p) => [p.peerId, p]));
  next.participants = event.participants.map((info) => {
    const fresh = toParticipant(next, info);
    const previous = known.get(info.peerId);
    return previous ? { ...fresh, connection: previous.connection, speaking: previous.speaking } : fresh;
  });
  return next;
}

function toParticipant(state: CallState, info: ParticipantInfo): Participant {
  const isSelf = info.peerId === state.selfPeerId;
  let connection: PeerConnectionState;
  if (state.media === "sfu" || isSelf) connection = state.serverConnection;
  else connection = "connecting";
  return {
    peerId: info.peerId,
    user: info.user,
    // Our own mute is decided here, not by the server: after a reconnect the server starts us
    // unmuted until the engine re-sends `mute`.
    muted: isSelf ? state.muted : info.muted,
    speaking: false,
    connection,
    isSelf,
  };
}

function muteInfo(state: CallState, event: MuteInfoEvent, selfUserId: string): CallState {
  const participants = updateWhere(state.participants, (p) => p.user.id === event.userId, {
    muted: event.mute,
  });
  if (event.userId !== selfUserId) return { ...state, participants };
  const byOwner = event.mute && event.by !== undefined && event.by !== selfUserId;
  return {
    ...state,
    participants,
    muted: event.mute,
    mutedByOwner: event.mute ? byOwner || state.mutedByOwner : false,
  };
}

function withParticipants(state: CallState, participants: Participant[]): CallState {
  return participants === state.participants ? state : { ...state, participants };
}

function updateWhere(
  participants: Participant[],
  match: (p: Participant) => boolean,
  patch: Partial<Participant>,
): Participant[] {
  let changed = false;
  const next = participants.map((p) => {
    if (!match(p)) return p;
    const keys = Object.keys(patch) as (keyof Participant)[];
    if (keys.every((k) => p[k] === patch[k])) return p;
    changed = true;
    return { ...p, ...patch };
  });
  return changed ? next : participants;
}
