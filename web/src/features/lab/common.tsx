// Small pieces the Lab's pages share: a run's status badge, its strategy in words, its range.
import { Badge, type Tone } from "../../components/Badge";
import type { JobStatus } from "../../queries/lab";
import { STRATEGIES, type StrategyKind } from "../bots/NewBotForm";

export const STATUS_TONE: Record<JobStatus, Tone> = {
  QUEUED: "neutral",
  RUNNING: "info",
  SUCCEEDED: "ok",
  FAILED: "bad",
  TIMEOUT: "bad",
  CANCELLED: "neutral",
};

export function StatusBadge({ status }: { status: JobStatus }) {
  return <Badge tone={STATUS_TONE[status]}>{status}</Badge>;
}

/** "SMA crossover fast=5 slow=20 average=sma". */
export function strategyText(kind: string, params: unknown): string {
  const label = kind in STRATEGIES ? STRATEGIES[kind as StrategyKind].label : kind;
  const p = params && typeof params === "object" ? Object.entries(params as Record<string, unknown>).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`) : [];
  return [label, ...p].join(" ");
}

/** "2026-11-16 → 2026-11-20" (UTC days; `to` is exclusive, so its day before is shown when it is midnight). */
export function rangeText(from: string, to: string): string {
  const f = Date.parse(from);
  const t = Date.parse(to);
  if (!Number.isFinite(f) || !Number.isFinite(t)) return `${from} → ${to}`;
  const midnight = (ms: number) => ms % 86_400_000 === 0;
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const time = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace("T", " ");
  if (midnight(f) && midnight(t)) return `${day(f)} → ${day(t - 86_400_000)} (UTC)`;
  return `${time(f)} → ${time(t)} (UTC)`;
}
