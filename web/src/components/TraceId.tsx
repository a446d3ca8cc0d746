import { useState } from "react";
import { Copy, Check } from "lucide-react";
import { copyText } from "../lib/clipboard";

/** A trace id in monospace with a copy button (the full id is copied). */
export function TraceId({ id, short = false }: { id: string | null | undefined; short?: boolean }) {
  const [copied, setCopied] = useState(false);
  if (!id) return <span className="text-xs text-muted">no trace id</span>;
  const copy = async () => {
    await copyText(id);
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  return (
    <span className="inline-flex items-center gap-1 font-mono text-xs" data-trace-id={id}>
      <span title={id}>trace {short ? `${id.slice(0, 8)}…` : id}</span>
      <button type="button" onClick={copy} aria-label={`Copy trace id ${id}`} className="rounded p-0.5 text-muted hover:text-fg">
        {copied ? <Check size={12} /> : <Copy size={12} />}
      </button>
    </span>
  );
}
