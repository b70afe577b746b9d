// The contract between the room page and the call engine (mesh or sfu).
// The engine owns the Socket.IO connection, the RTCPeerConnections and the <audio> elements;
// the page only renders `CallState` and calls the methods below.

export type MediaMode = "mesh" | "sfu";

export interface PublicProfile {
  id: string;
  name: string;
  username: string | null;
  bio: string;
  avatarUrl: string;
}

export type PeerConnectionState = "connecting" | "connected" | "failed" | "closed";

export interface Participant {
  peerId: string;
  user: PublicProfile;
  muted: boolean;
  speaking: boolean;
  // mesh: the direct connection to this peer; sfu: "connected" for everyone once ours is up.
  connection: PeerConnectionState;
  isSelf: boolean;
}

export type CallStatus = "idle" | "connecting" | "connected" | "reconnecting" | "ended";
export type EndReason =
  | "left"
  | "room-closed"
  | "removed"
  | "replaced"
  | "session-ended"
  | "error";

export interface CallState {
  status: CallStatus;
  roomId: string;
  media: MediaMode;
  selfPeerId: string | null;
  ownerId: string | null;
  participants: Participant[];
  muted: boolean;
  // Set by the owner's mute-participant; the engine has already muted the microphone.
  mutedByOwner: boolean;
  // A user-facing message for the last failure (microphone denied, room full, ...), or null.
  error: string | null;
  errorCode: string | null;
  ended: EndReason | null;
  // The browser blocked autoplay: show "click to enable audio", then call enableAudio().
  audioBlocked: boolean;
  // sfu: the server-side connection state; mesh: "connected" once the socket has joined.
  serverConnection: PeerConnectionState;
  // sfu: whose voice each receive slot carries (user ids; null = nobody); mesh: [].
  slotOwners: (string | null)[];
  // How loud we play each other person (by user id), set by us only; absent = full volume.
  listening: Record<string, Listening>;
  // The topic from the latest `room-updated` (the owner edited it), or null if unchanged.
  topic: string | null;
  // The server said it is restarting (`server-draining`, or a join refused with
  // `server_draining`): "announced" while this connection still works, "reconnecting" once it
  // dropped; back to null when we are in the call again on the restarted server.
  restart: RestartPhase | null;
}

export type RestartPhase = "announced" | "reconnecting";

export interface Listening {
  volume: number; // 0..1, the <audio> element's volume
  muted: boolean; // silenced for us only
}

export interface InboundAudioStats {
  // mesh: the remote peerId; sfu: "slot-<index>"
  source: string;
  packetsReceived: number;
  totalAudioEnergy: number;
}

export interface Call {
  readonly state: CallState;
  subscribe(listener: (state: CallState) => void): () => void;
  // Connects the socket (cookie auth), joins the room, opens the microphone, sets up media.
  start(): Promise<void>;
  setMuted(muted: boolean): Promise<void>;
  muteParticipant(userId: string): Promise<void>;
  setMicrophone(deviceId: string): Promise<void>;
  enableAudio(): Promise<void>;
  inboundAudioStats(): Promise<InboundAudioStats[]>;
  // Our microphone's level right now (RMS 0..1), heard even while muted; 0 without a microphone.
  localLevel(): number;
  // How we hear one other person (volume and/or local mute); nobody else is affected.
  setListening(userId: string, change: Partial<Listening>): void;
  leave(): Promise<void>;
}

export interface CallOptions {
  roomId: string;
  media: MediaMode;
  slots: number; // sfu receive slots (the room's `slots`), ignored for mesh
  self: PublicProfile;
  audioContainer: HTMLElement;
  iceServers?: RTCIceServer[];
  microphoneId?: string;
  // Join with the microphone off (the pre-join "Join muted").
  startMuted?: boolean;
}
