import { useEffect, useRef, type ReactNode } from "react";
import { X } from "lucide-react";
import { useScrollLock } from "../lib/scrollLock";

/**
 * A right-hand pop-out panel; Escape, the close button or the backdrop closes it, focus moves
 * into it. The page behind does not scroll while it is open (no scroll-through on a phone);
 * the panel scrolls on its own, within the screen's height.
 */
export function Drawer({ title, onClose, children, width = 560 }: {
  title: ReactNode;
  onClose: () => void;
  children: ReactNode;
  width?: number;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useScrollLock();
  useEffect(() => {
    ref.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div className="fixed inset-0 z-40 flex justify-end overscroll-contain bg-black/30" onClick={onClose} data-testid="drawer-backdrop">
      <div
        ref={ref}
        role="dialog"
        aria-modal="true"
        aria-label={typeof title === "string" ? title : undefined}
        tabIndex={-1}
        style={{ width: `min(${width}px, 100vw)` }}
        className="flex h-full max-h-dvh flex-col overflow-hidden border-l border-line bg-surface shadow-xl"
        onClick={(e) => e.stopPropagation()}
      >
        <header className="flex items-center gap-2 border-b border-line px-4 py-3">
          <h2 className="text-base font-semibold">{title}</h2>
          <button type="button" onClick={onClose} aria-label="Close" className="ml-auto rounded p-1 text-muted hover:text-fg">
            <X size={16} />
          </button>
        </header>
        <div className="min-h-0 flex-1 overflow-auto overscroll-contain p-4">{children}</div>
      </div>
    </div>
  );
}
