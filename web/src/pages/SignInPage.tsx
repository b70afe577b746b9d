import { useState } from "react";
import type { FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate } from "react-router-dom";

import { ApiError } from "../api/client";
import { auth } from "../api/endpoints";
import { describeError } from "../api/messages";
import { ErrorText } from "../components/Status";
import { TextField } from "../components/TextField";
import { useSession } from "../session/SessionContext";
import { EmailField } from "./authFields";
import { inviteNext, isInvite, rememberPendingEmail, useNext, withNext } from "./authShared";
import { usePage } from "./page";

/** Says why signing in (or up) matters now: an invite waits at the end of it. */
export function InviteWaiting({ next, children }: { next: string | null; children: string }) {
  if (!isInvite(next)) return null;
  return (
    <p className="notice" role="note">
      <strong>An invite is waiting for you.</strong> {children}
    </p>
  );
}

export function SignInPage() {
  const heading = usePage("Sign in");
  return (
    <section className="card narrow" aria-labelledby="signin-heading">
      <h1 id="signin-heading" ref={heading} tabIndex={-1}>
        Sign in
      </h1>
      <SignInForm />
    </section>
  );
}

/** The sign-in form and its links, on the sign-in page and on the landing page. */
export function SignInForm() {
  const { status, signIn } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const next = useNext();
  const arrivedWith = (location.state as { message?: string } | null)?.message ?? null;
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [unverified, setUnverified] = useState(false);
  const [notice, setNotice] = useState<string | null>(arrivedWith);

  if (status === "signed-in" && !busy) {
    return <Navigate to={next ?? "/rooms"} replace />;
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setNotice(null);
    setUnverified(false);
    setBusy(true);
    try {
      await signIn(email.trim(), password);
      navigate(next ?? "/rooms", { replace: true });
    } catch (failure) {
      setBusy(false);
      if (failure instanceof ApiError && failure.code === "email_not_verified") {
        setUnverified(true);
        setError("Your email address is not verified yet. Open the link we emailed you.");
      } else if (failure instanceof ApiError && failure.code === "invalid_credentials") {
        setError("Wrong email or password.");
      } else {
        setError(describeError(failure));
      }
    }
  }

  async function resend() {
    setError(null);
    try {
      await auth.resendVerification(email.trim(), inviteNext(next));
      rememberPendingEmail(email.trim());
      setUnverified(false);
      setNotice(`We sent a new verification link to ${email.trim()}.`);
    } catch (failure) {
      setError(describeError(failure));
    }
  }

  return (
    <>
      <InviteWaiting next={next}>
        Sign in, or create an account, and you will go straight to the room.
      </InviteWaiting>
      {notice && <p className="notice">{notice}</p>}
      <form onSubmit={submit} className="form">
        <EmailField id="signin-email" value={email} onChange={setEmail} />
        <TextField
          id="signin-password"
          label="Password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={setPassword}
        />
        <ErrorText message={error} />
        {unverified && (
          <button type="button" className="button secondary" onClick={() => void resend()}>
            Resend the verification email
          </button>
        )}
        <button type="submit" className="button" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <p className="muted">
        <Link to="/forgot-password">Forgot your password?</Link>
      </p>
      <p className="muted">
        New here? <Link to={withNext("/signup", next)}>Create an account</Link>
      </p>
    </>
  );
}
