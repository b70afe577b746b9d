// Text people show each other (names, topics, bios), judged the way the server does (api/text.py),
// with the same tables and the same cases (text.cases.ts): NFC, trimmed of whitespace and
// invisible filler, no hidden characters, length in Unicode code points. The browser's
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

// The same tables as api/text.py ("first-last" in hex), so both sides judge alike whatever
// Unicode version the browser has. text.test.ts checks them against the browser's own.
/** Unicode's Default_Ignorable_Code_Point: shown as nothing when not supported. */
export const DEFAULT_IGNORABLE =
  "ad 34f 61c 115f-1160 17b4-17b5 180b-180f 200b-200f 202a-202e 2060-206f 3164 fe00-fe0f" +
  " feff ffa0 fff0-fff8 1bca0-1bca3 1d173-1d17a e0000-e0fff";
/** Unicode 17's Extended_Pictographic, including the code points reserved for future emoji. */
export const EXTENDED_PICTOGRAPHIC =
  "a9 ae 203c 2049 2122 2139 2194-2199 21a9-21aa 231a-231b 2328 23cf 23e9-23f3 23f8-23fa" +
  " 24c2 25aa-25ab 25b6 25c0 25fb-25fe 2600-2604 260e 2611 2614-2615 2618 261d 2620" +
  " 2622-2623 2626 262a 262e-262f 2638-263a 2640 2642 2648-2653 265f-2660 2663 2665-2666" +
  " 2668 267b 267e-267f 2692-2697 2699 269b-269c 26a0-26a1 26a7 26aa-26ab 26b0-26b1" +
  " 26bd-26be 26c4-26c5 26c8 26ce-26cf 26d1 26d3-26d4 26e9-26ea 26f0-26f5 26f7-26fa 26fd" +
  " 2702 2705 2708-270d 270f 2712 2714 2716 271d 2721 2728 2733-2734 2744 2747 274c 274e" +
  " 2753-2755 2757 2763-2764 2795-2797 27a1 27b0 27bf 2934-2935 2b05-2b07 2b1b-2b1c 2b50" +
  " 2b55 3030 303d 3297 3299 1f004 1f02c-1f02f 1f094-1f09f 1f0af-1f0b0 1f0c0 1f0cf-1f0d0" +
  " 1f0f6-1f0ff 1f170-1f171 1f17e-1f17f 1f18e 1f191-1f19a 1f1ae-1f1e5 1f201-1f20f 1f21a" +
  " 1f22f 1f232-1f23a 1f23c-1f23f 1f249-1f25f 1f266-1f321 1f324-1f393 1f396-1f397" +
  " 1f399-1f39b 1f39e-1f3f0 1f3f3-1f3f5 1f3f7-1f3fa 1f400-1f4fd 1f4ff-1f53d 1f549-1f54e" +
  " 1f550-1f567 1f56f-1f570 1f573-1f57a 1f587 1f58a-1f58d 1f590 1f595-1f596 1f5a4-1f5a5" +
  " 1f5a8 1f5b1-1f5b2 1f5bc 1f5c2-1f5c4 1f5d1-1f5d3 1f5dc-1f5de 1f5e1 1f5e3 1f5e8 1f5ef" +
  " 1f5f3 1f5fa-1f64f 1f680-1f6c5 1f6cb-1f6d2 1f6d5-1f6e5 1f6e9 1f6eb-1f6f0 1f6f3-1f6ff" +
  " 1f7da-1f7ff 1f80c-1f80f 1f848-1f84f 1f85a-1f85f 1f888-1f88f 1f8ae-1f8af 1f8bc-1f8bf" +
  " 1f8c2-1f8cf 1f8d9-1f8ff 1f90c-1f93a 1f93c-1f945 1f947-1f9ff 1fa58-1fa5f 1fa6e-1faff" +
  " 1fc00-1fffd";
export const EMOJI_MODIFIERS = "1f3fb-1f3ff";
/** Scripts that spell with ZWJ/ZWNJ: Arabic-script, Syriac, Thaana, N'Ko, Indic, Sinhala,
 * Myanmar, Khmer, Mongolian. ZWNJ/ZWJ between Latin letters would only hide something. */
