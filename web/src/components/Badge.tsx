import type { ReactNode } from "react";
import { cn } from "../lib/cn";

export type Tone = "ok" | "warn" | "bad" | "info" | "neutral";

const TONES: Record<Tone, string> = {
  ok: "text-ok border-ok/40 bg-ok/10",
  warn: "text-warn border-warn/40 bg-warn/10",
  bad: "text-bad border-bad/40 bg-bad/10",
  info: "text-info border-info/40 bg-info/10",
  neutral: "text-muted border-line bg-surface-2",
};

export function Badge({ tone = "neutral", children, title, className }: {
  tone?: Tone;
  children: ReactNode;
  title?: string;
  className?: string;
}) {
  return (
    <span
      title={title}
      className={cn("inline-flex items-center gap-1 rounded-full border px-2 py-0.5 text-xs font-medium whitespace-nowrap", TONES[tone], className)}
    >
      {children}
    </span>
  );
}

/** SEV-1 is red, SEV-2 amber. */
export function SeverityBadge({ severity }: { severity: string }) {
  return <Badge tone={severity === "SEV-1" ? "bad" : severity === "SEV-2" ? "warn" : "info"}>{severity}</Badge>;
}

/** OK green, DEGRADED amber, BLOCKED (or anything unknown) red. */
export function systemStatusTone(status: string | null | undefined): Tone {
  if (status === "OK") return "ok";
  if (status === "DEGRADED") return "warn";
  return "bad";
}
