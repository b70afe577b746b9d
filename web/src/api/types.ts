// The REST API's bodies, as the server's pydantic models (api/*/models.py) put them on the wire.

export interface Me {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string;
  username: string | null;
  bio: string;
  avatarUrl: string;
  createdAt: string;
}

export interface PublicProfile {
  id: string;
  name: string;
  username: string | null;
  bio: string;
  avatarUrl: string;
}

export interface SignedIn {
  user: Me;
  sessionId: string;
  accessToken: string;
  accessTokenExpiresAt: string;
}

export interface Accepted {
  status: string;
  message: string;
}

export interface SessionInfo {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  userAgent: string;
  ip: string;
  current: boolean;
}

export type Visibility = "public" | "private";
export type Media = "mesh" | "sfu";
export type RoomRole = "owner" | "member" | "visitor";

export interface Room {
  id: string;
  topic: string;
  visibility: Visibility;
  media: Media;
  slots: number | null;
  maxParticipants: number;
  // Stage rooms (sfu only): hosts and speakers on the stage, everyone else listens.
  // Absent from servers older than stage rooms: read as false.
  stage?: boolean;
  owner: PublicProfile;
  createdAt: string;
  participantCount: number;
  participants: PublicProfile[];
  role: RoomRole;
}

export interface RoomPage {
  rooms: Room[];
  nextCursor: string | null;
}

export interface CreateRoom {
  topic: string;
  visibility: Visibility;
  media: Media;
  slots?: number;
  maxParticipants?: number;
  stage?: boolean;
}

export type StageRole = "host" | "speaker" | "listener";

/** One person of `GET /api/rooms/{id}/participants` (no peerId: REST knows users). */
export interface RoomParticipant {
  user: PublicProfile;
  role: StageRole;
  muted: boolean;
}

export interface RoomParticipantPage {
  participants: RoomParticipant[];
  // How many match the role now.
  count: number;
  nextCursor: string | null;
}

export interface CreatedInvite {
  id: string;
  roomId: string;
  createdAt: string;
  expiresAt: string;
  maxUses: number | null;
  uses: number;
  url: string;
  token: string;
}

export interface ProfileChanges {
  name?: string;
  username?: string;
  bio?: string;
}
