import type { ReactNode } from "react";

/** An empty panel that says why it is empty (and what would fill it). */
export function EmptyState({ title, reason, action }: { title: string; reason: ReactNode; action?: ReactNode }) {
  return (
    <div role="status" className="flex flex-col items-center gap-1 rounded-md border border-dashed border-line px-4 py-8 text-center">
      <p className="font-medium">{title}</p>
      <p className="max-w-prose text-sm text-muted">{reason}</p>
      {action && <div className="mt-2">{action}</div>}
    </div>
  );
}
