import { useCallback, useEffect, useRef, useState } from "react";
import type { ChangeEvent, FormEvent } from "react";

import { ApiError } from "../api/client";
import { auth, users } from "../api/endpoints";
import { describeError } from "../api/messages";
import type { Me, ProfileChanges, SessionInfo } from "../api/types";
import { ErrorText, Loading } from "../components/Status";
import { TextAreaField, TextField } from "../components/TextField";
import { useSubmit } from "../components/useSubmit";
import { useSession } from "../session/SessionContext";
import { BIO_RULE, NAME_RULE, checkTexts, normalizeText } from "../text";
import { usePage } from "./page";

const MAX_AVATAR_BYTES = 5 * 1024 * 1024;
const USERNAME_RULE = "Usernames are 3 to 30 letters, digits, _ or . characters.";

/** The server names an uploaded picture's version "u…" and a generated one's "d…". */
function hasOwnPicture(user: Me): boolean {
  return /[?&]v=u/.test(user.avatarUrl);
}

/** An error about the username, from the server: shown at the field rather than the form. */
function usernameProblem(failure: unknown): string | null {
  if (!(failure instanceof ApiError)) return null;
  if (failure.code === "username_taken") return describeError(failure);
  if (failure.code !== "validation_failed" || !Array.isArray(failure.details)) return null;
  const aboutUsername = (failure.details as { field?: unknown }[]).every(
    (item) => item.field === "username",
  );
  return aboutUsername && failure.details.length ? USERNAME_RULE : null;
}

export function ProfilePage() {
  const { user } = useSession();
  const heading = usePage("Profile");
  if (!user) return <Loading />;
  return (
    <div className="stack">
      <h1 ref={heading} tabIndex={-1}>
        Profile
      </h1>
      <ProfileForm user={user} />
      <AvatarForm user={user} />
      <Sessions />
    </div>
  );
}

function ProfileForm({ user }: { user: Me }) {
  const { setUser } = useSession();
  const [name, setName] = useState(user.name);
  const [username, setUsername] = useState(user.username ?? "");
  const [bio, setBio] = useState(user.bio);
  const [saved, setSaved] = useState(false);
  const [usernameError, setUsernameError] = useState<string | null>(null);
  const { busy, error, setError, run } = useSubmit();

  /** An onChange that also takes back the "Saved" note and any error: the form has changed
   * since, and an error about the old value would now be wrong. */
  const edit = (set: (value: string) => void) => (value: string) => {
    set(value);
    setSaved(false);
    setError(null);
    setUsernameError(null);
  };

  async function submit(event: FormEvent) {
    event.preventDefault();
    setSaved(false);
    setUsernameError(null);
    const textError = checkTexts([
      { label: "Name", value: name, rule: NAME_RULE },
      { label: "Bio", value: bio, rule: BIO_RULE },
    ]);
    if (textError) {
      setError(textError);
      return;
    }
    const changes: ProfileChanges = {};
    if (normalizeText(name) !== user.name) changes.name = normalizeText(name);
    if (username.trim() && username.trim() !== (user.username ?? "")) {
      changes.username = username.trim();
    }
    if (normalizeText(bio, true) !== user.bio) changes.bio = normalizeText(bio, true);
    if (changes.username !== undefined && !/^[A-Za-z0-9_.]{3,30}$/.test(changes.username)) {
      setUsernameError(USERNAME_RULE);
      return;
    }
    await run(async () => {
      try {
        const updated = Object.keys(changes).length ? await users.update(changes) : user;
        setUser(updated);
        setSaved(true);
      } catch (failure) {
        const problem = usernameProblem(failure);
        if (!problem) throw failure;
        setUsernameError(problem);
      }
    });
  }

  return (
    <section className="card" aria-labelledby="profile-details-heading">
      <h2 id="profile-details-heading">Your details</h2>
      <p className="muted">Signed in as {user.email}</p>
      <form onSubmit={submit} className="form">
        <TextField
          id="profile-name"
          label="Name"
          autoComplete="name"
          limit={NAME_RULE}
          required
          value={name}
          onChange={edit(setName)}
        />
        <TextField
          id="profile-username"
          label="Username"
          autoComplete="username"
          maxLength={30}
          hint="3 to 30 letters, digits, _ or ."
          value={username}
          error={usernameError}
          onChange={edit(setUsername)}
        />
        <TextAreaField
          id="profile-bio"
          label="Bio"
          rows={3}
          limit={BIO_RULE}
          value={bio}
          onChange={edit(setBio)}
        />
        <p className="notice" role="status">
          {saved ? "Saved" : ""}
        </p>
        <ErrorText message={error} />
        <button type="submit" className="button" disabled={busy}>
          Save profile
        </button>
      </form>
    </section>
  );
}

