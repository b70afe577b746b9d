import { useEffect } from "react";

/** Sets the tab's title to "`title` · Gethory" while the calling page is shown. */
export function usePageTitle(title: string): void {
  useEffect(() => {
    const previous = document.title;
    document.title = title ? `${title} · Gethory` : "Gethory";
    return () => {
      document.title = previous;
    };
  }, [title]);
}
