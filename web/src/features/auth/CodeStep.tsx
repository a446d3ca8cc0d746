import { useState, type ReactNode } from "react";
import { KeyRound, Smartphone } from "lucide-react";
import { Button } from "../../components/Button";
import { Field } from "./Field";

export type CodeMode = "totp" | "backup";

/** Step 2: the 6-digit authenticator code, or one backup code. */
export function CodeStep({ email, mode, onModeChange, busy, waitSecs, onSubmit, onStartOver, message }: {
  email: string;
  mode: CodeMode;
  onModeChange: (mode: CodeMode) => void;
  busy: boolean;
  waitSecs: number;
  onSubmit: (value: string) => void;
  onStartOver: () => void;
  message?: ReactNode;
}) {
  const [code, setCode] = useState("");
  const [backup, setBackup] = useState("");
  const value = mode === "totp" ? code : backup.trim();
  const complete = mode === "totp" ? /^\d{6}$/.test(code) : value.length > 0;
  const reason = waitSecs > 0 ? `Throttled: try again in ${waitSecs} s` : null;
  return (
    <form
      className="flex flex-col gap-4"
      onSubmit={(e) => {
        e.preventDefault();
        if (complete && !reason && !busy) onSubmit(value);
      }}
    >
      <p className="text-sm text-muted">
        Password accepted for <span className="font-medium text-fg">{email}</span>.{" "}
        {mode === "totp" ? "Enter the 6-digit code from your authenticator app." : "Enter one of the backup codes you saved when you enrolled."}
      </p>
      {mode === "totp" ? (
        <Field
          key="totp"
          label="Authenticator code"
          name="code"
          inputMode="numeric"
          autoComplete="one-time-code"
          pattern="[0-9]{6}"
          maxLength={6}
          placeholder="123456"
          autoFocus
          className="font-mono text-lg tracking-[0.4em]"
          value={code}
          onChange={(e) => setCode(e.target.value.replace(/\D/g, "").slice(0, 6))}
        />
      ) : (
        <Field
          key="backup"
          label="Backup code"
          name="backup_code"
          autoComplete="off"
          autoCapitalize="characters"
          spellCheck={false}
          placeholder="XXXX-XXXX-XXXX-XXXX"
          hint="Each backup code works once."
          autoFocus
          className="font-mono tracking-wider"
          value={backup}
          onChange={(e) => setBackup(e.target.value)}
        />
      )}
      {message}
      <Button type="submit" variant="primary" className="justify-center py-2" disabled={busy || !complete} disabledReason={reason}>
        {busy ? "Checking…" : "Verify code"}
      </Button>
      <div className="flex flex-wrap items-center justify-between gap-2 text-sm">
        <Button variant="ghost" size="sm" onClick={() => onModeChange(mode === "totp" ? "backup" : "totp")}>
          {mode === "totp" ? <KeyRound size={14} aria-hidden /> : <Smartphone size={14} aria-hidden />}
          {mode === "totp" ? "Use a backup code" : "Use your authenticator app"}
        </Button>
        <Button variant="ghost" size="sm" onClick={onStartOver}>
          Start over
        </Button>
      </div>
    </form>
  );
}
