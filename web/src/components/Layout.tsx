import { Link, NavLink, Outlet, useLocation } from "react-router-dom";

import { CallProvider } from "../call/CallContext";
import { useSession } from "../session/SessionContext";
import { CallBar } from "./CallBar";
import { ErrorBoundary } from "./ErrorBoundary";

// Every route renders inside this layout, so the call provider here keeps a call going while
// the person browses the app, and the call bar shows it on every other page.
export function Layout() {
  return (
    <CallProvider>
      <Frame />
    </CallProvider>
  );
}

function Frame() {
  const { user, signOut } = useSession();
  const location = useLocation();
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <Link to={user ? "/rooms" : "/"} className="brand">
          <span className="brand-mark" aria-hidden="true">
            ◖◗
          </span>
          Gethory
        </Link>
        {user ? (
          <nav aria-label="Main" className="app-nav">
            <NavLink to="/rooms" end={false}>
              Rooms
            </NavLink>
            <NavLink to="/profile">Profile</NavLink>
            <button type="button" className="button secondary small" onClick={() => void signOut()}>
              Sign out
            </button>
          </nav>
        ) : (
          <nav aria-label="Main" className="app-nav">
            <NavLink to="/signin">Sign in</NavLink>
            <NavLink to="/signup">Sign up</NavLink>
          </nav>
        )}
      </header>
      <CallBar />
      <main id="main" className="app-main" tabIndex={-1}>
        <ErrorBoundary resetKey={location.pathname}>
          <Outlet />
        </ErrorBoundary>
      </main>
    </div>
  );
}
