// The current call, above the routes (Layout renders the provider): browsing to "Rooms" or
// "Profile" keeps it going, the call bar shows it, and the room page finds it again.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import type { ReactNode } from "react";

import { rooms as roomsApi } from "../api/endpoints";
import { iceServers } from "../api/rtc";
import type { Me, Room } from "../api/types";
import { useSession } from "../session/SessionContext";
import { createCall } from "./index";
import type { Call, CallState, PublicProfile } from "./types";

declare global {
  interface Window {
    gethoryCall?: Call;
  }
}

export interface JoinChoices {
  muted: boolean;
  microphoneId?: string;
}

export interface ActiveCall {
  // Changes with every join (a "Try again" is a new call in the same room).
  serial: number;
  room: Room;
  call: Call;
  state: CallState;
  choices: JoinChoices;
}

interface CallContextValue {
  active: ActiveCall | null;
  join(room: Room, choices: JoinChoices): void;
  // Leaves the call (if still in it) and forgets it.
  leave(): Promise<void>;
  // Forgets an ended call (its message was seen).
  dismiss(): void;
  // The room changed (the owner edited its topic).
  updateRoom(room: Room): void;
  toggleMute(): void;
  // The person's own Mute/Unmute: applied to the call and remembered for this room.
  setMuted(muted: boolean): Promise<void>;
}

const CallContext = createContext<CallContextValue | null>(null);

const MUTED_KEY = (roomId: string) => `gethory.muted.${roomId}`;
const MICROPHONE_KEY = "gethory.microphone";

/** The mute state last used in this room on this browser, or null if never there. */
export function rememberedMute(roomId: string): boolean | null {
  try {
    const value = localStorage.getItem(MUTED_KEY(roomId));
    return value === null ? null : value === "1";
  } catch {
    return null;
  }
}

export function rememberedMicrophone(): string {
  try {
    return localStorage.getItem(MICROPHONE_KEY) ?? "";
  } catch {
    return "";
  }
}

export function rememberMicrophone(deviceId: string): void {
  try {
    localStorage.setItem(MICROPHONE_KEY, deviceId);
  } catch {
    // Private mode without storage: the choice lasts this visit only.
  }
}

function rememberMute(roomId: string, muted: boolean): void {
  try {
    localStorage.setItem(MUTED_KEY(roomId), muted ? "1" : "0");
  } catch {
    // As above.
  }
}

function publicProfile(me: Me): PublicProfile {
  return { id: me.id, name: me.name, username: me.username, bio: me.bio, avatarUrl: me.avatarUrl };
}

export function CallProvider({ children }: { children: ReactNode }) {
  const { user } = useSession();
  const audioRef = useRef<HTMLDivElement>(null);
  const [active, setActive] = useState<ActiveCall | null>(null);
  const activeRef = useRef<ActiveCall | null>(null);
  const unsubscribeRef = useRef<(() => void) | null>(null);
  const serialRef = useRef(0);
  // Counts joins and leaves: a join still fetching its ICE servers when another join or a
  // leave comes (a second click, sign-out, closing the page) creates no call.
  const attemptRef = useRef(0);
  activeRef.current = active;

  const stop = useCallback(async () => {
    attemptRef.current += 1;
    const current = activeRef.current;
    unsubscribeRef.current?.();
    unsubscribeRef.current = null;
    activeRef.current = null;
    setActive(null);
    if (current) {
      if (window.gethoryCall === current.call) delete window.gethoryCall;
      await current.call.leave().catch(() => undefined);
    }
  }, []);

  const begin = useCallback(
    (room: Room, choices: JoinChoices, servers: RTCIceServer[]) => {
      const container = audioRef.current;
      if (!user || !container) return;
      void stop();
      const call = createCall({
        roomId: room.id,
        media: room.media,
        slots: room.slots ?? 3,
        self: publicProfile(user),
        audioContainer: container,
        microphoneId: choices.microphoneId || undefined,
        startMuted: choices.muted,
        iceServers: servers,
        stage: room.stage === true,
        ownerId: room.owner.id,
        fetchAudience: (roomId, page) => roomsApi.participants(roomId, page),
      });
      window.gethoryCall = call;
      serialRef.current += 1;
      const entry: ActiveCall = { serial: serialRef.current, room, call, state: call.state, choices };
      activeRef.current = entry;
      setActive(entry);
      // Remembered from the person's own choices only (the "Join muted" box here, Mute and
      // Unmute in setMuted), never from a mute forced on them (a blocked microphone, the owner).
      rememberMute(room.id, choices.muted);
      unsubscribeRef.current = call.subscribe((state) => {
        setActive((current) => {
          if (!current || current.call !== call) return current;
          // The owner edited the topic: everyone's room page and call bar show the new one.
          const topic = state.topic;
          const room = topic !== null && topic !== current.room.topic ? { ...current.room, topic } : current.room;
          return { ...current, state, room };
        });
      });
      void call.start();
    },
    [stop, user],
  );

  const join = useCallback(
    (room: Room, choices: JoinChoices) => {
      if (!user || !audioRef.current) return;
      const attempt = ++attemptRef.current;
      // STUN, and TURN with this user's credentials, for mesh and sfu rooms alike. Never
      // rejects: without them ([], logged) a call on one network still connects.
      void iceServers.forCall(user.id).then((servers) => {
        if (attempt === attemptRef.current) begin(room, choices, servers);
      });
    },
    [begin, user],
  );

  const dismiss = useCallback(() => void stop(), [stop]);

  const updateRoom = useCallback((room: Room) => {
    setActive((current) => (current && current.room.id === room.id ? { ...current, room } : current));
  }, []);

  const setMuted = useCallback(async (muted: boolean) => {
    const current = activeRef.current;
    if (!current || current.call.state.ended) return;
    rememberMute(current.room.id, muted);
    await current.call.setMuted(muted);
  }, []);

  const toggleMute = useCallback(() => {
    const call = activeRef.current?.call;
    if (call) void setMuted(!call.state.muted).catch(() => undefined);
  }, [setMuted]);

  // Signed out (here or in another tab): the call goes with the session, and so do the TURN
  // credentials, which name the user.
  useEffect(() => {
    if (user) return;
    iceServers.forget();
    attemptRef.current += 1;
    if (activeRef.current) void stop();
  }, [user, stop]);

  // Leaving the app (closing the tab) ends the call like "Leave".
  useEffect(() => () => void stop(), [stop]);

  const value = useMemo(
    () => ({ active, join, leave: stop, dismiss, updateRoom, toggleMute, setMuted }),
    [active, join, stop, dismiss, updateRoom, toggleMute, setMuted],
  );
  return (
    <CallContext.Provider value={value}>
      <div ref={audioRef} className="audio-sink" hidden aria-hidden="true" />
      {children}
    </CallContext.Provider>
  );
}

export function useCall(): CallContextValue {
  const value = useContext(CallContext);
  if (!value) throw new Error("useCall outside CallProvider");
  return value;
}
