// The Socket.IO contract of docs/protocol.md as types. Field names are part of the contract.
import type { MediaMode, PublicProfile } from "./types";

export interface ParticipantInfo {
  peerId: string;
  user: PublicProfile;
  muted: boolean;
}

export interface RoomStateEvent {
  roomId: string;
  media: MediaMode;
  ownerId: string;
  selfPeerId: string;
  participants: ParticipantInfo[];
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
  "removed-from-room": (event: RoomEvent) => void;
  replaced: (event: RoomEvent) => void;
  "session-ended": (event: Record<string, never>) => void;
  speakers: (event: SpeakersEvent) => void;
  "sfu-failed": (event: RoomEvent) => void;
  "server-draining": (event: ServerDrainingEvent) => void;
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
}

export type RequestName = keyof ClientRequests;
