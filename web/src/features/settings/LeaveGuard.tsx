import type { ReactNode } from "react";
import { useBlocker } from "@tanstack/react-router";
import { Button } from "../../components/Button";
import { useScrollLock } from "../../lib/scrollLock";

/**
 * While `active`, leaving the page or the section (links, back button, closing the tab) asks
 * first: something on screen is shown only once.
 */
export function LeaveGuard({ active, title, children }: { active: boolean; title: string; children: ReactNode }) {
  const blocker = useBlocker({ shouldBlockFn: () => active, enableBeforeUnload: () => active, withResolver: true });
  useScrollLock(blocker.status === "blocked");
  if (blocker.status !== "blocked") return null;
  return (
    <div className="fixed inset-0 z-50 flex items-center justify-center bg-black/40">
      <div role="alertdialog" aria-modal="true" aria-label={title} className="w-[min(460px,92vw)] rounded-lg border border-line bg-surface p-5 shadow-xl">
        <h2 className="mb-2 text-base font-semibold">{title}</h2>
        <div className="mb-4 text-sm text-muted">{children}</div>
        <div className="flex justify-end gap-2">
          <Button variant="danger" onClick={blocker.proceed}>Leave anyway</Button>
          <Button variant="primary" onClick={blocker.reset} autoFocus>Stay</Button>
        </div>
      </div>
    </div>
  );
}
