import { describe, expect, it } from "vitest";
import { countText } from "./components/TextField";
import {
  BIO_RULE,
  CJK_IDEOGRAPHS,
  DEFAULT_IGNORABLE,
  EMOJI_MODIFIERS,
  EXTENDED_PICTOGRAPHIC,
  NAME_RULE,
  TOPIC_RULE,
  checkTexts,
  normalizeText,
  parseRanges,
  textLength,
  textProblem,
} from "./text";
import { TEXT_CASES } from "./text.cases";

const FAMILY = "\u{1F469}\u200D\u{1F469}\u200D\u{1F467}"; // 👩‍👩‍👧
const HEART_ON_FIRE = "\u2764\uFE0F\u200D\u{1F525}"; // ❤️‍🔥
const ENGLAND = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}";

describe("text length, as the server counts it", () => {
  it("counts an emoji as one, where the browser's maxLength counts two", () => {
    const topic = "\u{1F600}".repeat(120);
    expect(topic.length).toBe(240); // what <input maxLength> would have compared
    expect(textLength(topic)).toBe(120);
    expect(textProblem(topic, TOPIC_RULE)).toBeNull();
    expect(textProblem(topic + "x", TOPIC_RULE)).toBe("text_too_long");
  });
  it("counts after NFC and trimming", () => {
    expect(textLength("Jose\u0301")).toBe(4);
    expect(textLength("  \u200BAnn\u3164  ")).toBe(3);
    expect(normalizeText(" Jose\u0301\uFEFF ")).toBe("Jos\u00E9");
    expect(normalizeText("one\r\ntwo\rthree ", true)).toBe("one\ntwo\nthree");
  });
  it("shows the count next to the field", () => {
    expect(countText("\u{1F600}".repeat(3), TOPIC_RULE)).toBe("3/120 characters");
    expect(countText("x", undefined)).toBeNull();
  });
});

describe("text problems, with the server's codes", () => {
  it("accepts names the server accepts", () => {
    for (const name of ["Ann", FAMILY, HEART_ON_FIRE, ENGLAND, "می\u200Cخواهم", "a\u2800b"]) {
      expect(textProblem(name, NAME_RULE)).toBeNull();
    }
  });
  it("finds blank-looking text blank", () => {
    for (const blank of ["", "   ", "\u200B", "\u200D", "\u3164", "\u2800", "\u115F\uFFA0", "\uFEFF"]) {
      expect(textProblem(blank, NAME_RULE)).toBe("text_blank");
      expect(textProblem(blank, BIO_RULE)).toBeNull();
    }
  });
  it("refuses control, bidi and invisible characters", () => {
    expect(textProblem("nul\u0000", NAME_RULE)).toBe("text_control_character");
    expect(textProblem("bell\u0007", NAME_RULE)).toBe("text_control_character");
    expect(textProblem("a\nb", NAME_RULE)).toBe("text_control_character");
    expect(textProblem("a\nb", BIO_RULE)).toBeNull();
    expect(textProblem("evil\u202Egpj", NAME_RULE)).toBe("text_bidi_control");
    expect(textProblem("a\u2066b\u2069", NAME_RULE)).toBe("text_bidi_control");
    expect(textProblem("ad\u200Bmin", NAME_RULE)).toBe("text_invisible_character");
    expect(textProblem("Ann\u3164Lee", NAME_RULE)).toBe("text_invisible_character");
  });
  it("says what is wrong in words", () => {
    expect(checkTexts([{ label: "Name", value: "\u200B", rule: NAME_RULE }])).toBe(
      "Name cannot be empty.",
    );
    expect(checkTexts([{ label: "Topic", value: "x".repeat(121), rule: TOPIC_RULE }])).toBe(
      "Topic can be at most 120 characters.",
    );
    expect(checkTexts([{ label: "Name", value: "Ann", rule: NAME_RULE }])).toBeNull();
  });
});

describe("the cases the server runs too (text.cases.ts)", () => {
  const rules = { name: NAME_RULE, bio: BIO_RULE };
  it.each(TEXT_CASES.map((c) => [c.why, JSON.stringify(c.text).slice(0, 40), c] as const))(
    "%s: %s",
    (_why, _text, c) => {
      expect(textProblem(c.text, rules[c.rule])).toBe(c.expect);
    },
  );
});

describe("the tables shared with the server", () => {
  // Every code point, as the browser's regex engine classifies it (surrogates are not text).
  function engineRanges(property: RegExp): string {
    const ranges: string[] = [];
    let start = -1;
    for (let code = 0; code <= 0x110000; code += 1) {
      const inside =
        code <= 0x10ffff &&
        !(code >= 0xd800 && code <= 0xdfff) &&
        property.test(String.fromCodePoint(code));
      if (inside && start < 0) start = code;
      if (!inside && start >= 0) {
        const last = code - 1;
        ranges.push(start === last ? start.toString(16) : `${start.toString(16)}-${last.toString(16)}`);
        start = -1;
      }
    }
    return ranges.join(" ");
  }
  it("are the browser's Unicode properties", () => {
    expect(engineRanges(/\p{Extended_Pictographic}/u)).toBe(EXTENDED_PICTOGRAPHIC);
    expect(engineRanges(/\p{Default_Ignorable_Code_Point}/u)).toBe(DEFAULT_IGNORABLE);
    expect(engineRanges(/\p{Emoji_Modifier}/u)).toBe(EMOJI_MODIFIERS);
  });
  it("start with CJK ideographs (the blocks, unassigned tails included)", () => {
    for (const [first] of parseRanges(CJK_IDEOGRAPHS)) {
      expect(/\p{Script=Han}/u.test(String.fromCodePoint(first))).toBe(true);
    }
  });
});
