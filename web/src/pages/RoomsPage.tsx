import { useCallback, useEffect, useState } from "react";
import type { FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";

import { rooms as roomsApi } from "../api/endpoints";
import { describeError } from "../api/messages";
import type { Media, Room, Visibility } from "../api/types";
import { Avatar } from "../components/Avatar";
import { ErrorText, Loading } from "../components/Status";
import { TextField } from "../components/TextField";
import { TOPIC_RULE, checkTexts, normalizeText, textProblem } from "../text";

const REFRESH_EVERY_MS = 5_000;

export function RoomsPage() {
  return (
    <div className="stack">
      <h1>Rooms</h1>
      <div className="rooms-layout">
        <div className="stack">
          <PublicRooms />
          <MyRooms />
        </div>
        <CreateRoomForm />
      </div>
    </div>
  );
}

function usePolling(load: (signal: AbortSignal) => Promise<void>, everyMs: number | null) {
  useEffect(() => {
    let controller = new AbortController();
    let timer: ReturnType<typeof setInterval> | null = null;
    const run = () => {
      controller.abort();
      controller = new AbortController();
      void load(controller.signal);
    };
    run();
    if (everyMs !== null) {
      timer = setInterval(() => {
        if (document.visibilityState === "visible") run();
      }, everyMs);
    }
    const onVisible = () => {
      if (document.visibilityState === "visible") run();
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      controller.abort();
      if (timer !== null) clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [load, everyMs]);
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === "AbortError";
}

function PublicRooms() {
  const [rooms, setRooms] = useState<Room[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async (signal: AbortSignal) => {
    try {
      const page = await roomsApi.listPublic(signal);
      setRooms(page.rooms);
      setError(null);
    } catch (failure) {
      if (!isAbort(failure)) setError(describeError(failure));
    }
  }, []);
  usePolling(load, REFRESH_EVERY_MS);

  return (
    <section className="card" aria-labelledby="public-rooms-heading">
      <h2 id="public-rooms-heading">Public rooms</h2>
      <ErrorText message={error} />
      {rooms === null && !error && <Loading />}
      {rooms !== null && (
        <>
          <ul className="room-list" aria-labelledby="public-rooms-heading">
            {rooms.map((room) => (
              <RoomItem key={room.id} room={room} />
            ))}
          </ul>
          {rooms.length === 0 && (
            <p className="muted">No public rooms are open right now. Start one!</p>
          )}
        </>
      )}
    </section>
  );
}

function MyRooms() {
  const [rooms, setRooms] = useState<Room[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async (signal: AbortSignal) => {
    try {
      const answer = await roomsApi.mine(signal);
      setRooms(answer.rooms);
      setError(null);
    } catch (failure) {
      if (!isAbort(failure)) setError(describeError(failure));
    }
  }, []);
  usePolling(load, REFRESH_EVERY_MS * 3);

  return (
    <section className="card" aria-labelledby="my-rooms-heading">
      <h2 id="my-rooms-heading">My rooms</h2>
      <ErrorText message={error} />
      {rooms === null && !error && <Loading />}
      {rooms !== null && (
        <>
          <ul className="room-list" aria-labelledby="my-rooms-heading">
            {rooms.map((room) => (
              <RoomItem key={room.id} room={room} />
            ))}
          </ul>
          {rooms.length === 0 && (
            <p className="muted">Rooms you create or are invited to appear here.</p>
          )}
        </>
      )}
    </section>
  );
}

function RoomItem({ room }: { room: Room }) {
  const count = room.participantCount;
  return (
    <li className="room-item">
      <div className="room-item-main">
        <Link to={`/rooms/${encodeURIComponent(room.id)}`} className="room-link">
          {room.topic}
        </Link>
        <div className="muted small">
          {room.media === "sfu" ? "SFU room" : "Mesh room"}
          {room.visibility === "private" ? " · private" : ""} · by {room.owner.name}
        </div>
      </div>
      <div className="room-item-people">
        <ul className="avatar-stack" aria-label={`People in ${room.topic}`}>
          {room.participants.slice(0, 5).map((person) => (
            <li key={person.id}>
              <Avatar src={person.avatarUrl} name={person.name} size="small" />
            </li>
          ))}
        </ul>
        <span className="count">
          {count === 0 ? "empty" : `${count} ${count === 1 ? "person" : "people"}`}
        </span>
      </div>
    </li>
  );
}

function CreateRoomForm() {
  const navigate = useNavigate();
  const [topic, setTopic] = useState("");
  const [visibility, setVisibility] = useState<Visibility>("public");
  const [media, setMedia] = useState<Media>("mesh");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    if (textProblem(topic, TOPIC_RULE) === "text_blank") {
      setError("Give the room a topic.");
      return;
    }
    const textError = checkTexts([{ label: "Topic", value: topic, rule: TOPIC_RULE }]);
    if (textError) {
      setError(textError);
      return;
    }
    setBusy(true);
    try {
      const room = await roomsApi.create({ topic: normalizeText(topic), visibility, media });
      navigate(`/rooms/${encodeURIComponent(room.id)}`);
    } catch (failure) {
      setError(describeError(failure));
      setBusy(false);
    }
  }

  return (
    <section className="card create-room">
      <form onSubmit={submit} className="form" aria-labelledby="create-room-heading">
        <h2 id="create-room-heading">Create a room</h2>
        <TextField
          id="room-topic"
          label="Topic"
          limit={TOPIC_RULE}
          required
          value={topic}
          onChange={setTopic}
        />
        <fieldset className="choices">
          <legend>Who can join</legend>
          <div className="choice">
            <input
              type="radio"
              id="room-public"
              name="visibility"
              value="public"
              checked={visibility === "public"}
              onChange={() => setVisibility("public")}
            />
            <label htmlFor="room-public">Public</label>
          </div>
          <div className="choice">
            <input
              type="radio"
              id="room-private"
              name="visibility"
              value="private"
              checked={visibility === "private"}
              onChange={() => setVisibility("private")}
            />
            <label htmlFor="room-private">Private</label>
          </div>
          <p className="hint">Private rooms are for people you invite with a link.</p>
        </fieldset>
        <fieldset className="choices">
          <legend>Audio</legend>
          <div className="choice">
            <input
              type="radio"
              id="room-mesh"
              name="media"
              value="mesh"
              checked={media === "mesh"}
              onChange={() => setMedia("mesh")}
            />
            <label htmlFor="room-mesh">Mesh</label>
          </div>
          <div className="choice">
            <input
              type="radio"
              id="room-sfu"
              name="media"
              value="sfu"
              checked={media === "sfu"}
              onChange={() => setMedia("sfu")}
            />
            <label htmlFor="room-sfu">SFU</label>
          </div>
          <p className="hint">
            Mesh: direct connections, lowest delay, up to 8 people. SFU: through the server, for
            bigger rooms.
          </p>
        </fieldset>
        <ErrorText message={error} />
        <button type="submit" className="button" disabled={busy}>
          {busy ? "Creating…" : "Create room"}
        </button>
      </form>
    </section>
  );
}
