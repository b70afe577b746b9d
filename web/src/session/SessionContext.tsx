// Who is signed in: loaded once at start-up, changed by sign-in and sign-out, and dropped
// when the API reports that the session is over.

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import type { ReactNode } from "react";
import { useLocation, useNavigate } from "react-router-dom";

import {
  ApiError,
  forgetSession,
  mayBeSignedIn,
  onSignedInElsewhere,
  onSignedOut,
  resumeRefreshSchedule,
} from "../api/client";
import { auth, users } from "../api/endpoints";
import type { Me } from "../api/types";

export type SessionStatus = "loading" | "signed-in" | "signed-out" | "unreachable";

export interface Session {
  status: SessionStatus;
  user: Me | null;
  signIn(email: string, password: string): Promise<Me>;
  signOut(): Promise<void>;
  setUser(user: Me): void;
  retry(): void;
}

const SessionContext = createContext<Session | null>(null);

export const SESSION_ENDED_MESSAGE = "Your session has ended. Sign in again.";

export function SessionProvider({ children }: { children: ReactNode }) {
  const [user, setUserState] = useState<Me | null>(null);
  // Nobody signed in from this browser: signed out at once, without asking the server (whose
  // answer could only be a 401, logged by the browser as an error on every page).
  const [status, setStatus] = useState<SessionStatus>(() =>
    mayBeSignedIn() ? "loading" : "signed-out",
  );
  const [attempt, setAttempt] = useState(0);
  const userRef = useRef<Me | null>(null);
  const navigate = useNavigate();
  const location = useLocation();
  const locationRef = useRef(location);
  locationRef.current = location;

  const setUser = useCallback((next: Me | null) => {
    userRef.current = next;
    setUserState(next);
    setStatus(next ? "signed-in" : "signed-out");
  }, []);

  useEffect(() => {
    let cancelled = false;
    if (!mayBeSignedIn() && userRef.current === null) {
      setUser(null);
      return;
    }
    setStatus("loading");
    users
      .me()
      .then((me) => {
        if (cancelled) return;
        setUser(me);
        resumeRefreshSchedule();
      })
      .catch((error: unknown) => {
        if (cancelled) return;
        if (error instanceof ApiError && error.status === 0) {
          setStatus("unreachable");
        } else if (error instanceof ApiError && error.status >= 500) {
          setStatus("unreachable");
        } else {
          forgetSession();
          setUser(null);
        }
      });
    return () => {
      cancelled = true;
    };
  }, [attempt, setUser]);

  useEffect(
    () =>
      onSignedOut(() => {
        // Only a session that existed can end; anonymous visitors just stay anonymous.
        if (!userRef.current) return;
        forgetSession();
        setUser(null);
        const here = locationRef.current;
        const next = here.pathname + here.search;
        navigate(`/signin?next=${encodeURIComponent(next)}`, {
          replace: true,
          state: { message: SESSION_ENDED_MESSAGE },
        });
      }),
    [navigate, setUser],
  );

  // Signed in from another tab: this one follows (once), rather than stay signed out.
  useEffect(
    () =>
      onSignedInElsewhere(() => {
        if (!userRef.current) setAttempt((n) => n + 1);
      }),
    [],
  );

  const signIn = useCallback(
    async (email: string, password: string) => {
      const signedIn = await auth.login(email, password);
      setUser(signedIn.user);
      return signedIn.user;
    },
    [setUser],
  );

  const signOut = useCallback(async () => {
    try {
      await auth.logout();
    } finally {
      forgetSession();
      setUser(null);
      navigate("/signin", { replace: true, state: { message: "You are signed out." } });
    }
  }, [navigate, setUser]);

  const retry = useCallback(() => setAttempt((n) => n + 1), []);

  const value = useMemo<Session>(
    () => ({ status, user, signIn, signOut, setUser, retry }),
    [status, user, signIn, signOut, setUser, retry],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside SessionProvider");
  return session;
}
