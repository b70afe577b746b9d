import { useCallback } from "react";

import { usePageTitle } from "../components/usePageTitle";
import "./page.css";

/**
 * What every page does when it opens: titles the tab ("`title` · Gethory") and returns a ref
 * for its `<h1 tabIndex={-1}>`, which takes the focus when it appears, so that a screen
 * reader announces the new page (a single-page app has no page load to do that).
 */
export function usePage(title: string) {
  usePageTitle(title);
  return useCallback((heading: HTMLHeadingElement | null) => {
    heading?.focus();
  }, []);
}
