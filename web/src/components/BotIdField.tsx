// The "Bot id" filter field the Events and Proof-of-Use filter bars share: a UUID, checked in
// the form so the API never gets one it would refuse.

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const FILTER_INPUT = "mt-1 block w-full rounded-md border border-line bg-surface-2 px-2 py-1.5 text-sm";

/** Whether a typed bot id is present but not a UUID. */
export function botIdInvalid(value: string): boolean {
  return value.trim() !== "" && !UUID_RE.test(value.trim());
}

export function BotIdField({ value, onChange, errorId }: { value: string; onChange: (v: string) => void; errorId: string }) {
  const invalid = botIdInvalid(value);
  return (
    <label className="w-80 text-xs font-medium text-muted">
      Bot id
      <input
        className={`${FILTER_INPUT} font-mono`}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        placeholder="bot UUID"
        spellCheck={false}
        aria-invalid={invalid || undefined}
        aria-describedby={invalid ? errorId : undefined}
      />
    </label>
  );
}

/** The message under the filter bar while the bot id is not a UUID. */
export function BotIdError({ id }: { id: string }) {
  return (
    <p id={id} role="alert" className="basis-full text-xs text-bad">
      Bot id must be a UUID such as 0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b.
    </p>
  );
}