function AvatarForm({ user }: { user: Me }) {
  const { setUser } = useSession();
  const [preview, setPreview] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const { busy, error, setError, run } = useSubmit();
  const previewRef = useRef<string | null>(null);

  const showPreview = useCallback((url: string | null) => {
    if (previewRef.current) URL.revokeObjectURL(previewRef.current);
    previewRef.current = url;
    setPreview(url);
  }, []);

  useEffect(() => () => showPreview(null), [showPreview]);

  async function choose(event: ChangeEvent<HTMLInputElement>) {
    const input = event.currentTarget;
    const file = input.files?.[0];
    setMessage(null);
    setError(null);
    if (!file) return;
    if (file.size > MAX_AVATAR_BYTES) {
      setError("The image is larger than 5 MB. Choose a smaller one.");
      input.value = "";
      return;
    }
    showPreview(URL.createObjectURL(file));
    await run(async () => {
      const updated = await users.uploadAvatar(file);
      setUser(updated);
      setMessage("Your new picture is uploaded.");
    });
    // `run` never throws: this runs after a success and after a failure alike.
    showPreview(null);
    input.value = "";
  }

  async function remove() {
    setMessage(null);
    await run(async () => {
      await users.removeAvatar();
      setUser(await users.me());
      setMessage("Your picture is removed.");
    });
  }

  return (
    <section className="card" aria-labelledby="profile-avatar-heading">
      <h2 id="profile-avatar-heading">Picture</h2>
      <div className="avatar-editor">
        <img
          className="avatar avatar-large"
          src={preview ?? user.avatarUrl}
          alt={preview ? "Preview of your new picture" : `${user.name}'s picture`}
        />
        <div className="field">
          <label htmlFor="profile-avatar">Avatar</label>
          <input
            id="profile-avatar"
            type="file"
            accept="image/png,image/jpeg,image/webp,image/gif"
            aria-describedby="profile-avatar-hint"
            disabled={busy}
            onChange={(e) => void choose(e)}
          />
          <p className="hint" id="profile-avatar-hint">
            PNG, JPEG, WebP or GIF up to 5 MB. It is cropped to a square.
          </p>
        </div>
      </div>
      {hasOwnPicture(user) && (
        <div className="actions">
          <button
            type="button"
            className="button secondary"
            disabled={busy}
            onClick={() => void remove()}
          >
            Remove picture
          </button>
        </div>
      )}
      {busy && <p className="muted avatar-message">Saving…</p>}
      {message && <p className="notice">{message}</p>}
      <ErrorText message={error} />
    </section>
  );
}

function describeDevice(userAgent: string): string {
  if (!userAgent) return "Unknown device";
  const browser =
    /Edg\//.test(userAgent)
      ? "Edge"
      : /Firefox\//.test(userAgent)
        ? "Firefox"
        : /Chrome\/|Chromium\//.test(userAgent)
          ? "Chrome"
          : /Safari\//.test(userAgent)
            ? "Safari"
            : null;
  const os = /Android/.test(userAgent)
    ? "Android"
    : /iPhone|iPad/.test(userAgent)
      ? "iOS"
      : /Windows/.test(userAgent)
        ? "Windows"
        : /Mac OS X/.test(userAgent)
          ? "macOS"
          : /Linux/.test(userAgent)
            ? "Linux"
            : null;
  if (browser && os) return `${browser} on ${os}`;
  return browser ?? os ?? userAgent.slice(0, 60);
}

const when = (iso: string) => new Date(iso).toLocaleString();

function Sessions() {
  const [sessions, setSessions] = useState<SessionInfo[] | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { busy, error, setError, run } = useSubmit();

  const load = useCallback(async () => {
    try {
      const answer = await auth.sessions();
      setSessions(answer.sessions);
      setError(null);
    } catch (failure) {
      setError(describeError(failure));
    }
  }, [setError]);

  useEffect(() => {
    void load();
  }, [load]);

  async function revokeOne(session: SessionInfo) {
    setNotice(null);
    await run(async () => {
      try {
        await auth.revokeSession(session.id);
      } catch (failure) {
        // Ended already (it expired, or another device ended it): the list shows it gone.
        if (!(failure instanceof ApiError && failure.code === "not_found")) throw failure;
      }
      setNotice("Signed out of that session.");
      await load();
    });
  }

  async function revokeOthers() {
    setNotice(null);
    await run(async () => {
      const { revoked } = await auth.revokeOtherSessions();
      setNotice(
        revoked === 0
          ? "There were no other sessions."
          : `Signed out of ${revoked} other session${revoked === 1 ? "" : "s"}.`,
      );
      await load();
    });
  }

  const others = sessions?.filter((s) => !s.current).length ?? 0;
  return (
    <section className="card" aria-labelledby="profile-sessions-heading">
      <h2 id="profile-sessions-heading">Where you are signed in</h2>
      {sessions === null && !error && <Loading />}
      {sessions && (
        <ul className="session-list" aria-labelledby="profile-sessions-heading">
          {sessions.map((s) => (
            <li key={s.id} className="session">
              <div>
                <strong>{describeDevice(s.userAgent)}</strong>
                {s.current && <span className="badge">This device</span>}
              </div>
              <div className="muted small">
                {s.ip || "unknown address"} · last active {when(s.lastUsedAt)} · since{" "}
                {when(s.createdAt)}
              </div>
              {!s.current && (
                <button
                  type="button"
                  className="button secondary small"
                  disabled={busy}
                  aria-label={`Sign out ${describeDevice(s.userAgent)}, last active ${when(s.lastUsedAt)}`}
                  onClick={() => void revokeOne(s)}
                >
                  Sign out
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {sessions && (
        <p className="muted small" id="profile-sessions-others">
          {others === 0
            ? "You are signed in on this device only."
            : `You are also signed in on ${others} other device${others === 1 ? "" : "s"} or browser${others === 1 ? "" : "s"}.`}
        </p>
      )}
      {notice && <p className="notice">{notice}</p>}
      <ErrorText message={error} />
      <button
        type="button"
        className="button secondary"
        disabled={busy}
        aria-describedby="profile-sessions-others"
        onClick={() => void revokeOthers()}
      >
        Sign out of other sessions
      </button>
    </section>
  );
}
