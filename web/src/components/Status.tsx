import { CANNOT_REACH_SERVER } from "../api/client";
import { useSession } from "../session/SessionContext";

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p className="muted loading" aria-busy="true">
      {label}
    </p>
  );
}

export function Unreachable() {
  const { retry } = useSession();
  return (
    <section className="card narrow">
      <h1>{CANNOT_REACH_SERVER}</h1>
      <p>Check your connection, then try again.</p>
      <button type="button" className="button" onClick={retry}>
        Try again
      </button>
    </section>
  );
}

/** An error next to a form or a section; announced when it appears. */
export function ErrorText({ message, id }: { message: string | null; id?: string }) {
  if (!message) return null;
  return (
    <p className="error" role="alert" id={id}>
      {message}
    </p>
  );
}
