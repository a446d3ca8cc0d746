// The time filter of a trace list: presets (last hour, day, week, month, all) or a custom
// [from, to) range, kept in the page's search params under a per-list prefix so a filtered
// view is a shareable link.
import { useMemo, useState } from "react";
import { Button } from "../../../components/Button";
import { cn } from "../../../lib/cn";
import { formatTime, parseTime } from "../../../lib/time";
import type { TimeRange } from "../../../queries/traces";
import { usePatchSearch, useSearchParams } from "./search";

const PRESETS = [
  { id: "1h", label: "1 h", ms: 3_600_000 },
  { id: "24h", label: "24 h", ms: 86_400_000 },
  { id: "7d", label: "7 d", ms: 7 * 86_400_000 },
  { id: "30d", label: "30 d", ms: 30 * 86_400_000 },
  { id: "all", label: "All", ms: null },
] as const;

type PresetId = (typeof PRESETS)[number]["id"] | "custom";

export interface TimeFilterState {
  range: TimeRange;
  /** Why the range cannot be queried (custom from ≥ to, unreadable dates), or null. */
  invalid: string | null;
  /** A plain description for empty states: "in the last 24 h", "between … and …", "". */
  describe: string;
  preset: PresetId;
  anchor: number;
  setPreset: (p: PresetId) => void;
  setCustom: (from: string | undefined, to: string | undefined) => void;
}

/** The time filter under search params `<prefix>range`, `<prefix>from`, `<prefix>to`. */
export function useTimeFilter(prefix: string): TimeFilterState {
  const search = useSearchParams();
  const patch = usePatchSearch();
  const raw = search[`${prefix}range`];
  const preset: PresetId = raw === "custom" || PRESETS.some((p) => p.id === raw) ? (raw as PresetId) : "all";
  // A preset's lower bound is fixed when it is chosen (not re-computed every render): new traces
  // still arrive because the upper bound stays open.
  const [anchor, setAnchor] = useState(() => Date.now());
  const fromRaw = search[`${prefix}from`];
  const toRaw = search[`${prefix}to`];
  return useMemo(() => {
    let range: TimeRange = {};
    let invalid: string | null = null;
    let describe = "";
    if (preset === "custom") {
      const from = parseTime(fromRaw);
      const to = parseTime(toRaw);
      if (fromRaw && from === null) invalid = `“${fromRaw}” is not a date`;
      else if (toRaw && to === null) invalid = `“${toRaw}” is not a date`;
      else if (from !== null && to !== null && from >= to) invalid = "“From” must be earlier than “To”";
      range = {
        from: from !== null ? new Date(from).toISOString() : undefined,
        to: to !== null ? new Date(to).toISOString() : undefined,
      };
      describe =
        from !== null && to !== null
          ? `between ${formatTime(range.from)} and ${formatTime(range.to)}`
          : from !== null
            ? `since ${formatTime(range.from)}`
            : to !== null
              ? `before ${formatTime(range.to)}`
              : "";
    } else {
      const p = PRESETS.find((x) => x.id === preset);
      if (p?.ms) {
        range = { from: new Date(anchor - p.ms).toISOString() };
        describe = `in the last ${p.label}`;
      }
    }
    return {
      range,
      invalid,
      describe,
      preset,
      anchor,
      setPreset: (p: PresetId) => {
        setAnchor(Date.now());
        patch({ [`${prefix}range`]: p === "all" ? undefined : p, ...(p === "custom" ? {} : { [`${prefix}from`]: undefined, [`${prefix}to`]: undefined }) });
      },
      setCustom: (from: string | undefined, to: string | undefined) =>
        patch({ [`${prefix}range`]: "custom", [`${prefix}from`]: from, [`${prefix}to`]: to }),
    };
  }, [preset, fromRaw, toRaw, anchor, patch, prefix]);
}

/** ISO → the value of a datetime-local input (local time, minutes). */
function toLocalInput(iso: string | undefined): string {
  const t = parseTime(iso);
  if (t === null) return "";
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function fromLocalInput(v: string): string | undefined {
  if (!v) return undefined;
  const t = new Date(v).getTime();
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

/** Preset buttons plus, for "Custom", From/To inputs applied together. */
export function TimeFilter({ state, label }: { state: TimeFilterState; label: string }) {
  const [from, setFrom] = useState(() => toLocalInput(state.range.from));
  const [to, setTo] = useState(() => toLocalInput(state.range.to));
  return (
    <div className="flex flex-wrap items-center gap-2" role="group" aria-label={label}>
      <div className="inline-flex overflow-hidden rounded-md border border-line">
        {[...PRESETS, { id: "custom" as const, label: "Custom" }].map((p) => (
          <button
            key={p.id}
            type="button"
            aria-pressed={state.preset === p.id}
            onClick={() => state.setPreset(p.id)}
            className={cn(
              "border-r border-line px-2 py-1 text-xs last:border-r-0",
              state.preset === p.id ? "bg-accent text-on-accent" : "bg-surface-2 text-fg hover:bg-surface",
            )}
          >
            {p.label}
          </button>
        ))}
      </div>
      {state.preset === "custom" && (
        <form
          className="flex flex-wrap items-center gap-2 text-xs"
          onSubmit={(e) => {
            e.preventDefault();
            state.setCustom(fromLocalInput(from), fromLocalInput(to));
          }}
        >
          <label className="flex items-center gap-1">
            From
            <input
              type="datetime-local"
              value={from}
              onChange={(e) => setFrom(e.target.value)}
              className="rounded border border-line bg-surface-2 px-1.5 py-0.5"
            />
          </label>
          <label className="flex items-center gap-1">
            To
            <input
              type="datetime-local"
              value={to}
              onChange={(e) => setTo(e.target.value)}
              className="rounded border border-line bg-surface-2 px-1.5 py-0.5"
            />
          </label>
          <Button type="submit" size="sm">
            Apply
          </Button>
        </form>
      )}
      {state.invalid && (
        <span role="alert" className="text-xs text-bad">
          {state.invalid}
        </span>
      )}
    </div>
  );
}
