import { useEffect, useState } from "react";
import { Link, useParams } from "react-router-dom";

import { ApiError } from "../api/client";
import { rooms as roomsApi } from "../api/endpoints";
import { describeError } from "../api/messages";
import type { Room } from "../api/types";
import { useCall } from "../call/CallContext";
import { Loading } from "../components/Status";
import { CallView } from "../room/CallView";
import { PreJoin } from "../room/PreJoin";
import { BANNED, ROOM_CLOSED, ROOM_MISSING } from "../room/words";
import { usePage } from "./page";

export { ROOM_CLOSED, ROOM_MISSING } from "../room/words";

/** The room: its call if we are in it (also after browsing elsewhere), else the pre-join. */
export function RoomPage() {
  const { id = "" } = useParams();
  const { active } = useCall();
  const inThisRoom = active !== null && active.room.id === id;
  const [room, setRoom] = useState<Room | null>(null);
  const [failure, setFailure] = useState<{ message: string; closed: boolean } | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    if (inThisRoom) return;
    let current = true;
    setRoom(null);
    setFailure(null);
    roomsApi.get(id).then(
      (answer) => current && setRoom(answer),
      (error: unknown) => {
        if (!current) return;
        if (error instanceof ApiError && error.status === 404) {
          setFailure({ message: ROOM_MISSING, closed: false });
        } else if (error instanceof ApiError && error.code === "banned_from_room") {
          setFailure({ message: BANNED, closed: false });
        } else if (error instanceof ApiError && error.status === 410) {
          setFailure({ message: ROOM_CLOSED, closed: true });
        } else {
          setFailure({ message: describeError(error), closed: false });
        }
      },
    );
    return () => {
      current = false;
    };
  }, [id, attempt, inThisRoom]);

  if (inThisRoom) return <CallView key={active.serial} active={active} />;
  if (failure) return <RoomFailure failure={failure} retry={() => setAttempt((n) => n + 1)} />;
  if (!room) return <Loading label="Opening the room…" />;
  return <PreJoin key={room.id} room={room} />;
}

function RoomFailure({
  failure,
  retry,
}: {
  failure: { message: string; closed: boolean };
  retry: () => void;
}) {
  const recoverable = !failure.closed && failure.message !== ROOM_MISSING && failure.message !== BANNED;
  const title = failure.closed ? "Room closed" : "Cannot open this room";
  const heading = usePage(title);
  return (
    <section className="card narrow">
      <h1 ref={heading} tabIndex={-1}>
        {title}
      </h1>
      <p className="error" role="alert">
        {failure.message}
      </p>
      <div className="actions">
        {recoverable && (
          <button type="button" className="button" onClick={retry}>
            Try again
          </button>
        )}
        <Link className="button secondary" to="/rooms">
          Back to rooms
        </Link>
      </div>
    </section>
  );
}
