// Stored JSON (signals, variables and risk snapshots, evidence) rendered as readable key/value
// tables: nested objects become nested tables, lists of values a comma list, lists of objects
// numbered tables. Numbers read rounded (lib/number.ts) with the stored value as the tooltip;
// booleans are neutral (true is not "good", false is not "bad").
import { useState } from "react";
import { Braces } from "lucide-react";
import { Button } from "../../../components/Button";
import { formatDecimal } from "../../../lib/number";
import { formatTime } from "../../../lib/time";
import { cn } from "../../../lib/cn";

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** One JSON value shown as stored (timestamps also in local time). */
export function Scalar({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <span className="text-muted italic">null</span>;
  if (typeof value === "boolean") return <span className="font-mono">{String(value)}</span>;
  if (typeof value === "number") {
    const shown = formatDecimal(value);
    return (
      <span className="font-mono tabular-nums" title={shown === String(value) ? undefined : `Stored value ${value}`}>
        {shown}
      </span>
    );
  }
  if (typeof value === "string") {
    if (ISO.test(value)) {
      return (
        <span className="font-mono" title={value}>
          {formatTime(value)}
        </span>
      );
    }
    if (value === "") return <span className="text-muted italic">empty string</span>;
    return <span className="break-words">{value}</span>;
  }
  return <span className="font-mono">{JSON.stringify(value)}</span>;
}

function Value({ value, depth }: { value: unknown; depth: number }) {
  if (isPlainObject(value)) return <KeyValueTable data={value} depth={depth + 1} />;
  if (Array.isArray(value)) {
    if (value.length === 0) return <span className="text-muted italic">empty list</span>;
    if (value.every((v) => !isPlainObject(v) && !Array.isArray(v))) {
      return (
        <span className="flex flex-wrap gap-x-2 gap-y-0.5">
          {value.map((v, i) => (
            <span key={i}>
              <Scalar value={v} />
              {i < value.length - 1 && <span className="text-muted">,</span>}
            </span>
          ))}
        </span>
      );
    }
    return (
      <ol className="flex flex-col gap-2">
        {value.map((v, i) => (
          <li key={i} className="flex gap-2">
            <span className="pt-1 font-mono text-xs text-muted">{i + 1}.</span>
            <div className="min-w-0 flex-1">
              <Value value={v} depth={depth} />
            </div>
          </li>
        ))}
      </ol>
    );
  }
  return <Scalar value={value} />;
}

/** A key/value table of a JSON object; `emptyText` says what an empty object means here. */
export function KeyValueTable({ data, depth = 0, emptyText = "nothing recorded", label }: {
  data: unknown;
  depth?: number;
  emptyText?: string;
  label?: string;
}) {
  if (!isPlainObject(data)) {
    if (data === null || data === undefined) return <p className="text-xs text-muted italic">{emptyText}</p>;
    return <Value value={data} depth={depth} />;
  }
  const entries = Object.entries(data);
  if (entries.length === 0) return <p className="text-xs text-muted italic">{emptyText}</p>;
  return (
    <table aria-label={label} className={cn("w-full border-collapse text-xs", depth > 0 && "rounded border border-line")}>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k} className="border-b border-line last:border-b-0 align-top">
            <th scope="row" className="w-[38%] max-w-[220px] py-1 pr-3 pl-2 text-left font-mono font-normal break-all text-muted">
              {k}
            </th>
            <td className="py-1 pr-2">
              <Value value={v} depth={depth} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A "Raw JSON" toggle showing `value` exactly as the API returned it. */
export function RawJson({ value, label = "Raw JSON" }: { value: unknown; label?: string }) {
  const [open, setOpen] = useState(false);
  return (
    <div>
      <Button size="sm" variant="ghost" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
        <Braces size={12} aria-hidden /> {label}
      </Button>
      {open && (
        <pre tabIndex={0} className="relative mt-2 max-h-96 overflow-auto rounded-md border border-line bg-surface-2 p-3 font-mono text-xs" data-testid="raw-json">
          {JSON.stringify(value, null, 2)}
        </pre>
      )}
    </div>
  );
}
