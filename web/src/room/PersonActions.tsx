// The host actions on one person (stage, audience or raised hand), as buttons named after them.
import type { PublicProfile } from "../call/types";
import { actionLabel, type StageAction } from "./stageActions";

export type ActOn = (action: StageAction, user: PublicProfile) => void;

export function PersonActions({
  actions,
  user,
  muted,
  onAction,
}: {
  actions: StageAction[];
  user: PublicProfile;
  muted: boolean;
  onAction: ActOn;
}) {
  if (actions.length === 0) return null;
  return (
    <>
      {actions.map((action) => {
        // Named by its content ("Invite {name} to speak"), the name visually hidden.
        const { before, after } = actionLabel(action, user.name);
        return (
          <button
            key={action}
            type="button"
            className={`button small ${action === "remove" ? "danger" : "secondary"}`}
            title={action === "mute" ? "Mute for everyone in the room" : undefined}
            disabled={action === "mute" && muted}
            onClick={() => onAction(action, user)}
          >
            {before}
            <span className="visually-hidden"> {user.name}</span>
            {after ? ` ${after}` : ""}
          </button>
        );
      })}
    </>
  );
}
