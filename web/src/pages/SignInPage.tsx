import { useState } from "react";
import type { FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate, useSearchParams } from "react-router-dom";

import { ApiError } from "../api/client";
import { auth } from "../api/endpoints";
import { describeError } from "../api/messages";
import { ErrorText } from "../components/Status";
import { TextField } from "../components/TextField";
import { useSession } from "../session/SessionContext";
import { EmailField } from "./authFields";
import { rememberPendingEmail, safeNext } from "./authShared";

export function SignInPage() {
  const { status, signIn } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next")) ?? "/rooms";
  const arrivedWith = (location.state as { message?: string } | null)?.message ?? null;
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [unverified, setUnverified] = useState(false);
  const [notice, setNotice] = useState<string | null>(arrivedWith);

  if (status === "signed-in" && !busy) return <Navigate to={next} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setNotice(null);
    setUnverified(false);
    setBusy(true);
    try {
      await signIn(email.trim(), password);
      navigate(next, { replace: true });
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
      await auth.resendVerification(email.trim());
      rememberPendingEmail(email.trim());
      setUnverified(false);
      setNotice(`We sent a new verification link to ${email.trim()}.`);
    } catch (failure) {
      setError(describeError(failure));
    }
  }

  return (
    <section className="card narrow">
      <h1>Sign in</h1>
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
        New here? <Link to="/signup">Create an account</Link>
      </p>
    </section>
  );
}
