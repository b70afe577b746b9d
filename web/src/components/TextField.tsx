import type {
  ChangeEvent,
  InputHTMLAttributes,
  ReactNode,
  TextareaHTMLAttributes,
} from "react";

import { textLength, textProblem } from "../text";
import type { TextRule } from "../text";

/** Attributes the field owns itself; everything else is passed through to the control. */
type Owned = "id" | "value" | "onChange" | "aria-describedby" | "aria-invalid" | "children";

interface FieldProps {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  /** Help text under the control, linked to it with `aria-describedby` (its id is `${id}-hint`). */
  hint?: ReactNode;
  /**
   * Text shown to others: a live "n/max" count in code points, as the server counts (not the
   * browser's `maxLength`, which counts an emoji as 2). Over the limit the control is invalid.
   */
  limit?: TextRule;
}

export type TextFieldProps = FieldProps & Omit<InputHTMLAttributes<HTMLInputElement>, Owned>;
export type TextAreaFieldProps = FieldProps &
  Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, Owned>;

/** The `.field` wrapper: the label, the control, the hint and the count when there are. */
function Field({
  id,
  label,
  hint,
  count,
  children,
}: {
  id: string;
  label: string;
  hint: ReactNode;
  count: string | null;
  children: ReactNode;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {hint != null && (
        <p className="hint" id={hintId(id)}>
          {hint}
        </p>
      )}
      {count != null && (
        <p className="hint counter" id={countId(id)}>
          {count}
        </p>
      )}
    </div>
  );
}

const hintId = (id: string) => `${id}-hint`;
const countId = (id: string) => `${id}-count`;

/** "12/80 characters", counted as the server counts; null without a limit. */
export function countText(value: string, limit: TextRule | undefined): string | null {
  if (!limit) return null;
  return `${textLength(value, limit.multiline)}/${limit.max} characters`;
}

/** What the input and the textarea share: the id, the hint link, and the value in and out. */
function controlProps({ id, value, onChange, hint, limit }: Omit<FieldProps, "label">) {
  const describedBy = [hint != null ? hintId(id) : null, limit ? countId(id) : null]
    .filter(Boolean)
    .join(" ");
  return {
    id,
    "aria-describedby": describedBy || undefined,
    "aria-invalid": limit && textProblem(value, limit) === "text_too_long" ? true : undefined,
    value,
    onChange: (e: ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => onChange(e.target.value),
  };
}

/** A labelled single-line text input. */
export function TextField({ id, label, value, onChange, hint, limit, ...rest }: TextFieldProps) {
  return (
    <Field id={id} label={label} hint={hint} count={countText(value, limit)}>
      <input {...rest} {...controlProps({ id, value, onChange, hint, limit })} />
    </Field>
  );
}

/** A labelled multi-line text input. */
export function TextAreaField({
  id,
  label,
  value,
  onChange,
  hint,
  limit,
  ...rest
}: TextAreaFieldProps) {
  return (
    <Field id={id} label={label} hint={hint} count={countText(value, limit)}>
      <textarea {...rest} {...controlProps({ id, value, onChange, hint, limit })} />
    </Field>
  );
}
