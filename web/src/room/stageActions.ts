// Which host actions the page offers on a person, from the viewer's role and theirs (the rules
// of docs/protocol.md, "Stage rooms": the server checks them again and has the last word).
import type { StageRole } from "../call/types";

export type StageAction = "invite" | "mute" | "make-co-host" | "make-speaker" | "move-to-audience" | "remove";

export interface Viewer {
  stage: boolean;
  role: StageRole;
  isOwner: boolean;
}

export interface Target {
  role: StageRole;
  isOwner: boolean;
  isSelf: boolean;
}

export function actionsOn(viewer: Viewer, target: Target): StageAction[] {
  if (target.isSelf || target.isOwner) return [];
  // Non-stage rooms keep their one host action: the owner mutes people.
  if (!viewer.stage) return viewer.isOwner ? ["mute"] : [];
  if (viewer.role !== "host") return [];
  switch (target.role) {
    case "listener":
      return ["invite", "remove"];
    case "speaker":
      return ["mute", ...(viewer.isOwner ? (["make-co-host"] as const) : []), "move-to-audience", "remove"];
    case "host":
      // Co-hosts answer to the owner only.
      return viewer.isOwner ? ["mute", "make-speaker", "move-to-audience", "remove"] : [];
  }
}

/**
 * Each action's button: its accessible name (with the person's name) and how it reads around
 * the name, so the visible text ("Invite to speak") is the name without the person's name,
 * which is there for assistive technology only.
 */
export function actionLabel(action: StageAction, name: string): { label: string; before: string; after: string } {
  const [before, after] = ACTION_WORDS[action];
  return { label: after ? `${before} ${name} ${after}` : `${before} ${name}`, before, after };
}

const ACTION_WORDS: Record<StageAction, [string, string]> = {
  invite: ["Invite", "to speak"],
  mute: ["Mute", ""],
  "make-co-host": ["Make", "a co-host"],
  "make-speaker": ["Make", "a speaker"],
  "move-to-audience": ["Move", "to the audience"],
  remove: ["Remove", ""],
};
