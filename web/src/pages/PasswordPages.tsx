import { useState } from "react";
import type { FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";

import { auth } from "../api/endpoints";
import { describeError } from "../api/messages";
import { ErrorText } from "../components/Status";

export function ForgotPasswordPage() {
  const [email, setEmail] = useState("");
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      await auth.forgotPassword(email.trim());
      setSent(true);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card narrow">
      <h1>Forgot your password?</h1>
      <p>We will email you a link to set a new one. It works for one hour.</p>
      <form onSubmit={submit} className="form">
        <div className="field">
          <label htmlFor="forgot-email">Email</label>
          <input
            id="forgot-email"
            type="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </div>
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
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(
    token ? null : "This link is incomplete. Open the link from the email again.",
  );

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    if (password.length < 10) {
      setError("Choose a password of at least 10 characters.");
      return;
    }
    setBusy(true);
    try {
      await auth.resetPassword(token, password);
      setDone(true);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  if (done) {
    return (
      <section className="card narrow">
        <h1>Password changed</h1>
        <p>Your new password is set, and every session was signed out.</p>
        <Link className="button" to="/signin">
          Sign in
        </Link>
      </section>
    );
  }

  return (
    <section className="card narrow">
      <h1>Set a new password</h1>
      <form onSubmit={submit} className="form">
        <div className="field">
          <label htmlFor="reset-password">New password</label>
          <input
            id="reset-password"
            type="password"
            autoComplete="new-password"
            required
            minLength={10}
            maxLength={128}
            aria-describedby="reset-password-hint"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          <p className="hint" id="reset-password-hint">
            At least 10 characters.
          </p>
        </div>
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
