import { useId, type InputHTMLAttributes } from "react";
import { cn } from "../../lib/cn";

/** A labelled text input for the sign-in forms; `hint` is its description. */
export function Field({ label, hint, className, ...input }: InputHTMLAttributes<HTMLInputElement> & { label: string; hint?: string }) {
  const id = useId();
  return (
    <div className="text-sm">
      <label htmlFor={id} className="font-medium">
        {label}
      </label>
      <input
        {...input}
        id={id}
        aria-describedby={hint ? `${id}-hint` : undefined}
        className={cn(
          "mt-1 block w-full rounded-md border border-line bg-surface-2 px-3 py-2 text-fg placeholder:text-muted/70 focus:border-accent focus:outline-none",
          className,
        )}
      />
      {hint && (
        <p id={`${id}-hint`} className="mt-1 text-xs text-muted">
          {hint}
        </p>
      )}
    </div>
  );
}
