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

/** Each action's button: its accessible name (with the person's name) and its visible text. */
export function actionLabel(action: StageAction, name: string): { label: string; text: string } {
  switch (action) {
    case "invite":
      return { label: `Invite ${name} to speak`, text: "Invite to speak" };
    case "mute":
      return { label: `Mute ${name}`, text: "Mute" };
    case "make-co-host":
      return { label: `Make ${name} a co-host`, text: "Make co-host" };
    case "make-speaker":
      return { label: `Make ${name} a speaker`, text: "Make speaker" };
    case "move-to-audience":
      return { label: `Move ${name} to the audience`, text: "Move to audience" };
    case "remove":
      return { label: `Remove ${name}`, text: "Remove" };
  }
}
