import { useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";

import { ApiError } from "../api/client";
import { rooms } from "../api/endpoints";
import { describeError } from "../api/messages";
import type { Room } from "../api/types";
import { Loading } from "../components/Status";
import { usePage } from "./page";

// Accepting is idempotent, but one request per token is enough however often we mount.
const acceptances = new Map<string, Promise<Room>>();

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
  const [error, setError] = useState<string | null>(null);
  const heading = usePage(error ? "Invite cannot be used" : "Opening the invite");

  useEffect(() => {
    let current = true;
    let acceptance = acceptances.get(token);
    if (!acceptance) {
      acceptance = rooms.acceptInvite(token);
      acceptances.set(token, acceptance);
      // A failure may be temporary (network): let a later visit try again.
      acceptance.catch(() => acceptances.delete(token));
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
  }, [token, navigate]);

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
