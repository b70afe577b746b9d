import { useState } from "react";
import type { FormEvent } from "react";
import { Link, Navigate, useNavigate } from "react-router-dom";

import { auth } from "../api/endpoints";
import { ErrorText } from "../components/Status";
import { TextField } from "../components/TextField";
import { useSubmit } from "../components/useSubmit";
import { useSession } from "../session/SessionContext";
import { NAME_RULE, checkTexts, normalizeText } from "../text";
import {
  EmailField,
  MIN_PASSWORD_LENGTH,
  NewPasswordField,
  PASSWORD_TOO_SHORT,
} from "./authFields";
import { inviteNext, rememberPendingEmail, useNext, withNext } from "./authShared";
import { usePage } from "./page";
import { InviteWaiting } from "./SignInPage";

export function SignUpPage() {
  const navigate = useNavigate();
  const { status } = useSession();
  const heading = usePage("Sign up");
  const next = useNext();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, setError, run } = useSubmit();

  if (status === "signed-in") return <Navigate to={next ?? "/rooms"} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    const textError = checkTexts([{ label: "Name", value: name, rule: NAME_RULE }]);
    if (textError) {
      setError(textError);
      return;
    }
    if (password.length < MIN_PASSWORD_LENGTH) {
      setError(PASSWORD_TOO_SHORT);
      return;
    }
    await run(async () => {
      const invite = inviteNext(next);
      await auth.register({
        name: normalizeText(name),
        email: email.trim(),
        password,
        ...(invite ? { next: invite } : {}),
      });
      rememberPendingEmail(email.trim());
      navigate(withNext("/check-email", next));
    });
  }

  return (
    <section className="card narrow">
      <h1 ref={heading} tabIndex={-1}>
        Create your account
      </h1>
      <InviteWaiting next={next}>
        Once you have verified your email and signed in, you will go straight to the room.
      </InviteWaiting>
      <form onSubmit={submit} className="form" aria-describedby="signup-error" noValidate>
        <TextField
          id="signup-name"
          label="Name"
          autoComplete="name"
          required
          limit={NAME_RULE}
          value={name}
          onChange={setName}
        />
        <EmailField id="signup-email" value={email} onChange={setEmail} />
        <NewPasswordField
          id="signup-password"
          label="Password"
          value={password}
          onChange={setPassword}
        />
        <ErrorText message={error} id="signup-error" />
        <button type="submit" className="button" disabled={busy}>
          {busy ? "Creating…" : "Create account"}
        </button>
      </form>
      <p className="muted">
        Already have an account? <Link to={withNext("/signin", next)}>Sign in</Link>
      </p>
    </section>
  );
}
