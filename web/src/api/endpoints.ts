// One typed function per REST endpoint the client uses.

import { noteSignedIn, request } from "./client";
import type {
  Accepted,
  CreatedInvite,
  CreateRoom,
  Me,
  ProfileChanges,
  Room,
  RoomPage,
  RoomParticipantPage,
  SessionInfo,
  SignedIn,
} from "./types";

const enc = encodeURIComponent;

export const auth = {
  /** `next`: an invite path (`/invite/{token}`) the verification link leads on to. */
  register: (body: { email: string; password: string; name: string; next?: string }) =>
    request<Accepted>("/api/auth/register", { method: "POST", body, noRefresh: true }),
  verifyEmail: (token: string) =>
    request<{ verified: boolean }>("/api/auth/verify-email", {
      method: "POST",
      body: { token },
      noRefresh: true,
    }),
  resendVerification: (email: string, next?: string) =>
    request<Accepted>("/api/auth/resend-verification", {
      method: "POST",
      body: next ? { email, next } : { email },
      noRefresh: true,
    }),
  async login(email: string, password: string): Promise<SignedIn> {
    const signedIn = await request<SignedIn>("/api/auth/login", {
      method: "POST",
      body: { email, password },
      noRefresh: true,
    });
    noteSignedIn(signedIn);
    return signedIn;
  },
  logout: () => request<void>("/api/auth/logout", { method: "POST", noRefresh: true }),
  forgotPassword: (email: string) =>
    request<Accepted>("/api/auth/forgot-password", {
      method: "POST",
      body: { email },
      noRefresh: true,
    }),
  resetPassword: (token: string, password: string) =>
    request<void>("/api/auth/reset-password", {
      method: "POST",
      body: { token, password },
      noRefresh: true,
    }),
  sessions: () => request<{ sessions: SessionInfo[] }>("/api/auth/sessions"),
  revokeSession: (id: string) =>
    request<void>(`/api/auth/sessions/${enc(id)}`, { method: "DELETE" }),
  revokeOtherSessions: () =>
    request<{ revoked: number }>("/api/auth/sessions", { method: "DELETE" }),
};

export const users = {
  me: () => request<Me>("/api/users/me"),
  update: (changes: ProfileChanges) =>
    request<Me>("/api/users/me", { method: "PATCH", body: changes }),
  uploadAvatar(file: File): Promise<Me> {
    const form = new FormData();
    form.append("avatar", file, file.name);
    return request<Me>("/api/users/me/avatar", { method: "PUT", body: form });
  },
  /** Back to the generated picture. */
  removeAvatar: () => request<void>("/api/users/me/avatar", { method: "DELETE" }),
};

export const rooms = {
  listPublic: (signal?: AbortSignal) => request<RoomPage>("/api/rooms?limit=50", { signal }),
  mine: (signal?: AbortSignal) => request<{ rooms: Room[] }>("/api/rooms/mine", { signal }),
  get: (id: string) => request<Room>(`/api/rooms/${enc(id)}`),
  create: (body: CreateRoom) => request<Room>("/api/rooms", { method: "POST", body }),
  close: (id: string) => request<void>(`/api/rooms/${enc(id)}`, { method: "DELETE" }),
  createInvite: (id: string) =>
    request<CreatedInvite>(`/api/rooms/${enc(id)}/invites`, { method: "POST", body: {} }),
  /** One page of the people in a room, in order of arrival (docs/protocol.md, "Stage rooms"). */
  participants(id: string, page: { role?: string; cursor?: string | null; limit?: number }, signal?: AbortSignal) {
    const query = new URLSearchParams();
    if (page.role) query.set("role", page.role);
    if (page.cursor) query.set("cursor", page.cursor);
    if (page.limit) query.set("limit", String(page.limit));
    return request<RoomParticipantPage>(`/api/rooms/${enc(id)}/participants?${query.toString()}`, { signal });
  },
  acceptInvite: (token: string) =>
    request<Room>(`/api/invites/${enc(token)}/accept`, { method: "POST" }),
};
