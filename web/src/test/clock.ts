// Moves the clock the app reads (Date.now: useNow, TanStack's dataUpdatedAt) ahead while real
// timers keep running, so a test can age an answer without waiting. Undo: vi.restoreAllMocks().
import { vi } from "vitest";

export function advanceClock(ms: number) {
  const real = Date.now.bind(Date);
  return vi.spyOn(Date, "now").mockImplementation(() => real() + ms);
}
