import { useState, type ReactNode } from "react";
import { Button } from "../../components/Button";
import { Field } from "./Field";

/** The password rule of POST /api/auth/register (the server checks it too). */
export const MIN_PASSWORD = 12;

/** What is wrong with the first admin's form before it is sent, field by field. */
export function firstAdminProblems(v: { email: string; password: string; confirm: string }): { email?: string; password?: string; confirm?: string } {
  const out: { email?: string; password?: string; confirm?: string } = {};
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v.email.trim())) out.email = "Enter an email address.";
  if (v.password.length < MIN_PASSWORD) out.password = `At least ${MIN_PASSWORD} characters.`;
  if (v.confirm !== v.password) out.confirm = "The two passwords differ.";
  return out;
}

/** First run: no user exists yet, so this form creates the first admin. */
export function FirstRunStep({ busy, onSubmit, message }: { busy: boolean; onSubmit: (email: string, password: string) => void; message?: ReactNode }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [tried, setTried] = useState(false);
  const problems = firstAdminProblems({ email, password, confirm });
  const shown = tried ? problems : {};
  return (
    <form
      className="flex flex-col gap-4"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        setTried(true);
        if (Object.keys(problems).length === 0 && !busy) onSubmit(email.trim(), password);
      }}
    >
      <Field label="Email" type="email" name="email" autoComplete="username" required autoFocus value={email} onChange={(e) => setEmail(e.target.value)} hint={shown.email} aria-invalid={Boolean(shown.email)} />
      <Field
        label="Password"
        type="password"
        name="new-password"
        autoComplete="new-password"
        required
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        hint={shown.password ?? `At least ${MIN_PASSWORD} characters.`}
        aria-invalid={Boolean(shown.password)}
      />
      <Field label="Repeat the password" type="password" name="confirm-password" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} hint={shown.confirm} aria-invalid={Boolean(shown.confirm)} />
      {message}
      <Button type="submit" variant="primary" className="justify-center py-2" disabled={busy}>
        {busy ? "Creating the admin…" : "Create the first admin"}
      </Button>
    </form>
  );
}
