// The call's state machine: every CallState change goes through `reduce`, so the rules (who is
// self, what mutedByOwner means, that an ended call stays ended) live in one place.
import type {
  AudienceUpdateEvent,
  HandRaisedEvent,
  MuteInfoEvent,
  ParticipantInfo,
  RoleChangedEvent,
  RoomStateEvent,
  SpeakersEvent,
  SpeakInviteAnsweredEvent,
  SpeakInviteInfo,
  RaisedHandInfo,
} from "./events";
import { isStageMember, toParticipant, updateWhere } from "./participant";
import { applySpeakers, slotOwners } from "./slots";
import {
  audiencePage,
  audienceUpdate,
  EMPTY_AUDIENCE,
  handRaised,
  raisedHands,
  roleChanged,
  speakInvite,
  speakInviteAnswered,
  speakInviteEnded,
  stageFromRoomState,
  type AudiencePage,
} from "./stage";
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
  | { type: "room-state"; event: RoomStateEvent; now?: number }
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
  | { type: "ended"; reason: EndReason }
  // Stage rooms and audience mode (stage.ts).
  | { type: "audience-update"; event: AudienceUpdateEvent }
  | { type: "audience-page"; page: AudiencePage; reset: boolean; selfUserId: string; gone: ReadonlySet<string> }
  | { type: "role-changed"; event: RoleChangedEvent; selfUserId: string }
  | { type: "hand-raised"; event: HandRaisedEvent; now: number }
  | { type: "self-hand"; raised: boolean }
  | { type: "speak-invite"; invite: SpeakInviteInfo; now: number }
  | { type: "speak-invite-ended"; reason: string }
  | { type: "speak-invite-answered"; event: SpeakInviteAnsweredEvent }
  | { type: "raised-hands"; hands: RaisedHandInfo[] }
  | { type: "removal"; byName: string | null; banned: boolean };

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
    speakingUsers: [],
    listening: {},
    topic: null,
    restart: null,
    stage: false,
    audienceMode: false,
    role: "speaker",
    handRaised: false,
    speakInvite: null,
    audience: EMPTY_AUDIENCE,
    raisedHands: [],
    inviteAnswers: {},
    stageNotice: null,
    removal: null,
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
      return roomState(state, action.event, action.now ?? Date.now());
    case "participant-joined":
      return participantJoined(state, action.info);
    case "participant-left":
      return participantLeft(state, action.peerId);
    case "audience-update":
      return audienceUpdate(state, action.event);
    case "audience-page":
      return audiencePage(state, action.page, action.reset, action.selfUserId, action.gone);
    case "role-changed":
      return roleChanged(state, action.event, action.selfUserId);
    case "hand-raised":
      return handRaised(state, action.event, action.now);
    case "self-hand":
      return state.handRaised === action.raised ? state : { ...state, handRaised: action.raised };
    case "speak-invite":
      return speakInvite(state, action.invite, action.now);
    case "speak-invite-ended":
      return speakInviteEnded(state, action.reason);
    case "speak-invite-answered":
      return speakInviteAnswered(state, action.event);
    case "raised-hands":
      return raisedHands(state, action.hands);
    case "removal":
      return { ...state, removal: { byName: action.byName, banned: action.banned } };
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
      const speaking = action.event.speaking;
      const sameSpeaking =
        speaking.length === state.speakingUsers.length && speaking.every((u, i) => u === state.speakingUsers[i]);
      const withSpeaking = sameSpeaking ? next : { ...next, speakingUsers: [...speaking] };
      return same ? withSpeaking : { ...withSpeaking, slotOwners: owners };
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

function participantJoined(state: CallState, info: ParticipantInfo): CallState {
  const others = state.participants.filter((p) => p.peerId !== info.peerId);
  const participant = toParticipant(state, info);
  if (state.audienceMode && !isStageMember(participant.role, state.stage)) {
    // Audience joins come in audience-update, except in a large room shrunk back to 50 or
    // fewer: the server tells joins one by one again, and they join the audience we show.
    const members = state.audience.members.filter((m) => m.userId !== info.user.id);
    const member = {
      userId: info.user.id,
      peerId: info.peerId,
      user: info.user,
      role: participant.role,
      muted: info.muted,
      isSelf: participant.isSelf,
    };
    const count = state.audience.count + (members.length === state.audience.members.length ? 1 : 0);
    return { ...state, audience: { ...state.audience, members: [...members, member], count } };
  }
  return { ...state, participants: [...others, participant] };
}

function participantLeft(state: CallState, peerId: string): CallState {
  const participants = state.participants.filter((p) => p.peerId !== peerId);
  const members = state.audience.members.filter((m) => m.peerId !== peerId);
  const raisedHands = state.raisedHands.filter((h) => h.peerId !== peerId);
  if (
    participants.length === state.participants.length &&
    members.length === state.audience.members.length &&
    raisedHands.length === state.raisedHands.length
  ) {
    return state;
  }
  // Someone we list in the audience left one by one (a large room at 50 or fewer again).
  const count = Math.max(0, state.audience.count - (state.audience.members.length - members.length));
  return { ...state, participants, raisedHands, audience: { ...state.audience, members, count } };
}

function roomState(state: CallState, event: RoomStateEvent, now: number): CallState {
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
  return stageFromRoomState(next, event, now);
}

function muteInfo(state: CallState, event: MuteInfoEvent, selfUserId: string): CallState {
  const participants = updateWhere(state.participants, (p) => p.user.id === event.userId, {
    muted: event.mute,
  });
  let audience = state.audience;
  if (audience.members.some((m) => m.userId === event.userId && m.muted !== event.mute)) {
    const members = audience.members.map((m) => (m.userId === event.userId ? { ...m, muted: event.mute } : m));
    audience = { ...audience, members };
  }
  if (event.userId !== selfUserId) return { ...state, participants, audience };
  const byOwner = event.mute && event.by !== undefined && event.by !== selfUserId;
  return {
    ...state,
    participants,
    audience,
    muted: event.mute,
    mutedByOwner: event.mute ? byOwner || state.mutedByOwner : false,
  };
}

function withParticipants(state: CallState, participants: Participant[]): CallState {
  return participants === state.participants ? state : { ...state, participants };
}
