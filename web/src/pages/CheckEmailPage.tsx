import { useState } from "react";
import type { FormEvent } from "react";
import { Link } from "react-router-dom";

import { auth } from "../api/endpoints";
import { describeError } from "../api/messages";
import { ErrorText } from "../components/Status";
import { pendingEmail, rememberPendingEmail } from "./authShared";

export function CheckEmailPage() {
  const [email, setEmail] = useState(pendingEmail);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const known = pendingEmail();

  async function resend(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setNotice(null);
    if (!email.trim()) {
      setError("Enter the address you signed up with.");
      return;
    }
    setBusy(true);
    try {
      await auth.resendVerification(email.trim());
      rememberPendingEmail(email.trim());
      setNotice("We sent a new link. It replaces the one before.");
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card narrow">
      <h1>Check your email</h1>
      <p>
        We sent a link to {known ? <strong>{known}</strong> : "your address"}. Open it to verify
        your address, then sign in. The link works for 24 hours.
      </p>
      <form onSubmit={resend} className="form">
        {!known && (
          <div className="field">
            <label htmlFor="check-email">Email</label>
            <input
              id="check-email"
              type="email"
              autoComplete="email"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          </div>
        )}
        <p className="notice" role="status">
          {notice}
        </p>
        <ErrorText message={error} />
        <button type="submit" className="button secondary" disabled={busy}>
          Resend the email
        </button>
      </form>
      <p className="muted">
        Verified already? <Link to="/signin">Sign in</Link>
      </p>
    </section>
  );
}
