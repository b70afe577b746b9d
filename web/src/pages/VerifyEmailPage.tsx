import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";

import { ApiError } from "../api/client";
import { auth } from "../api/endpoints";
import { describeError } from "../api/messages";
import { Loading } from "../components/Status";
import { useNext, withNext } from "./authShared";
import { usePage } from "./page";
import { InviteWaiting } from "./SignInPage";

// One request per token, however often the page mounts (the token is single use).
const verifications = new Map<string, Promise<unknown>>();

type State = "working" | "done" | "already" | "failed";

/** The server's answer to a link that worked before: the address is verified already. */
function alreadyVerified(failure: unknown): boolean {
  if (!(failure instanceof ApiError) || failure.code !== "invalid_token") return false;
  const details = failure.details as { emailVerified?: unknown } | null;
  return details?.emailVerified === true;
}

export function VerifyEmailPage() {
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const next = useNext();
  const [state, setState] = useState<State>(token ? "working" : "failed");
  const [error, setError] = useState<string | null>(
    token ? null : "This link is incomplete. Open the link from the email again.",
  );
  const heading = usePage(
    state === "done" || state === "already" ? "Email verified" : "Verify your email",
  );

  useEffect(() => {
    if (!token) return;
    let current = true;
    let verification = verifications.get(token);
    if (!verification) {
      verification = auth.verifyEmail(token);
      verifications.set(token, verification);
    }
    verification.then(
      () => current && setState("done"),
      (failure: unknown) => {
        if (!current) return;
        if (alreadyVerified(failure)) {
          setState("already");
          return;
        }
        setState("failed");
        setError(describeError(failure));
      },
    );
    return () => {
      current = false;
    };
  }, [token]);

  const signIn = (
    <Link className="button" to={withNext("/signin", next)}>
      Sign in
    </Link>
  );
  const invite = (
    <InviteWaiting next={next}>Sign in and you will go straight to the room.</InviteWaiting>
  );

  if (state === "working") return <Loading label="Verifying your email…" />;
  if (state === "done") {
    return (
      <section className="card narrow">
        <h1 ref={heading} tabIndex={-1}>
          Email verified
        </h1>
        <p>Your address is verified. You can sign in now.</p>
        {invite}
        {signIn}
      </section>
    );
  }
  if (state === "already") {
    return (
      <section className="card narrow">
        <h1 ref={heading} tabIndex={-1}>
          Your email is already verified
        </h1>
        <p>This link was used before, and your address is verified. You can sign in.</p>
        {invite}
        {signIn}
      </section>
    );
  }
  return (
    <section className="card narrow">
      <h1 ref={heading} tabIndex={-1}>
        We could not verify your email
      </h1>
      <p className="error" role="alert">
        {error}
      </p>
      <p>
        You can <Link to={withNext("/check-email", next)}>ask for a new link</Link> or{" "}
        <Link to={withNext("/signin", next)}>sign in</Link> if you verified already.
      </p>
    </section>
  );
}
