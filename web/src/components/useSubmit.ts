import { useCallback, useState } from "react";

import { describeError } from "../api/messages";

/**
 * The busy flag and error text of a form that calls the server.
 *
 * `run(action)` clears the error, marks the form busy, awaits the action, shows a failure as
 * text (via `describeError`) and clears the busy flag again. `setError` is there for checks
 * made before calling `run`.
 */
export function useSubmit(initialError: string | null = null) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(initialError);

  const run = useCallback(async (action: () => Promise<void>) => {
    setError(null);
    setBusy(true);
    try {
      await action();
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }, []);

  return { busy, error, setError, run };
}
