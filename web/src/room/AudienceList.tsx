// The audience (audience mode): how many listen, and their avatars, paged in over REST as the
// list scrolls (or with "Show more listeners", for the keyboard), kept current by the call's
// `audience-update`s.
import { useEffect, useRef, useState } from "react";

import { describeError } from "../api/messages";
import type { AudienceMember, Call, CallState } from "../call/types";
import { Avatar } from "../components/Avatar";
import { PersonActions, type ActOn } from "./PersonActions";
import { actionsOn, type Viewer } from "./stageActions";

export function audienceCountText(count: number): string {
  return `${count} listening`;
}

/**
 * A stage room's listener: the name (a listener is not heard, so no microphone state). In a
 * large room that is not a stage room the audience may speak: as a participant's name.
 */
export function audienceLabel(member: AudienceMember, stage: boolean, speaking: boolean): string {
  const name = member.user.name + (member.isSelf ? " (you)" : "");
  if (stage) return name;
  return [name, member.muted ? "muted" : "microphone on", ...(speaking ? ["speaking"] : [])].join(", ");
}

export function AudienceList({
  call,
  state,
  ownerId,
  viewer,
  onAction,
}: {
  call: Call;
  state: CallState;
  ownerId: string;
  viewer: Viewer;
  onAction: ActOn;
}) {
  const { count, members, nextCursor } = state.audience;
  const scrollRef = useRef<HTMLDivElement>(null);
  const moreRef = useRef<HTMLButtonElement>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const hasMore = nextCursor !== null;
  const speaking = new Set(state.speakingUsers);

  function loadMore() {
    if (loading) return;
    setLoading(true);
    setError(null);
    call
      .loadMoreAudience()
      .catch((failure: unknown) => setError(describeError(failure)))
      .finally(() => setLoading(false));
  }

  // The next page loads when the end of the list scrolls into view.
  const load = useRef(loadMore);
  load.current = loadMore;
  useEffect(() => {
    const button = moreRef.current;
    if (!hasMore || !button || typeof IntersectionObserver === "undefined") return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) load.current();
      },
      { root: scrollRef.current, rootMargin: "120px" },
    );
    observer.observe(button);
    return () => observer.disconnect();
  }, [hasMore, nextCursor]);

  return (
    <section className="card audience" aria-labelledby="audience-heading">
      <h2 id="audience-heading">Audience</h2>
      <p className="muted small audience-count">{audienceCountText(count)}</p>
      <div className="audience-scroll" ref={scrollRef}>
        <ul className="audience-list" aria-labelledby="audience-heading">
          {members.map((member) => {
            const actions = actionsOn(viewer, {
              role: member.role,
              isOwner: member.userId === ownerId,
              isSelf: member.isSelf,
            });
            const isSpeaking = speaking.has(member.userId);
            return (
              <li
                key={member.userId}
                className="audience-member"
                aria-label={audienceLabel(member, state.stage, isSpeaking)}
                data-speaking={isSpeaking ? "true" : "false"}
                data-muted={member.muted ? "true" : "false"}
              >
                <span className="participant-avatar">
                  <Avatar src={member.user.avatarUrl} name={member.user.name} decorative />
                </span>
                <span className="audience-name">
                  {member.user.name}
                  {member.isSelf && <span className="muted"> (you)</span>}
                </span>
                {actions.length > 0 && (
                  <span className="audience-actions">
                    <PersonActions actions={actions} user={member.user} muted={member.muted} onAction={onAction} />
                  </span>
                )}
              </li>
            );
          })}
        </ul>
        {hasMore && (
          <button
            ref={moreRef}
            type="button"
            className="button small secondary audience-more"
            disabled={loading}
            onClick={loadMore}
          >
            {loading ? "Loading more listeners…" : "Show more listeners"}
          </button>
        )}
      </div>
      {count > 0 && members.length === 0 && !hasMore && (
        <p className="muted small">The list of listeners is on its way.</p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
