// Stage rooms and audience mode (docs/protocol.md, "Stage rooms"): who is on the stage, who is
// in the audience, raised hands, invitations to speak, and our own role. Pure functions of
// CallState that `reduce` (state.ts) calls; the clock comes in as an argument.
import type {
  AudienceInfo,
  AudienceUpdateEvent,
  HandRaisedEvent,
  ParticipantInfo,
  RaisedHandInfo,
  RoleChangedEvent,
  RoomStateEvent,
  SpeakInviteAnsweredEvent,
  SpeakInviteInfo,
} from "./events";
import { isStageMember, roleOf, toParticipant, updateWhere } from "./participant";
import type {
  AudiencePageResult,
  Audience,
  AudienceMember,
  CallState,
  RaisedHand,
  SpeakInvite,
  StageNoticeKind,
  StageRole,
} from "./types";

export const EMPTY_AUDIENCE: Audience = { count: 0, members: [], nextCursor: null, reloads: 0, role: null };

// A page of `GET /api/rooms/{id}/participants`.
export type AudiencePage = AudiencePageResult;

export function selfUserIdOf(state: CallState): string | null {
  const self = state.participants.find((p) => p.isSelf) ?? state.audience.members.find((m) => m.isSelf);
  return self?.user.id ?? null;
}

/** The stage fields of a (repeated) room-state; participants are already set by the caller. */
export function stageFromRoomState(state: CallState, event: RoomStateEvent, now: number): CallState {
  const stage = event.stage === true;
  const audienceInfo: AudienceInfo = event.audience ?? { count: 0, participants: [], nextCursor: null };
  const selfInfo =
    event.participants.find((p) => p.peerId === event.selfPeerId) ??
    audienceInfo.participants.find((p) => p.peerId === event.selfPeerId);
  const role: StageRole =
    event.role ?? (selfInfo ? roleOf(selfInfo, event.ownerId) : stage ? "listener" : "speaker");
  const members = audienceInfo.participants.map((info) => memberOf(info, event.selfPeerId, event.ownerId));
  return {
    ...state,
    stage,
    audienceMode: stage || audienceInfo.count > 0 || members.length > 0,
    role,
    handRaised: isStageMember(role, stage) ? false : event.handRaised === true,
    speakInvite: event.speakInvite ? inviteOf(state, event.speakInvite, now) : null,
    audience: {
      count: Math.max(audienceInfo.count, members.length),
      members,
      nextCursor: audienceInfo.nextCursor ?? null,
      reloads: state.audience.reloads,
      role: audienceInfo.role ?? null,
    },
    raisedHands: sortHands((event.raisedHands ?? []).map(handOf)),
    inviteAnswers: {},
  };
}

export function audienceUpdate(state: CallState, event: AudienceUpdateEvent): CallState {
  let next = state.audienceMode ? state : enterAudienceMode(state);
  const left = new Set(event.left.map((l) => l.userId));
  let members = next.audience.members.filter((m) => !left.has(m.userId));
  // Before the last page is loaded, newcomers come with it (they are at the list's end).
  if (next.audience.nextCursor === null) {
    const known = new Map(members.map((m, i) => [m.userId, i]));
    for (const info of event.joined) {
      const member = memberOf(info, next.selfPeerId, next.ownerId);
      const at = known.get(member.userId);
      if (at === undefined) {
        known.set(member.userId, members.length);
        members = [...members, member];
      } else {
        members = members.map((m, i) => (i === at ? member : m));
      }
    }
  }
  next = {
    ...next,
    audience: {
      ...next.audience,
      count: event.count,
      members,
      reloads: event.more ? next.audience.reloads + 1 : next.audience.reloads,
    },
  };
  return left.size === 0 ? next : forgetHands(next, left);
}

/** A REST page of the audience: appended (or, `reset`, the list starts again from it). */
export function audiencePage(
  state: CallState,
  page: AudiencePage,
  reset: boolean,
  selfUserId: string,
  gone: ReadonlySet<string>,
): CallState {
  const onStage = new Set(state.participants.map((p) => p.user.id));
  const base = reset ? [] : state.audience.members;
  const known = new Set(base.map((m) => m.userId));
  const added: AudienceMember[] = [];
  for (const item of page.participants) {
    const userId = item.user.id;
    // Someone who left, or went on the stage, while the page was on its way is not listed.
    if (known.has(userId) || gone.has(userId) || onStage.has(userId)) continue;
    if (isStageMember(item.role, state.stage)) continue;
    known.add(userId);
    const previous = state.audience.members.find((m) => m.userId === userId);
    added.push({
      userId,
      peerId: previous?.peerId ?? null,
      user: item.user,
      role: item.role,
      muted: item.muted,
      isSelf: userId === selfUserId,
    });
  }
  return {
    ...state,
    audienceMode: true,
    audience: { ...state.audience, members: [...base, ...added], nextCursor: page.nextCursor, count: page.count },
  };
}

