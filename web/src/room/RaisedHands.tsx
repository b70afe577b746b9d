// The hosts' queue: raised hands in the order they were raised, each with "Invite to speak"
// (again after a refusal or a lapse) and "Remove", and where each invitation stands.
import type { CallState, InviteAnswer } from "../call/types";
import { Avatar } from "../components/Avatar";
import { PersonActions, type ActOn } from "./PersonActions";
import { actionsOn, type Viewer } from "./stageActions";

export function inviteAnswerText(answer: InviteAnswer | undefined): string {
  switch (answer) {
    case "pending":
      return "Invited: waiting for an answer";
    case "declined":
      return "Declined the invitation";
    case "expired":
      return "The invitation expired";
    default:
      return "Waiting for a host";
  }
}

export function RaisedHands({
  state,
  ownerId,
  viewer,
  onAction,
}: {
  state: CallState;
  ownerId: string;
  viewer: Viewer;
  onAction: ActOn;
}) {
  const hands = state.raisedHands;
  return (
    <section className="card raised-hands" aria-labelledby="raised-hands-heading">
      <h2 id="raised-hands-heading">Raised hands</h2>
      {hands.length === 0 ? (
        <p className="muted small">No raised hands.</p>
      ) : (
        <ol className="hand-list" aria-labelledby="raised-hands-heading">
          {hands.map((hand) => {
            const answer = state.inviteAnswers[hand.userId];
            const actions = actionsOn(viewer, { role: "listener", isOwner: hand.userId === ownerId, isSelf: false });
            return (
              <li key={hand.userId} className="hand" aria-label={`${hand.user.name}, ${inviteAnswerText(answer)}`}>
                <Avatar src={hand.user.avatarUrl} name={hand.user.name} size="small" decorative />
                <span className="hand-text">
                  <span className="participant-name">{hand.user.name}</span>
                  <span className="muted small" data-answer={answer ?? "none"}>
                    {inviteAnswerText(answer)}
                  </span>
                </span>
                <span className="hand-actions">
                  <PersonActions actions={actions} user={hand.user} muted={false} onAction={onAction} />
                </span>
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}
