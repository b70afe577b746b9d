import { useState } from "react";
import type { FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";

import { auth } from "../api/endpoints";
import { ErrorText } from "../components/Status";
import { useSubmit } from "../components/useSubmit";
import {
  EmailField,
  MIN_PASSWORD_LENGTH,
  NewPasswordField,
  PASSWORD_TOO_SHORT,
} from "./authFields";
import { usePage } from "./page";

export function ForgotPasswordPage() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const heading = usePage("Forgot your password");
  const { busy, error, run } = useSubmit();

  async function submit(event: FormEvent) {
    event.preventDefault();
    await run(async () => {
      await auth.forgotPassword(email.trim());
      setSent(true);
    });
  }

  return (
    <section className="card narrow">
      <h1 ref={heading} tabIndex={-1}>
        Forgot your password?
      </h1>
      <p>We will email you a link to set a new one. It works for one hour.</p>
      <form onSubmit={submit} className="form">
        <EmailField id="forgot-email" value={email} onChange={setEmail} />
        <p className="notice" role="status">
          {sent ? "If that address has an account, a link is on its way. Check your email." : ""}
        </p>
        <ErrorText message={error} />
        <button type="submit" className="button" disabled={busy}>
          Send the link
        </button>
      </form>
      <p className="muted">
        <Link to="/signin">Back to sign in</Link>
      </p>
    </section>
  );
}

export function ResetPasswordPage() {
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const heading = usePage(done ? "Password changed" : "Set a new password");
  const { busy, error, setError, run } = useSubmit(
    token ? null : "This link is incomplete. Open the link from the email again.",
  );

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (password.length < MIN_PASSWORD_LENGTH) {
      setError(PASSWORD_TOO_SHORT);
      return;
    }
    await run(async () => {
      await auth.resetPassword(token, password);
      setDone(true);
    });
  }

  if (done) {
    return (
      <section className="card narrow">
        <h1 ref={heading} tabIndex={-1}>
          Password changed
        </h1>
        <p>Your new password is set, and every session was signed out.</p>
        <Link className="button" to="/signin">
          Sign in
        </Link>
      </section>
    );
  }

  return (
    <section className="card narrow">
      <h1 ref={heading} tabIndex={-1}>
        Set a new password
      </h1>
      <form onSubmit={submit} className="form">
        <NewPasswordField
          id="reset-password"
          label="New password"
          value={password}
          onChange={setPassword}
        />
        <ErrorText message={error} />
        <button type="submit" className="button" disabled={busy || !token}>
          Set the password
        </button>
      </form>
      <p className="muted">
        <Link to="/forgot-password">Ask for a new link</Link>
      </p>
    </section>
  );
}
