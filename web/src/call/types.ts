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

// docs/protocol.md, "Stage rooms": hosts (the owner, co-hosts) and speakers are on the stage
// and may be heard; listeners are not (the server drops their audio whatever they send).
// Non-stage rooms: the owner is "host", everyone else "speaker".
export type StageRole = "host" | "speaker" | "listener";

export interface Participant {
  peerId: string;
  user: PublicProfile;
  muted: boolean;
  role: StageRole;
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
  // sfu: who speaks right now (user ids, from `speakers`), also those in the audience.
  speakingUsers: string[];
  // How loud we play each other person (by user id), set by us only; absent = full volume.
  listening: Record<string, Listening>;
  // The topic from the latest `room-updated` (the owner edited it), or null if unchanged.
  topic: string | null;
  // The server said it is restarting (`server-draining`, or a join refused with
  // `server_draining`): "announced" while this connection still works, "reconnecting" once it
  // dropped; back to null when we are in the call again on the restarted server.
  restart: RestartPhase | null;
  // --- stage rooms and audience mode (docs/protocol.md, "Stage rooms") ---
  stage: boolean;
  // The audience is shown apart from the stage: a stage room, or an sfu room over 50 people.
  audienceMode: boolean;
  // Our own role: it decides whether our microphone is sent at all.
  role: StageRole;
  handRaised: boolean;
  speakInvite: SpeakInvite | null;
  audience: Audience;
  // Hosts only: raised hands in the order they were raised.
  raisedHands: RaisedHand[];
  inviteAnswers: Record<string, InviteAnswer>;
  stageNotice: StageNotice | null;
  // Why we were removed (removed-from-room), for the ended message.
  removal: { byName: string | null; banned: boolean } | null;
}

export type RestartPhase = "announced" | "reconnecting";

// Someone in the audience (audience mode): listeners of a stage room, or everyone but the
// hosts in a large sfu room. Known by user id: REST pages carry no peerId.
export interface AudienceMember {
  userId: string;
  peerId: string | null;
  user: PublicProfile;
  role: StageRole;
  muted: boolean;
  isSelf: boolean;
}

export interface Audience {
  // How many are in the audience now (the server's count, authoritative).
  count: number;
  // Those we know of, in order of arrival: the first page, later pages, and live joins once
  // every page is loaded (before that, newcomers come with the last page).
  members: AudienceMember[];
  // Where the next REST page starts, or null once every page is loaded.
  nextCursor: string | null;
  // Bumped when the server left joins or leaves out (`more`): the list must be loaded again.
  reloads: number;
  // Whom the audience holds, as room-state said (the REST `role` filter); null: not told.
  role: StageRole | null;
}

export interface RaisedHand {
  peerId: string;
  userId: string;
  user: PublicProfile;
  raisedAt: number;
}

export interface SpeakInvite {
  // The inviting host's user id and name (the name "a host" when we do not know them).
  byUserId: string | null;
  byName: string;
  // Date.now() milliseconds at which the invitation lapses.
  expiresAt: number;
}

// Hosts' view of their invitations, by the invited user's id.
export type InviteAnswer = "pending" | "declined" | "expired";
// (An "accepted" answer takes the person off the queue: they are on the stage.)

// What happened to our own place in a stage room, said once in a status message.
export type StageNoticeKind =
  | "moved-to-audience" // a host moved us back
  | "left-stage" // we stepped down ourselves
  | "on-stage" // we accepted an invitation (or a host made us a speaker again)
  | "co-host" // the owner made us a co-host
  | "no-longer-co-host" // the owner made us a speaker again
  | "invite-expired";

export interface StageNotice {
  kind: StageNoticeKind;
  // The host who did it, by name, when the server told us.
  byName: string | null;
  // Increases with every notice: the same notice twice is still news.
  serial: number;
  // Whether we were muted when it happened (what "on the stage" says stays as it was said).
  muted: boolean;
}

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
  // Stage rooms. Each rejects with a SignalingError the server gave (the page shows it).
  setHandRaised(raised: boolean): Promise<void>;
  answerSpeakInvite(accept: boolean): Promise<void>;
  leaveStage(): Promise<void>;
  // Hosts.
  inviteToSpeak(userId: string): Promise<void>;
  setRole(userId: string, role: StageRole): Promise<void>;
  removeParticipant(userId: string): Promise<void>;
  // Loads the audience's next REST page (no-op when all are loaded or a load is under way).
  loadMoreAudience(): Promise<void>;
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
  // A stage room: the sfu offer always carries the microphone's sendonly transceiver, with a
  // track only while we are on the stage (replaceTrack, never a renegotiation).
  stage?: boolean;
  ownerId?: string;
  // Loads a page of the audience (`GET /api/rooms/{id}/participants`); without it the audience
  // is what signaling told us.
  fetchAudience?: (
    roomId: string,
    page: { role: StageRole; cursor: string | null; limit: number },
  ) => Promise<AudiencePageResult>;
}

export interface AudiencePageResult {
  participants: { user: PublicProfile; role: StageRole; muted: boolean }[];
  count: number;
  nextCursor: string | null;
}
