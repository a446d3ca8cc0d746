// Step-up (a fresh 2FA proof) for admin actions the server guards with TWO_FACTOR_REQUIRED.
import { isApiError } from "../../api/errors";
import { parseTime } from "../../lib/time";
import { useMe } from "../../queries/auth";

// One step-up call for the whole app (queries/auth), re-exported for the settings views.
export { isBackupCode, stepUp } from "../../queries/auth";

/** The server asks for a (new) step-up. */
export function needsStepUp(error: unknown): boolean {
  return isApiError(error) && error.code === "TWO_FACTOR_REQUIRED";
}

/** Whether the caller has an active step-up now, and whether they can step up at all. */
export function useStepUpState(now: number): { active: boolean; enrolled: boolean } {
  const me = useMe();
  const until = parseTime(me.data?.step_up_valid_until);
  return { active: until != null && until > now, enrolled: Boolean(me.data?.user.two_factor_enabled) };
}
