// Shared fixtures for the call engine's unit tests.
import type { ParticipantInfo, RoomStateEvent } from "./events";
import type { PublicProfile, StageRole } from "./types";

export function profile(id: string, name = id): PublicProfile {
  return { id, name, username: null, bio: "", avatarUrl: "" };
}

export const ann = profile("usr_ann", "Ann");
export const bob = profile("usr_bob", "Bob");
export const cat = profile("usr_cat", "Cat");

export function info(peerId: string, user: PublicProfile, muted = false, role?: StageRole): ParticipantInfo {
  return role ? { peerId, user, muted, role } : { peerId, user, muted };
}

export function roomState(
  selfPeerId: string,
  participants: ParticipantInfo[],
  media: "mesh" | "sfu" = "mesh",
): RoomStateEvent {
  return { roomId: "rm_1", media, ownerId: ann.id, selfPeerId, participants };
}

export const dan = profile("usr_dan", "Dan");

// A stage room Ann owns: Ann hosts; `listeners` are the audience's first page.
export function stageRoomState(
  selfPeerId: string,
  listeners: ParticipantInfo[],
  extra: Partial<RoomStateEvent> = {},
): RoomStateEvent {
  const self = listeners.find((l) => l.peerId === selfPeerId);
  return {
    roomId: "rm_1",
    media: "sfu",
    ownerId: ann.id,
    selfPeerId,
    stage: true,
    role: self ? "listener" : "host",
    handRaised: false,
    speakInvite: null,
    participants: [info("A", ann, false, "host")],
    audience: { count: listeners.length, role: "listener", participants: listeners, nextCursor: null },
    ...extra,
  };
}
