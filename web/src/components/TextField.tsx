import type {
  ChangeEvent,
  InputHTMLAttributes,
  ReactNode,
  TextareaHTMLAttributes,
} from "react";

/** Attributes the field owns itself; everything else is passed through to the control. */
type Owned = "id" | "value" | "onChange" | "aria-describedby" | "children";

interface FieldProps {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  /** Help text under the control, linked to it with `aria-describedby` (its id is `${id}-hint`). */
  hint?: ReactNode;
}

export type TextFieldProps = FieldProps & Omit<InputHTMLAttributes<HTMLInputElement>, Owned>;
export type TextAreaFieldProps = FieldProps &
  Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, Owned>;

/** The `.field` wrapper: the label, the control, and the hint when there is one. */
function Field({
  id,
  label,
  hint,
  children,
}: {
  id: string;
  label: string;
  hint: ReactNode;
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
    </div>
  );
}

const hintId = (id: string) => `${id}-hint`;

/** What the input and the textarea share: the id, the hint link, and the value in and out. */
function controlProps({ id, value, onChange, hint }: Omit<FieldProps, "label">) {
  return {
    id,
    "aria-describedby": hint != null ? hintId(id) : undefined,
    value,
    onChange: (e: ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => onChange(e.target.value),
  };
}

/** A labelled single-line text input. */
export function TextField({ id, label, value, onChange, hint, ...rest }: TextFieldProps) {
  return (
    <Field id={id} label={label} hint={hint}>
      <input {...rest} {...controlProps({ id, value, onChange, hint })} />
    </Field>
  );
}

/** A labelled multi-line text input. */
export function TextAreaField({ id, label, value, onChange, hint, ...rest }: TextAreaFieldProps) {
  return (
    <Field id={id} label={label} hint={hint}>
      <textarea {...rest} {...controlProps({ id, value, onChange, hint })} />
    </Field>
  );
}
