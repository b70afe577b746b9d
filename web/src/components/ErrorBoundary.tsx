import { Component } from "react";
import type { ErrorInfo, ReactNode } from "react";

interface Props {
  children: ReactNode;
  // Changing it (e.g. the route) clears a shown error.
  resetKey?: string;
}

interface State {
  error: Error | null;
  resetKey?: string;
}

/** Never a blank screen: a render failure shows a message and a way on. */
export class ErrorBoundary extends Component<Props, State> {
  state: State = { error: null, resetKey: this.props.resetKey };

  static getDerivedStateFromError(error: unknown): Partial<State> {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  static getDerivedStateFromProps(props: Props, state: State): Partial<State> | null {
    if (props.resetKey !== state.resetKey) return { error: null, resetKey: props.resetKey };
    return null;
  }

  componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error("Gethory: a page failed to render", error, info.componentStack);
  }

  render(): ReactNode {
    if (!this.state.error) return this.props.children;
    return (
      <section className="card narrow" aria-labelledby="crash-heading">
        <h1 id="crash-heading">Something went wrong</h1>
        <p className="error" role="alert">
          This page could not be shown. Try again, or go back to the rooms.
        </p>
        <div className="actions">
          <button type="button" className="button" onClick={() => window.location.reload()}>
            Reload the page
          </button>
          <a className="button secondary" href="/rooms">
            Go to rooms
          </a>
        </div>
      </section>
    );
  }
}
