import { useEffect, useRef, useState, type ReactNode } from "react";
import { Button } from "./Button";
import { useScrollLock } from "../lib/scrollLock";

/**
 * Confirms a consequential action: states what will happen, optionally asks for a 2FA code
 * (`needsCode`), and shows the server's error without closing.
 */
export function ConfirmDialog({ title, consequences, confirmLabel, danger, needsCode, busy, error, onConfirm, onCancel }: {
  title: string;
  consequences: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  needsCode?: boolean;
  busy?: boolean;
  error?: ReactNode;
  onConfirm: (code?: string) => void;
  onCancel: () => void;
}) {
  const [code, setCode] = useState("");
  const ref = useRef<HTMLDivElement>(null);
  useScrollLock();
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>("input, button")?.focus();
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onCancel();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onCancel]);
  return (
    <div className="fixed inset-0 z-50 flex items-center justify-center overscroll-contain bg-black/40 p-2">
      <div ref={ref} role="alertdialog" aria-modal="true" aria-label={title} className="max-h-[calc(100dvh-1rem)] w-[min(460px,92vw)] overflow-y-auto overscroll-contain rounded-lg border border-line bg-surface p-5 shadow-xl">
        <h2 className="mb-2 text-base font-semibold">{title}</h2>
        <div className="mb-4 text-sm text-muted">{consequences}</div>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            onConfirm(needsCode ? code : undefined);
          }}
        >
          {needsCode && (
            <label className="mb-4 block text-sm">
              Authenticator code
              <input
                value={code}
                onChange={(e) => setCode(e.target.value)}
                inputMode="numeric"
                autoComplete="one-time-code"
                className="mt-1 block w-full rounded-md border border-line bg-surface-2 px-2 py-1.5 font-mono"
              />
            </label>
          )}
          {error && <div className="mb-3">{error}</div>}
          <div className="flex justify-end gap-2">
            <Button onClick={onCancel}>Cancel</Button>
            <Button type="submit" variant={danger ? "danger" : "primary"} disabled={busy || (needsCode && code.trim().length === 0)}>
              {busy ? "Working…" : confirmLabel}
            </Button>
          </div>
        </form>
      </div>
    </div>
  );
}
