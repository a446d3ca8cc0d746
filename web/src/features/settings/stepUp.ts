// Step-up (a fresh 2FA proof) for admin actions the server guards with TWO_FACTOR_REQUIRED.
import { api, unwrap } from "../../api/client";
import { isApiError } from "../../api/errors";
import { parseTime } from "../../lib/time";
import { useMe } from "../../queries/auth";

/** A backup code looks like `XXXX-XXXX-XXXX-XXXX`; anything else is sent as an authenticator code. */
export function isBackupCode(raw: string): boolean {
  return /^[0-9A-Za-z]{4}(-?[0-9A-Za-z]{4}){3}$/.test(raw.trim());
}

/** POST /api/auth/step-up with an authenticator or backup code (the session id rotates). */
export function stepUp(raw: string) {
  const value = raw.trim();
  const body = isBackupCode(value) ? { backup_code: value } : { code: value.replace(/\s+/g, "") };
  return unwrap(api.POST("/api/auth/step-up", { body }));
}

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
