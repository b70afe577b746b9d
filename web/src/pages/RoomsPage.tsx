import { useCallback, useEffect, useState } from "react";
import type { FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";

import { rooms as roomsApi } from "../api/endpoints";
import { describeError } from "../api/messages";
import type { Media, Room, Visibility } from "../api/types";
import { Avatar } from "../components/Avatar";
import { ErrorText, Loading } from "../components/Status";
import { TextField } from "../components/TextField";
import { ConfirmDialog } from "../room/ConfirmDialog";
import { TOPIC_RULE, checkTexts, normalizeText, textProblem } from "../text";
import { usePage } from "./page";
import "./rooms.css";

const REFRESH_EVERY_MS = 5_000;

/** What a room list needs from the page: the owner's "Close", shared by both lists. */
interface Lobby {
  /** Bumped after a room is closed, so both lists load again at once. */
  version: number;
  askToClose: (room: Room) => void;
}

export function RoomsPage() {
  const heading = usePage("Rooms");
  const [version, setVersion] = useState(0);
  const [closing, setClosing] = useState<Room | null>(null);
  const [closed, setClosed] = useState<string | null>(null);
  const lobby: Lobby = { version, askToClose: setClosing };

  return (
    <div className="stack">
      <h1 ref={heading} tabIndex={-1}>
        Rooms
      </h1>
      <p className="lobby-notice" role="status">
        {closed ? `“${closed}” is closed.` : ""}
      </p>
      <div className="rooms-layout">
        <div className="stack">
          <PublicRooms lobby={lobby} />
          <MyRooms lobby={lobby} />
        </div>
        <CreateRoomForm />
      </div>
      {closing && (
        <CloseRoomDialog
          room={closing}
          onCancel={() => setClosing(null)}
          onClosed={() => {
            setClosed(closing.topic);
            setClosing(null);
            setVersion((v) => v + 1);
          }}
        />
      )}
    </div>
  );
}

/** The owner closes a room from the lobby, never entering it (so never with a live microphone). */
function CloseRoomDialog({
  room,
  onCancel,
  onClosed,
}: {
  room: Room;
  onCancel: () => void;
  onClosed: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function close() {
    setBusy(true);
    setError(null);
    try {
      await roomsApi.close(room.id);
      onClosed();
    } catch (failure) {
      setError(describeError(failure));
      setBusy(false);
    }
  }

  const count = room.participantCount;
  return (
    <ConfirmDialog
      title={`Close “${room.topic}”?`}
      confirmLabel={busy ? "Closing…" : "Close the room"}
      busy={busy}
      onConfirm={() => void close()}
      onCancel={onCancel}
    >
      <p>
        {count > 0
          ? `The call ends for the ${count === 1 ? "person" : `${count} people`} in it now. `
          : ""}
        Nobody can enter the room again and its invite links stop working. This cannot be
        undone.
      </p>
      <ErrorText message={error} />
    </ConfirmDialog>
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

function isFull(room: Room): boolean {
  return room.participantCount >= room.maxParticipants;
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === "AbortError";
}

function PublicRooms({ lobby }: { lobby: Lobby }) {
  const [rooms, setRooms] = useState<Room[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { version } = lobby;

  const load = useCallback(
    async (signal: AbortSignal) => {
      try {
        const page = await roomsApi.listPublic(signal);
        setRooms(page.rooms);
        setError(null);
      } catch (failure) {
        if (!isAbort(failure)) setError(describeError(failure));
      }
    },
    [version], // a room was closed here: load again now
  );
  usePolling(load, REFRESH_EVERY_MS);

  return (
    <section className="card" aria-labelledby="public-rooms-heading">
      <h2 id="public-rooms-heading">Public rooms</h2>
      <p className="hint">
        Busiest first. Rooms that stay empty for a while leave this list; their owners still
        find them under “My rooms”.
      </p>
      <ErrorText message={error} />
      {rooms === null && !error && <Loading />}
      {rooms !== null && (
        <>
          <ul className="room-list" aria-labelledby="public-rooms-heading">
            {rooms.map((room) => (
              <RoomItem key={room.id} room={room} lobby={lobby} />
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

function MyRooms({ lobby }: { lobby: Lobby }) {
  const [rooms, setRooms] = useState<Room[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { version } = lobby;

  const load = useCallback(
    async (signal: AbortSignal) => {
      try {
        const answer = await roomsApi.mine(signal);
        setRooms(answer.rooms);
        setError(null);
      } catch (failure) {
        if (!isAbort(failure)) setError(describeError(failure));
      }
    },
    [version],
  );
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
              <RoomItem key={room.id} room={room} lobby={lobby} />
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

function RoomItem({ room, lobby }: { room: Room; lobby: Lobby }) {
  const count = room.participantCount;
  const full = isFull(room);
  return (
    <li className="room-item" data-full={full ? "true" : undefined}>
      <div className="room-item-main">
        <Link to={`/rooms/${encodeURIComponent(room.id)}`} className="room-link">
          {room.topic}
        </Link>
        <div className="muted small">
          {room.media === "sfu" ? (room.stage ? "Stage room" : "SFU room") : "Mesh room"}
          {room.visibility === "private" ? " · private" : ""} · by {room.owner.name}
        </div>
      </div>
      <div className="room-item-people">
        {room.participants.length > 0 && (
          <ul className="avatar-stack" aria-label={`People in ${room.topic}`}>
            {room.participants.slice(0, 5).map((person) => (
              <li key={person.id}>
                <Avatar src={person.avatarUrl} name={person.name} size="small" />
              </li>
            ))}
          </ul>
        )}
        <span className="count">
          {count === 0 ? "empty" : `${count} ${count === 1 ? "person" : "people"}`}
        </span>
        {full && (
          <span className="lobby-full" title={`Full: ${room.maxParticipants} is the most it holds`}>
            Full
          </span>
        )}
        {room.role === "owner" && (
          <button
            type="button"
            className="button danger small"
            aria-label={`Close ${room.topic}`}
            onClick={() => lobby.askToClose(room)}
          >
            Close
          </button>
        )}
      </div>
    </li>
  );
}

function CreateRoomForm() {
  const navigate = useNavigate();
  const [topic, setTopic] = useState("");
  const [visibility, setVisibility] = useState<Visibility>("public");
  const [media, setMedia] = useState<Media>("mesh");
  // Stage rooms need the server's media (the sfu): the box is off and disabled for mesh.
  const [stage, setStage] = useState(false);
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
      const body = { topic: normalizeText(topic), visibility, media };
      const room = await roomsApi.create(media === "sfu" && stage ? { ...body, stage: true } : body);
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
              onChange={() => {
                setMedia("mesh");
                setStage(false);
              }}
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
          <div className="choice">
            <input
              type="checkbox"
              id="room-stage"
              checked={media === "sfu" && stage}
              disabled={media !== "sfu"}
              aria-describedby="room-stage-hint"
              onChange={(e) => setStage(e.target.checked)}
            />
            <label htmlFor="room-stage">Stage room</label>
          </div>
          <p className="hint" id="room-stage-hint">
            {media === "sfu"
              ? "Stage room: you and the speakers you invite talk; everyone else listens and can raise a hand."
              : "Stage rooms need SFU."}
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
