// Text people show each other (names, topics, bios), judged the way the server does (api/text.py):
// NFC, trimmed of whitespace and invisible filler, length in Unicode code points. The browser's
// `maxLength` counts UTF-16 units (an emoji is 2), so the forms count with these instead.

export interface TextRule {
  /** Most code points allowed after normalizing. */
  max: number;
  /** May be empty (a bio); otherwise blank-looking text is refused. */
  allowEmpty?: boolean;
  /** Line breaks allowed (a bio). */
  multiline?: boolean;
}

/** The server's limits (api/users/models.py, api/rooms/models.py). */
export const NAME_RULE: TextRule = { max: 80 };
export const BIO_RULE: TextRule = { max: 300, allowEmpty: true, multiline: true };
export const TOPIC_RULE: TextRule = { max: 120 };

const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;
// Control characters, lone surrogates, line and paragraph separators.
const CONTROL = /[\p{Cc}\p{Cs}\u2028\u2029]/u;
const BLANK_LOOKING = /[\u2800\u3164\u115F\u1160\uFFA0]/u;
// Invisible: whitespace, format characters, default-ignorables, blank-looking letters.
const INVISIBLE = /[\s\p{Cf}\p{Default_Ignorable_Code_Point}\u2800\u3164\u115F\u1160\uFFA0]/u;
// Invisible but part of real text in the right place: joiners, variation selectors, tags.
const CONTEXTUAL = /[\u200C\u200D\uFE00-\uFE0F\u{E0100}-\u{E01EF}\u{E0020}-\u{E007F}]/u;

const isInvisible = (char: string) => INVISIBLE.test(char);
const isTrimmable = (char: string) => isInvisible(char) && !CONTEXTUAL.test(char);

/** What would be stored: NFC, unified line breaks, no surrounding whitespace or filler. */
export function normalizeText(value: string, multiline = false): string {
  let text = value.normalize("NFC");
  if (multiline) text = text.replace(/\r\n?/g, "\n");
  const chars = [...text];
  let start = 0;
  let end = chars.length;
  while (start < end && isTrimmable(chars[start])) start += 1;
  while (end > start && isTrimmable(chars[end - 1])) end -= 1;
  return chars.slice(start, end).join("");
}

/** Length as the server counts it: code points of the normalized text (an emoji is 1). */
export function textLength(value: string, multiline = false): number {
  return [...normalizeText(value, multiline)].length;
}

export type TextProblem =
  | "text_blank"
  | "text_too_long"
  | "text_control_character"
  | "text_bidi_control"
  | "text_invisible_character";

/** The server's error code for this text, or null when it would be accepted. */
export function textProblem(value: string, rule: TextRule): TextProblem | null {
  const multiline = rule.multiline ?? false;
  // Surrounding whitespace (a trailing newline, say) is trimmed on both sides, not refused.
  let raw = value.trim().normalize("NFC");
  if (multiline) raw = raw.replace(/\r\n?/g, "\n");
  if (BIDI_CONTROL.test(raw)) return "text_bidi_control";
  for (const char of raw) {
    if (CONTROL.test(char) && !(multiline && char === "\n")) return "text_control_character";
  }
  const text = normalizeText(value, multiline);
  const chars = [...text];
  if (chars.every(isInvisible)) return rule.allowEmpty ? null : "text_blank";
  for (let i = 0; i < chars.length; i += 1) {
    const char = chars[i];
    if (/\s/u.test(char) || char === "\u2800") continue;
    if (BLANK_LOOKING.test(char)) return "text_invisible_character";
    if (isInvisible(char) && !allowedHere(chars, i)) return "text_invisible_character";
  }
  return chars.length > rule.max ? "text_too_long" : null;
}

function allowedHere(chars: string[], index: number): boolean {
  const char = chars[index];
  const before = chars[index - 1] ?? "";
  const after = chars[index + 1] ?? "";
  const visible = (c: string) => c !== "" && !isInvisible(c);
  const selector = (c: string) => /[\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/u.test(c);
  const tag = (c: string) => /[\u{E0020}-\u{E007F}]/u.test(c);
  if (!before) return false;
  if (char === "\u200C" || char === "\u200D") {
    return visible(after) && (visible(before) || selector(before));
  }
  if (selector(char)) return visible(before);
  if (tag(char)) return before === "\u{1F3F4}" || (tag(before) && before !== "\u{E007F}");
  return false;
}

/** A sentence for a person, for the field called `label`. */
export function textProblemMessage(problem: TextProblem, label: string, rule: TextRule): string {
  switch (problem) {
    case "text_blank":
      return `${label} cannot be empty.`;
    case "text_too_long":
      return `${label} can be at most ${rule.max} characters.`;
    case "text_control_character":
      return `${label} cannot contain control characters.`;
    case "text_bidi_control":
      return `${label} cannot contain text-direction control characters.`;
    case "text_invisible_character":
      return `${label} cannot contain invisible characters.`;
  }
}

/** The first problem among the fields, as a sentence, or null when all are fine. */
export function checkTexts(
  fields: ReadonlyArray<{ label: string; value: string; rule: TextRule }>,
): string | null {
  for (const { label, value, rule } of fields) {
    const problem = textProblem(value, rule);
    if (problem) return textProblemMessage(problem, label, rule);
  }
  return null;
}
