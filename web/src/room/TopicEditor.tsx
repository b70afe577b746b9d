import { useState } from "react";
import type { FormEvent } from "react";

import { describeError } from "../api/messages";
import type { Room } from "../api/types";
import { updateTopic } from "./roomApi";

/** The owner renames the room (PATCH /api/rooms/{id}). */
export function TopicEditor({
  room,
  onSaved,
  onClose,
}: {
  room: Room;
  onSaved: (room: Room) => void;
  onClose: () => void;
}) {
  const [topic, setTopic] = useState(room.topic);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function save(event: FormEvent) {
    event.preventDefault();
    const trimmed = topic.trim();
    if (!trimmed) {
      setError("The topic cannot be empty.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onSaved(await updateTopic(room.id, trimmed));
      onClose();
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="topic-editor" aria-label="Edit the topic" onSubmit={(e) => void save(e)}>
      <div className="field">
        <label htmlFor="topic-input">Topic</label>
        <input
          id="topic-input"
          value={topic}
          maxLength={120}
          autoFocus
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? "topic-error" : undefined}
          onChange={(e) => setTopic(e.target.value)}
          onKeyDown={(e) => e.key === "Escape" && onClose()}
        />
      </div>
      {error && (
        <p className="error" id="topic-error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="button" disabled={busy}>
          Save topic
        </button>
        <button type="button" className="button secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}
