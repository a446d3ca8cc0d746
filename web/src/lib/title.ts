import { useEffect } from "react";

/** The app's name, after the view's in every tab title. */
export const APP_TITLE = "tradeplane";

/** Sets the tab title to "<view> · tradeplane" while the view is shown (`null`: not known yet). */
export function useTitle(view: string | null | undefined) {
  useEffect(() => {
    if (!view) return;
    document.title = `${view} · ${APP_TITLE}`;
  }, [view]);
}
