import { useEffect, useRef } from "react";
import type { ReactNode } from "react";

/** A modal question (native <dialog>: focus is trapped, Escape cancels). */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  busy,
  onConfirm,
  onCancel,
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    // The button that opened the dialog, to take the focus back when it goes (Escape or
    // Cancel): the dialog leaves the page with React, and the focus would fall to <body>.
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (dialog && !dialog.open) dialog.showModal?.();
    // showModal focuses the first button, the destructive one; a slip of Enter must not
    // close the room, so Cancel takes the focus (React's autoFocus runs before showModal).
    cancelRef.current?.focus();
    return () => {
      dialog?.close?.();
      if (opener?.isConnected && !dialog?.contains(opener)) opener.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className="confirm card"
      aria-labelledby="confirm-title"
      aria-describedby="confirm-body"
      onCancel={(e) => {
        e.preventDefault();
        onCancel();
      }}
    >
      <h2 id="confirm-title">{title}</h2>
      <div id="confirm-body">{children}</div>
      <div className="actions">
        <button type="button" className="button danger" disabled={busy} onClick={onConfirm}>
          {confirmLabel}
        </button>
        <button type="button" className="button secondary" ref={cancelRef} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </dialog>
  );
}
