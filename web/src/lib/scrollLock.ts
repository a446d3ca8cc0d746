// While a modal overlay (drawer, dialog) is open the page behind it must not scroll: a wheel or
// touch scroll over the backdrop would otherwise move the content under it (scroll-through).
// Overlays nest (a confirmation over a drawer), so the lock is counted: the page's own overflow
// comes back when the last overlay closes.
import { useEffect } from "react";

let holders = 0;
let saved: { html: string; body: string } | null = null;

/** Locks the document's scrolling while `active` (default true) and the component is mounted. */
export function useScrollLock(active = true): void {
  useEffect(() => {
    if (!active) return;
    const html = document.documentElement;
    const body = document.body;
    if (holders === 0) {
      saved = { html: html.style.overflow, body: body.style.overflow };
      html.style.overflow = "hidden";
      body.style.overflow = "hidden";
    }
    holders += 1;
    return () => {
      holders -= 1;
      if (holders === 0 && saved) {
        html.style.overflow = saved.html;
        body.style.overflow = saved.body;
        saved = null;
      }
    };
  }, [active]);
}
