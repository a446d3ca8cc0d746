import type { ReactNode } from "react";
import { cn } from "../lib/cn";

/** A titled panel. `status` is the panel's one status spot (see PanelStatus). */
export function Card({ title, status, actions, children, className }: {
  title?: ReactNode;
  status?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
}) {
  return (
    <section className={cn("min-w-0 rounded-lg border border-line bg-surface p-4", className)}>
      {(title || status || actions) && (
        <header className="mb-3 flex flex-wrap items-center gap-3">
          {title && <h2 className="text-sm font-semibold">{title}</h2>}
          {status}
          <div className="ml-auto flex flex-wrap items-center gap-2">{actions}</div>
        </header>
      )}
      {children}
    </section>
  );
}
