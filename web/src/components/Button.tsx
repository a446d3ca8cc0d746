import type { ButtonHTMLAttributes } from "react";
import { cn } from "../lib/cn";

type Variant = "primary" | "secondary" | "danger" | "ghost";

export interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: Variant;
  size?: "sm" | "md";
  /** When set, the button is disabled and this reason is its tooltip and accessible description. */
  disabledReason?: string | null;
}

const VARIANTS: Record<Variant, string> = {
  primary: "bg-accent text-on-accent hover:opacity-90",
  secondary: "bg-surface-2 text-fg border border-line hover:border-accent",
  danger: "bg-bad text-on-bad hover:opacity-90",
  ghost: "text-fg hover:bg-surface-2",
};

/** A button; `disabledReason` disables it and says why (title + aria-description). */
export function Button({ variant = "secondary", size = "md", disabledReason, disabled, className, title, ...rest }: ButtonProps) {
  const isDisabled = Boolean(disabled || disabledReason);
  return (
    <button
      type="button"
      {...rest}
      disabled={isDisabled}
      title={disabledReason ?? title}
      aria-description={disabledReason ?? undefined}
      data-disabled-reason={disabledReason ?? undefined}
      className={cn(
        "inline-flex items-center gap-1.5 rounded-md font-medium transition-colors",
        size === "sm" ? "px-2 py-1 text-xs" : "px-3 py-1.5 text-sm",
        VARIANTS[variant],
        isDisabled && "cursor-not-allowed opacity-50",
        className,
      )}
    />
  );
}
