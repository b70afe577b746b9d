import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";

import { auth } from "../api/endpoints";
import { describeError } from "../api/messages";
import { Loading } from "../components/Status";

// One request per token, however often the page mounts (the token is single use).
const verifications = new Map<string, Promise<unknown>>();

export function VerifyEmailPage() {
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [state, setState] = useState<"working" | "done" | "failed">(token ? "working" : "failed");
  const [error, setError] = useState<string | null>(
    token ? null : "This link is incomplete. Open the link from the email again.",
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
        setState("failed");
        setError(describeError(failure));
      },
    );
    return () => {
      current = false;
    };
  }, [token]);

  if (state === "working") return <Loading label="Verifying your email…" />;
  if (state === "done") {
    return (
      <section className="card narrow">
        <h1>Email verified</h1>
        <p>Your address is verified. You can sign in now.</p>
        <Link className="button" to="/signin">
          Sign in
        </Link>
      </section>
    );
  }
  return (
    <section className="card narrow">
      <h1>We could not verify your email</h1>
      <p className="error" role="alert">
        {error}
      </p>
      <p>
        You can <Link to="/check-email">ask for a new link</Link> or{" "}
        <Link to="/signin">sign in</Link> if you verified already.
      </p>
    </section>
  );
}
