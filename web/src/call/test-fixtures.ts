// Shared fixtures for the call engine's unit tests.
import type { ParticipantInfo, RoomStateEvent } from "./events";
import type { PublicProfile } from "./types";

export function profile(id: string, name = id): PublicProfile {
  return { id, name, username: null, bio: "", avatarUrl: "" };
}

export const ann = profile("usr_ann", "Ann");
export const bob = profile("usr_bob", "Bob");
export const cat = profile("usr_cat", "Cat");

export function info(peerId: string, user: PublicProfile, muted = false): ParticipantInfo {
  return { peerId, user, muted };
}

export function roomState(
  selfPeerId: string,
  participants: ParticipantInfo[],
  media: "mesh" | "sfu" = "mesh",
): RoomStateEvent {
  return { roomId: "rm_1", media, ownerId: ann.id, selfPeerId, participants };
}
