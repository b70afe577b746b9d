import { TextField } from "../components/TextField";

/** The server's rule for a new password's length. */
export const MIN_PASSWORD_LENGTH = 10;
const MAX_PASSWORD_LENGTH = 128;
export const PASSWORD_TOO_SHORT =
  `Choose a password of at least ${MIN_PASSWORD_LENGTH} characters.`;

interface Props {
  id: string;
  value: string;
  onChange: (value: string) => void;
}

/** The "Email" field of the sign-in, sign-up and password forms. */
export function EmailField({ required = true, ...props }: Props & { required?: boolean }) {
  return (
    <TextField {...props} label="Email" type="email" autoComplete="email" required={required} />
  );
}

/** A field for choosing a new password, with the length rule as its hint. */
export function NewPasswordField({ label, ...props }: Props & { label: string }) {
  return (
    <TextField
      {...props}
      label={label}
      type="password"
      autoComplete="new-password"
      required
      minLength={MIN_PASSWORD_LENGTH}
      maxLength={MAX_PASSWORD_LENGTH}
      hint={`At least ${MIN_PASSWORD_LENGTH} characters.`}
    />
  );
}
