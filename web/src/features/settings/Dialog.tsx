import { useEffect, useId, useRef, type FormEvent, type ReactNode } from "react";
import { Button } from "../../components/Button";
import { useScrollLock } from "../../lib/scrollLock";

/**
 * A modal form (password re-check, new user, new token): title, what will happen, fields, the
 * server's error, and submit/cancel. Escape cancels; focus starts on the first field.
 */
export function FormDialog({ title, description, children, error, submitLabel, busy, canSubmit = true, danger, onSubmit, onCancel }: {
  title: string;
  description?: ReactNode;
  children?: ReactNode;
  error?: ReactNode;
  submitLabel: string;
  busy?: boolean;
  canSubmit?: boolean;
  danger?: boolean;
  onSubmit: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useScrollLock();
  const cancel = useRef(onCancel);
  useEffect(() => {
    cancel.current = onCancel;
  });
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>("input, select, button")?.focus();
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && cancel.current();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (canSubmit && !busy) onSubmit();
  };
  return (
    <div className="fixed inset-0 z-50 flex items-center justify-center overscroll-contain bg-black/40 p-2">
      <div ref={ref} role="dialog" aria-modal="true" aria-label={title} className="max-h-[calc(100dvh-1rem)] w-[min(480px,92vw)] overflow-y-auto overscroll-contain rounded-lg border border-line bg-surface p-5 shadow-xl">
        <h2 className="mb-2 text-base font-semibold">{title}</h2>
        {description && <div className="mb-4 text-sm text-muted">{description}</div>}
        <form onSubmit={submit} className="flex flex-col gap-3">
          {children}
          {error}
          <div className="mt-1 flex justify-end gap-2">
            <Button onClick={onCancel}>Cancel</Button>
            <Button type="submit" variant={danger ? "danger" : "primary"} disabled={busy || !canSubmit}>
              {busy ? "Working…" : submitLabel}
            </Button>
          </div>
        </form>
      </div>
    </div>
  );
}

const INPUT = "mt-1 block w-full rounded-md border border-line bg-surface-2 px-2 py-1.5 text-sm text-fg";

/** A labelled text input; `hint` sits under it and describes it. The label does not wrap the
 *  input, so the accessible name is the label alone (never the label plus the typed value). */
export function TextField({ label, hint, className, ...input }: React.InputHTMLAttributes<HTMLInputElement> & { label: string; hint?: ReactNode }) {
  const id = useId();
  return (
    <div className={className ?? "block text-sm"}>
      <label htmlFor={id} className="block">{label}</label>
      <input {...input} id={id} aria-describedby={hint ? `${id}-hint` : undefined} className={INPUT} />
      {hint && <span id={`${id}-hint`} className="mt-1 block text-xs text-muted">{hint}</span>}
    </div>
  );
}

/** A labelled select (label beside, not around, so the options are not part of its name). */
export function SelectField({ label, children, className, ...select }: React.SelectHTMLAttributes<HTMLSelectElement> & { label: string }) {
  const id = useId();
  return (
    <div className={className ?? "block text-sm"}>
      <label htmlFor={id} className="block">{label}</label>
      <select {...select} id={id} className={INPUT}>
        {children}
      </select>
    </div>
  );
}
