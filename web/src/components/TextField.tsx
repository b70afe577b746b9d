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
  /**
   * A problem with this field's value, shown under it and tied to it (`aria-invalid`, and
   * `aria-describedby` to `${id}-error`). The form clears it when the value changes.
   */
  error?: string | null;
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
  error,
  children,
}: {
  id: string;
  label: string;
  hint: ReactNode;
  count: string | null;
  error?: string | null;
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
      {error && (
        <p className="error" role="alert" id={errorId(id)}>
          {error}
        </p>
      )}
    </div>
  );
}

const hintId = (id: string) => `${id}-hint`;
const countId = (id: string) => `${id}-count`;
const errorId = (id: string) => `${id}-error`;

/** "12/80 characters", counted as the server counts; null without a limit. */
export function countText(value: string, limit: TextRule | undefined): string | null {
  if (!limit) return null;
  return `${textLength(value, limit.multiline)}/${limit.max} characters`;
}

/** What the input and the textarea share: the id, the hint link, and the value in and out. */
function controlProps({ id, value, onChange, hint, limit, error }: Omit<FieldProps, "label">) {
  const describedBy = [
    error ? errorId(id) : null,
    hint != null ? hintId(id) : null,
    limit ? countId(id) : null,
  ]
    .filter(Boolean)
    .join(" ");
  const tooLong = limit !== undefined && textProblem(value, limit) === "text_too_long";
  return {
    id,
    "aria-describedby": describedBy || undefined,
    "aria-invalid": error || tooLong ? true : undefined,
    value,
    onChange: (e: ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => onChange(e.target.value),
  };
}

/** A labelled single-line text input. */
export function TextField({
  id,
  label,
  value,
  onChange,
  hint,
  limit,
  error,
  ...rest
}: TextFieldProps) {
  return (
    <Field id={id} label={label} hint={hint} count={countText(value, limit)} error={error}>
      <input {...rest} {...controlProps({ id, value, onChange, hint, limit, error })} />
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
  error,
  ...rest
}: TextAreaFieldProps) {
  return (
    <Field id={id} label={label} hint={hint} count={countText(value, limit)} error={error}>
      <textarea {...rest} {...controlProps({ id, value, onChange, hint, limit, error })} />
    </Field>
  );
}
