import { usePage } from "./page";
import { SignInForm } from "./SignInPage";
import "./landing.css";

/** "/" for signed-out visitors: what Gethory is, then the sign-in form. */
export function LandingPage() {
  const heading = usePage("Voice rooms in your browser");
  return (
    <div className="landing">
      <section className="landing-intro" aria-labelledby="landing-heading">
        <h1 id="landing-heading" ref={heading} tabIndex={-1}>
          Voice rooms in your browser
        </h1>
        <p className="landing-lead">
          Gethory is a place to talk: open a room, share the link, and speak with whoever
          joins. Nothing to install: it runs in the browser, on the computer or the phone.
        </p>
        <ul className="landing-points">
          <li>
            <strong>Public or invite-only.</strong> Public rooms are listed for everyone who is
            signed in; a private room is only for the people you send an invite link to.
          </li>
          <li>
            <strong>Small rooms or large ones.</strong> A small room, up to 8 people, connects
            everyone directly (mesh); a large one sends the audio through the server (SFU), so
            hundreds can listen.
          </li>
          <li>
            <strong>You stay in charge.</strong> Mute yourself with <kbd>m</kbd>; the owner of a
            room can mute others and close it.
          </li>
        </ul>
      </section>
      <section className="card landing-signin" aria-labelledby="landing-signin-heading">
        <h2 id="landing-signin-heading">Sign in</h2>
        <SignInForm />
      </section>
    </div>
  );
}
