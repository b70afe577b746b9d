import { useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";

import { ApiError } from "../api/client";
import { rooms } from "../api/endpoints";
import { describeError } from "../api/messages";
import type { Room } from "../api/types";
import { Loading } from "../components/Status";
import { useSession } from "../session/SessionContext";
import { usePage } from "./page";

// Accepting is idempotent, but one request per person and token is enough however often we
// mount. Keyed by the user too: someone else signing in in this tab accepts for themselves.
const acceptances = new Map<string, Promise<Room>>();

export function acceptanceKey(userId: string, token: string): string {
  return `${userId} ${token}`;
}

function inviteMessage(error: unknown): string {
  if (error instanceof ApiError) {
    switch (error.code) {
      case "invite_expired":
        return "This invite has expired. Ask the room's owner for a new link.";
      case "invite_exhausted":
        return "This invite has been used up. Ask the room's owner for a new link.";
      case "room_closed":
        return "This room was closed.";
      case "not_found":
        return "This invite link is not valid. Check that you copied all of it.";
    }
  }
  return describeError(error);
}

export function InvitePage() {
  const { token = "" } = useParams();
  const navigate = useNavigate();
  const { user } = useSession();
  const userId = user?.id ?? "";
  const [error, setError] = useState<string | null>(null);
  const heading = usePage(error ? "Invite cannot be used" : "Opening the invite");

  useEffect(() => {
    let current = true;
    setError(null);
    const key = acceptanceKey(userId, token);
    let acceptance = acceptances.get(key);
    if (!acceptance) {
      acceptance = rooms.acceptInvite(token);
      acceptances.set(key, acceptance);
      // A failure may be temporary (network) or the person's (signed out meanwhile): let a
      // later visit try again.
      acceptance.catch(() => acceptances.delete(key));
    }
    acceptance.then(
      (room) => {
        if (current) navigate(`/rooms/${encodeURIComponent(room.id)}`, { replace: true });
      },
      (failure: unknown) => {
        if (current) setError(inviteMessage(failure));
      },
    );
    return () => {
      current = false;
    };
  }, [token, userId, navigate]);

  if (!error) return <Loading label="Opening the invite…" />;
  return (
    <section className="card narrow">
      <h1 ref={heading} tabIndex={-1}>
        This invite cannot be used
      </h1>
      <p className="error" role="alert">
        {error}
      </p>
      <Link to="/rooms">Back to rooms</Link>
    </section>
  );
}