export function roleChanged(state: CallState, event: RoleChangedEvent, selfUserId: string): CallState {
  const { userId, role } = event;
  const onStageBefore = state.participants.find((p) => p.user.id === userId);
  const inAudience = state.audience.members.find((m) => m.userId === userId);
  let next: CallState = state;
  if (!state.audienceMode) {
    next = { ...state, participants: updateWhere(state.participants, (p) => p.user.id === userId, { role }) };
  } else if (isStageMember(role, state.stage)) {
    next = toStage(state, event, onStageBefore !== undefined, inAudience);
  } else {
    next = toAudience(state, event, onStageBefore, inAudience);
  }
  if (isStageMember(role, state.stage) || !state.stage) {
    next = forgetHands(next, new Set([userId]));
  }
  if (userId !== selfUserId) return next;
  return selfRoleChanged(next, state.role, event, selfUserId);
}

export function handRaised(state: CallState, event: HandRaisedEvent, now: number): CallState {
  const others = state.raisedHands.filter((h) => h.userId !== event.userId);
  const inviteAnswers = { ...state.inviteAnswers };
  if (!event.raised) return { ...state, raisedHands: others };
  // A hand raised again after a refusal or a lapse asks anew.
  if (inviteAnswers[event.userId] !== "pending") delete inviteAnswers[event.userId];
  const hand: RaisedHand = {
    peerId: event.peerId,
    userId: event.userId,
    user: event.user,
    raisedAt: event.raisedAt ?? now,
  };
  return { ...state, raisedHands: sortHands([...others, hand]), inviteAnswers };
}

export function speakInvite(state: CallState, invite: SpeakInviteInfo, now: number): CallState {
  if (isStageMember(state.role, state.stage)) return state;
  return { ...state, speakInvite: inviteOf(state, invite, now) };
}

export function speakInviteEnded(state: CallState, reason: string): CallState {
  if (!state.speakInvite) return state;
  const next = { ...state, speakInvite: null };
  return reason === "expired" ? withNotice(next, "invite-expired", null) : next;
}

/** The whole queue at once (a new co-host gets it). */
export function raisedHands(state: CallState, hands: RaisedHandInfo[]): CallState {
  return { ...state, raisedHands: sortHands(hands.map(handOf)) };
}

export function speakInviteAnswered(state: CallState, event: SpeakInviteAnsweredEvent): CallState {
  if (event.answer === "accepted") return forgetHands(state, new Set([event.userId]));
  if (state.inviteAnswers[event.userId] === event.answer) return state;
  return { ...state, inviteAnswers: { ...state.inviteAnswers, [event.userId]: event.answer } };
}

// --- helpers ----------------------------------------------------------------------------------

function memberOf(info: ParticipantInfo, selfPeerId: string | null, ownerId: string | null): AudienceMember {
  return {
    userId: info.user.id,
    peerId: info.peerId,
    user: info.user,
    role: roleOf(info, ownerId),
    muted: info.muted,
    isSelf: info.peerId === selfPeerId,
  };
}

function handOf(info: RaisedHandInfo): RaisedHand {
  return { peerId: info.peerId, userId: info.userId, user: info.user, raisedAt: info.raisedAt ?? 0 };
}

function sortHands(hands: RaisedHand[]): RaisedHand[] {
  // Array.prototype.sort is stable: equal times keep the order they were told in.
  return [...hands].sort((a, b) => a.raisedAt - b.raisedAt);
}

function forgetHands(state: CallState, userIds: ReadonlySet<string>): CallState {
  const raisedHands = state.raisedHands.filter((h) => !userIds.has(h.userId));
  const answered = Object.keys(state.inviteAnswers).some((id) => userIds.has(id));
  if (raisedHands.length === state.raisedHands.length && !answered) return state;
  const inviteAnswers = Object.fromEntries(
    Object.entries(state.inviteAnswers).filter(([id]) => !userIds.has(id)),
  );
  return { ...state, raisedHands, inviteAnswers };
}

