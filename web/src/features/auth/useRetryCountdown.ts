import { useCallback, useState } from "react";
import { useNow } from "../../lib/time";

/**
 * A throttle wait from a RATE_LIMITED answer: `start(secs)` begins it, `secondsLeft` counts it
 * down to 0 (re-rendering four times a second), `active` is true until then.
 */
export function useRetryCountdown() {
  const [wait, setWait] = useState<{ until: number; secs: number } | null>(null);
  const now = useNow(250);
  const start = useCallback((secs: number) => setWait({ until: Date.now() + secs * 1000, secs }), []);
  // `now` may lag the start by one tick: never show more than the server asked for.
  const secondsLeft = wait === null ? 0 : Math.min(wait.secs, Math.max(0, Math.ceil((wait.until - now) / 1000)));
  return { start, secondsLeft, active: secondsLeft > 0 };
}
