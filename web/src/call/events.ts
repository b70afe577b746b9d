// The Socket.IO contract of docs/protocol.md as types. Field names are part of the contract.
import type { MediaMode, PublicProfile, StageRole } from "./types";

export interface ParticipantInfo {
  peerId: string;
  user: PublicProfile;
  muted: boolean;
  // Servers older than stage rooms leave it out (read: owner host, everyone else speaker).
  role?: StageRole;
}

// The audience's first page in room-state (audience mode), or empty (roster mode).
export interface AudienceInfo {
  count: number;
  // Whom the audience holds (the `role` to page it with over REST): listeners in stage rooms.
  role?: StageRole;
  participants: ParticipantInfo[];
  nextCursor: string | null;
}

export interface RaisedHandInfo {
  peerId: string;
  userId: string;
  user: PublicProfile;
  raisedAt?: number; // ms since the epoch
}

export interface SpeakInviteInfo {
  // The inviting host: a user id (the contract), or a profile (read defensively).
  by: string | PublicProfile;
  expiresInSeconds: number;
}

export interface RoomStateEvent {
  roomId: string;
  media: MediaMode;
  ownerId: string;
  selfPeerId: string;
  // In audience mode, the stage members only (hosts and speakers); else everyone.
  participants: ParticipantInfo[];
  // Stage rooms (docs/protocol.md, "Stage rooms"); absent from older servers.
  stage?: boolean;
  role?: StageRole;
  handRaised?: boolean;
  speakInvite?: SpeakInviteInfo | null;
  audience?: AudienceInfo;
  // Hosts only: raised hands in the order they were raised.
  raisedHands?: RaisedHandInfo[];
}

export interface AudienceUpdateEvent {
  roomId: string;
  count: number;
  joined: ParticipantInfo[];
  left: ParticipantLeftEvent[];
  // Some joins or leaves were left out: the list must be fetched again over REST.
  more: boolean;
}

export interface RoleChangedEvent {
  roomId: string;
  userId: string;
  role: StageRole;
  by?: string;
  participant?: ParticipantInfo;
}

export interface HandRaisedEvent {
  roomId: string;
  userId: string;
  peerId: string;
  user: PublicProfile;
  raised: boolean;
  raisedAt?: number;
}

export interface SpeakInviteEvent extends SpeakInviteInfo {
  roomId: string;
}

export interface SpeakInviteEndedEvent {
  roomId: string;
  reason: string; // "expired", or another reason a newer server gives
}

export type SpeakInviteAnswer = "pending" | "accepted" | "declined" | "expired";

export interface SpeakInviteAnsweredEvent {
  roomId: string;
  userId: string;
  answer: SpeakInviteAnswer;
}

export interface RaisedHandsEvent {
  roomId: string;
  hands: RaisedHandInfo[];
}

export interface RemovedFromRoomEvent {
  roomId: string;
  by?: string;
  banned?: boolean;
}

export interface ParticipantLeftEvent {
  peerId: string;
  userId: string;
}

export interface AddPeerEvent {
  peerId: string;
  createOffer: boolean;
  user: PublicProfile;
}

export interface IceCandidateEvent {
  peerId: string;
  icecandidate: RTCIceCandidateInit | null;
}

export interface SessionDescriptionEvent {
  peerId: string;
  sessionDescription: RTCSessionDescriptionInit;
}

export interface MuteInfoEvent {
  userId: string;
  mute: boolean;
  by?: string;
}

export interface RoomEvent {
  roomId: string;
}

export interface RoomUpdatedEvent {
  roomId: string;
  topic: string;
}

export interface SpeakersEvent {
  roomId: string;
  slots: (string | null)[];
  speaking: string[];
}

// The server is shutting down (docs/protocol.md, "Server restarts"): calls may go on for
// `deadlineSeconds`, then the server closes the connection; a restarted server should answer
// after about `retryAfterSeconds`.
export interface ServerDrainingEvent {
  deadlineSeconds: number;
  retryAfterSeconds?: number;
}

export interface ServerEvents {
  "room-state": (event: RoomStateEvent) => void;
  "participant-joined": (event: ParticipantInfo) => void;
  "participant-left": (event: ParticipantLeftEvent) => void;
  "add-peer": (event: AddPeerEvent) => void;
  "remove-peer": (event: { peerId: string }) => void;
  "ice-candidate": (event: IceCandidateEvent) => void;
  "session-description": (event: SessionDescriptionEvent) => void;
  "mute-info": (event: MuteInfoEvent) => void;
  "room-closed": (event: RoomEvent) => void;
  "room-updated": (event: RoomUpdatedEvent) => void;
  "removed-from-room": (event: RemovedFromRoomEvent) => void;
  replaced: (event: RoomEvent) => void;
  "session-ended": (event: Record<string, never>) => void;
  speakers: (event: SpeakersEvent) => void;
  "sfu-failed": (event: RoomEvent) => void;
  "server-draining": (event: ServerDrainingEvent) => void;
  "audience-update": (event: AudienceUpdateEvent) => void;
  "role-changed": (event: RoleChangedEvent) => void;
  "hand-raised": (event: HandRaisedEvent) => void;
  "speak-invite": (event: SpeakInviteEvent) => void;
  "speak-invite-ended": (event: SpeakInviteEndedEvent) => void;
  "speak-invite-answered": (event: SpeakInviteAnsweredEvent) => void;
  // To a new co-host: the queue it now manages.
  "raised-hands": (event: RaisedHandsEvent) => void;
}

// Client → server: payload and the success ack's extra fields.
export interface ClientRequests {
  join: { payload: { roomId: string; user?: PublicProfile }; result: { peerId: string } };
  leave: { payload: { roomId: string }; result: Record<string, never> };
  "relay-ice": {
    payload: { peerId: string; icecandidate: RTCIceCandidateInit | null };
    result: Record<string, never>;
  };
  "relay-sdp": {
    payload: { peerId: string; sessionDescription: RTCSessionDescriptionInit };
    result: Record<string, never>;
  };
  mute: { payload: { roomId: string; userId?: string }; result: Record<string, never> };
  unmute: { payload: { roomId: string; userId?: string }; result: Record<string, never> };
  "mute-participant": { payload: { roomId: string; userId: string }; result: Record<string, never> };
  "sfu-join": {
    payload: { roomId: string; sdp: string; type?: "offer" };
    result: { type: "answer"; sdp: string; slots: number };
  };
  "sfu-leave": { payload: { roomId: string }; result: Record<string, never> };
  "unmute-participant": { payload: { roomId: string; userId: string }; result: Record<string, never> };
  "raise-hand": { payload: { roomId: string }; result: Record<string, never> };
  "lower-hand": { payload: { roomId: string }; result: Record<string, never> };
  "invite-to-speak": { payload: { roomId: string; userId: string }; result: { expiresInSeconds?: number } };
  "accept-speak": { payload: { roomId: string }; result: Record<string, never> };
  "decline-speak": { payload: { roomId: string }; result: Record<string, never> };
  "set-role": { payload: { roomId: string; userId: string; role: StageRole }; result: Record<string, never> };
  "leave-stage": { payload: { roomId: string }; result: Record<string, never> };
  "remove-participant": { payload: { roomId: string; userId: string }; result: Record<string, never> };
}

export type RequestName = keyof ClientRequests;