export function nameOf(state: CallState, userId: string | null | undefined): string | null {
  if (!userId) return null;
  const person =
    state.participants.find((p) => p.user.id === userId)?.user ??
    state.audience.members.find((m) => m.userId === userId)?.user;
  return person?.name ?? null;
}

function inviteOf(state: CallState, invite: SpeakInviteInfo, now: number): SpeakInvite {
  const byUserId = typeof invite.by === "string" ? invite.by : (invite.by?.id ?? null);
  const byName =
    (typeof invite.by === "object" && invite.by !== null ? invite.by.name : null) ??
    nameOf(state, byUserId) ??
    "A host";
  const seconds = Number.isFinite(invite.expiresInSeconds) ? invite.expiresInSeconds : 60;
  return { byUserId, byName, expiresAt: now + seconds * 1000 };
}

// A large non-stage room passed the threshold: everyone but the hosts moves to the audience.
function enterAudienceMode(state: CallState): CallState {
  const stage = state.participants.filter((p) => isStageMember(p.role, state.stage));
  const moved: AudienceMember[] = state.participants
    .filter((p) => !isStageMember(p.role, state.stage))
    .map((p) => ({
      userId: p.user.id,
      peerId: p.peerId,
      user: p.user,
      role: p.role,
      muted: p.muted,
      isSelf: p.isSelf,
    }));
  return {
    ...state,
    audienceMode: true,
    participants: stage,
    audience: { ...state.audience, members: [...moved, ...state.audience.members] },
  };
}

function toStage(
  state: CallState,
  event: RoleChangedEvent,
  wasOnStage: boolean,
  member: AudienceMember | undefined,
): CallState {
  if (wasOnStage) {
    return {
      ...state,
      participants: updateWhere(state.participants, (p) => p.user.id === event.userId, { role: event.role }),
    };
  }
  const info: ParticipantInfo | null =
    event.participant ??
    (member?.peerId ? { peerId: member.peerId, user: member.user, muted: member.muted, role: event.role } : null);
  const members = state.audience.members.filter((m) => m.userId !== event.userId);
  const audience = { ...state.audience, members, count: Math.max(0, state.audience.count - 1) };
  if (!info) return { ...state, audience };
  const participant = { ...toParticipant(state, info), role: event.role };
  return { ...state, audience, participants: [...state.participants, participant] };
}

function toAudience(
  state: CallState,
  event: RoleChangedEvent,
  before: CallState["participants"][number] | undefined,
  member: AudienceMember | undefined,
): CallState {
  if (!before) {
    if (!member) return state;
    const members = state.audience.members.map((m) => (m === member ? { ...m, role: event.role } : m));
    return { ...state, audience: { ...state.audience, members } };
  }
  const participants = state.participants.filter((p) => p !== before);
  const moved: AudienceMember = {
    userId: before.user.id,
    peerId: before.peerId,
    user: before.user,
    role: event.role,
    muted: before.muted,
    isSelf: before.isSelf,
  };
  // As a newcomer: listed now only if the list is complete (else it comes with the last page).
  const members =
    state.audience.nextCursor === null ? [...state.audience.members, moved] : state.audience.members;
  return { ...state, participants, audience: { ...state.audience, members, count: state.audience.count + 1 } };
}

function selfRoleChanged(
  state: CallState,
  previous: StageRole,
  event: RoleChangedEvent,
  selfUserId: string,
): CallState {
  const role = event.role;
  if (role === previous) return state;
  const next: CallState = { ...state, role };
  const byName = event.by && event.by !== selfUserId ? nameOf(state, event.by) : null;
  const onStage = isStageMember(role, true);
  if (onStage) {
    next.handRaised = false;
    next.speakInvite = null;
  }
  if (!state.stage) return next;
  if (!onStage) {
    const movedByHost = event.by !== undefined && event.by !== selfUserId;
    return withNotice(next, movedByHost ? "moved-to-audience" : "left-stage", byName);
  }
  if (role === "host") return withNotice(next, "co-host", byName);
  return withNotice(next, previous === "host" ? "no-longer-co-host" : "on-stage", byName);
}

function withNotice(state: CallState, kind: StageNoticeKind, byName: string | null): CallState {
  const serial = (state.stageNotice?.serial ?? 0) + 1;
  return { ...state, stageNotice: { kind, byName, serial, muted: state.muted } };
}
