// Building and patching the call's Participant records (shared by the roster and the stage).
import type { ParticipantInfo } from "./events";
import type { CallState, Participant, PeerConnectionState, StageRole } from "./types";

// Servers older than stage rooms send no role: the owner hosts, everyone else may speak.
export function roleOf(info: Pick<ParticipantInfo, "role" | "user">, ownerId: string | null): StageRole {
  if (info.role === "host" || info.role === "speaker" || info.role === "listener") return info.role;
  return info.user.id === ownerId ? "host" : "speaker";
}

// Who stands on the stage in audience mode: in stage rooms hosts and speakers, in large
// non-stage rooms the hosts only (docs/protocol.md, "Audience mode").
export function isStageMember(role: StageRole, stage: boolean): boolean {
  return stage ? role !== "listener" : role === "host";
}

export function toParticipant(state: CallState, info: ParticipantInfo): Participant {
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
    role: roleOf(info, state.ownerId),
    speaking: false,
    connection,
    isSelf,
  };
}

export function updateWhere(
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