export const JOINING_SCRIPTS =
  "600-8ff 900-dff 1000-109f 1780-18af a8e0-a8ff fb50-fdcf fdf0-fdff fe70-fefe";
export const CJK_IDEOGRAPHS = "3400-4dbf 4e00-9fff f900-faff 20000-3fffd";

type Ranges = ReadonlyArray<readonly [number, number]>;

export function parseRanges(spec: string): Ranges {
  return spec.split(" ").map((item) => {
    const [first, last] = item.split("-");
    return [parseInt(first, 16), parseInt(last ?? first, 16)] as const;
  });
}

const inRanges = (ranges: Ranges) => (char: string) => {
  const code = char.codePointAt(0);
  return code !== undefined && ranges.some(([first, last]) => first <= code && code <= last);
};

const isDefaultIgnorable = inRanges(parseRanges(DEFAULT_IGNORABLE));
const isEmoji = inRanges(parseRanges(EXTENDED_PICTOGRAPHIC));
const isEmojiModifier = inRanges(parseRanges(EMOJI_MODIFIERS));
const inJoiningScript = inRanges(parseRanges(JOINING_SCRIPTS));
const isCjkIdeograph = inRanges(parseRanges(CJK_IDEOGRAPHS));

const ZWNJ = "\u200C";
const ZWJ = "\u200D";
const WAVING_BLACK_FLAG = "\u{1F3F4}";
const CANCEL_TAG = "\u{E007F}";
const EMOJI_PRESENTATION = "\uFE0F";
const MAX_FLAG_TAGS = 6;
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;
// Control characters, lone surrogates, line and paragraph separators.
const CONTROL = /[\p{Cc}\p{Cs}\u2028\u2029]/u;
// What Python's str.isspace() is true for (\s would also take U+FEFF).
const SPACE = /[\p{Zs}\t\n\v\f\r\x1C-\x1F\x85\u2028\u2029]/u;
// Render as nothing or blank, though letters, marks or symbols: braille blank, Hangul fillers,
// Khitan filler, musical null notehead. U+2800 looks like a space and is allowed like one.
const BLANK_LOOKING = /[\u2800\u3164\u115F\u1160\uFFA0\u{16FE4}\u{1D159}]/u;
const SPACE_LIKE = "\u2800";
const MARK = /\p{M}/u;
const LETTER_OR_MARK = /[\p{L}\p{M}]/u;
const SYMBOL = /\p{S}/u;
const FORMAT = /\p{Cf}/u;
const PRIVATE_USE_OR_UNASSIGNED = /[\p{Co}\p{Cn}]/u;
const SELECTOR = /[\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/u;
const TAG = /[\u{E0020}-\u{E007F}]/u;
const FLAG_TAG = /[\u{E0030}-\u{E0039}\u{E0061}-\u{E007A}]/u;

const isSpace = (char: string) => SPACE.test(char);
const isMark = (char: string) => MARK.test(char);
const isInvisible = (char: string) =>
  isSpace(char) || BLANK_LOOKING.test(char) || isDefaultIgnorable(char) || FORMAT.test(char);
const isBase = (char: string) => !isInvisible(char) && !isMark(char);
const isContextual = (char: string) =>
  char === ZWNJ || char === ZWJ || SELECTOR.test(char) || TAG.test(char);
const isTrimmable = (char: string) => isInvisible(char) && !isContextual(char);

function isNoncharacter(char: string): boolean {
  const code = char.codePointAt(0) ?? 0;
  return (code >= 0xfdd0 && code <= 0xfdef) || (code & 0xfffe) === 0xfffe;
}

/** Private use, unassigned (but not a future emoji), noncharacters, U+FFFC/U+FFFD. The
 * browser's Unicode is newer than the server's: a character assigned in between passes here
 * and is refused there. */
function isUnsupported(char: string): boolean {
  return (
    (PRIVATE_USE_OR_UNASSIGNED.test(char) && !isEmoji(char)) ||
    isNoncharacter(char) ||
    char === "\uFFFC" ||
    char === "\uFFFD"
  );
}

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
  | "text_invisible_character"
  | "text_unsupported_character";

/** The server's error code for this text, or null when it would be accepted. */
export function textProblem(value: string, rule: TextRule): TextProblem | null {
  const multiline = rule.multiline ?? false;
  // Surrounding whitespace (a trailing newline, say) is trimmed on both sides, not refused.
  let raw = value.trim().normalize("NFC");
  if (multiline) raw = raw.replace(/\r\n?/g, "\n");
  for (const char of raw) {
    if (BIDI_CONTROL.test(char)) return "text_bidi_control";
    if (multiline && char === "\n") continue;
    if (CONTROL.test(char)) return "text_control_character";
    if (isUnsupported(char)) return "text_unsupported_character";
  }
  const chars = [...normalizeText(value, multiline)];
  if (!chars.some(isBase)) return rule.allowEmpty ? null : "text_blank";
  if (!allInvisiblesInPlace(chars)) return "text_invisible_character";
  return chars.length > rule.max ? "text_too_long" : null;
}

/** Every invisible character and combining mark sits where a writing system needs it. */
function allInvisiblesInPlace(chars: string[]): boolean {
  const flagTags = flagTagPositions(chars);
  let hasBase = false; // a base character since the last space, for combining marks
  for (let i = 0; i < chars.length; i += 1) {
    const char = chars[i];
    if (isSpace(char) || char === SPACE_LIKE) hasBase = false;
    else if (BLANK_LOOKING.test(char)) return false;
    else if (isInvisible(char)) {
      if (!flagTags.has(i) && !allowedHere(chars, i)) return false;
    } else if (isMark(char)) {
      if (!hasBase) return false;
    } else hasBase = true;
  }
  return true;
}

/** Where the tags of well-formed tag sequences are: 🏴, 2–6 tag letters/digits, cancel tag. */
function flagTagPositions(chars: string[]): Set<number> {
  const positions = new Set<number>();
  chars.forEach((char, index) => {
    if (char !== WAVING_BLACK_FLAG) return;
    let end = index + 1;
    while (end < chars.length && FLAG_TAG.test(chars[end])) end += 1;
    const count = end - index - 1;
    if (count >= 2 && count <= MAX_FLAG_TAGS && chars[end] === CANCEL_TAG) {
      for (let i = index + 1; i <= end; i += 1) positions.add(i);
    }
  });
  return positions;
}

function allowedHere(chars: string[], index: number): boolean {
  const char = chars[index];
  const before = chars[index - 1] ?? "";
  const after = chars[index + 1] ?? "";
  if (!before) return false;
  if (char === ZWJ) {
    const emojiBefore =
      isEmoji(before) ||
      isEmojiModifier(before) ||
      (before === EMOJI_PRESENTATION && index > 1 && isEmoji(chars[index - 2]));
    return (emojiBefore && isEmoji(after)) || joinsLetters(before, after);
  }
  if (char === ZWNJ) return joinsLetters(before, after);
  if (char === "\uFE0E" || char === EMOJI_PRESENTATION) {
    return isEmoji(before) || "0123456789#*".includes(before);
  }
  if (char >= "\uFE00" && char <= "\uFE0D") {
    return SYMBOL.test(before) || (isBase(before) && (isCjkIdeograph(before) || inJoiningScript(before)));
  }
  // U+E0100–U+E01EF: ideographic variation sequences.
  if (SELECTOR.test(char)) return isCjkIdeograph(before);
  return false;
}

/** Both sides are letters or marks of a script that spells with joiners. */
function joinsLetters(before: string, after: string): boolean {
  return [before, after].every((c) => c !== "" && LETTER_OR_MARK.test(c) && inJoiningScript(c));
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
    case "text_unsupported_character":
      return `${label} cannot contain private-use, unassigned or replacement characters.`;
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
