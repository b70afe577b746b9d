import { useState } from "react";
import type { FormEvent } from "react";
import { Link } from "react-router-dom";

import { auth } from "../api/endpoints";
import { ErrorText } from "../components/Status";
import { useSubmit } from "../components/useSubmit";
import { EmailField } from "./authFields";
import { inviteNext, pendingEmail, rememberPendingEmail, useNext, withNext } from "./authShared";
import { usePage } from "./page";
import { InviteWaiting } from "./SignInPage";

export function CheckEmailPage() {
  const [email, setEmail] = useState(pendingEmail);
  const [notice, setNotice] = useState<string | null>(null);
  const { busy, error, setError, run } = useSubmit();
  const known = pendingEmail();
  const heading = usePage("Check your email");
  const next = useNext();

  async function resend(event: FormEvent) {
    event.preventDefault();
    setNotice(null);
    if (!email.trim()) {
      setError("Enter the address you signed up with.");
      return;
    }
    await run(async () => {
      await auth.resendVerification(email.trim(), inviteNext(next));
      rememberPendingEmail(email.trim());
      setNotice("We sent a new link. It replaces the one before.");
    });
  }

  return (
    <section className="card narrow">
      <h1 ref={heading} tabIndex={-1}>
        Check your email
      </h1>
      <p>
        We sent a link to {known ? <strong>{known}</strong> : "your address"}. Open it to verify
        your address, then sign in. The link works for 24 hours.
      </p>
      <InviteWaiting next={next}>
        The link in the email leads on to it, in any tab or on another device.
      </InviteWaiting>
      <form onSubmit={resend} className="form">
        {!known && (
          <EmailField id="check-email" required={false} value={email} onChange={setEmail} />
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
        Verified already? <Link to={withNext("/signin", next)}>Sign in</Link>
      </p>
    </section>
  );
}
