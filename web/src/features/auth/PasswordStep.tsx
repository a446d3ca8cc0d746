import { useState, type ReactNode } from "react";
import { Button } from "../../components/Button";
import { Field } from "./Field";

/** Step 1: email and password. */
export function PasswordStep({ initialEmail, busy, waitSecs, onSubmit, message }: {
  initialEmail: string;
  busy: boolean;
  /** While > 0 the server is throttling: submitting is disabled. */
  waitSecs: number;
  onSubmit: (email: string, password: string) => void;
  message?: ReactNode;
}) {
  const [email, setEmail] = useState(initialEmail);
  const [password, setPassword] = useState("");
  const empty = email.trim() === "" || password === "";
  const reason = waitSecs > 0 ? `Throttled: try again in ${waitSecs} s` : null;
  return (
    <form
      className="flex flex-col gap-4"
      onSubmit={(e) => {
        e.preventDefault();
        if (!empty && !reason && !busy) onSubmit(email.trim(), password);
      }}
    >
      <Field
        label="Email"
        type="email"
        name="email"
        autoComplete="username"
        required
        autoFocus={initialEmail === ""}
        value={email}
        onChange={(e) => setEmail(e.target.value)}
      />
      <Field
        label="Password"
        type="password"
        name="password"
        autoComplete="current-password"
        required
        autoFocus={initialEmail !== ""}
        value={password}
        onChange={(e) => setPassword(e.target.value)}
      />
      {message}
      <Button type="submit" variant="primary" className="justify-center py-2" disabled={busy || empty} disabledReason={reason}>
        {busy ? "Signing in…" : "Sign in"}
      </Button>
    </form>
  );
}
