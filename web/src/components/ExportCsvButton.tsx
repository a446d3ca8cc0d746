// "Export CSV": fetches every row through the API (all pages), then downloads one RFC 4180 file:
// the API's fields as they are (objectsCsv), or the named columns of `format`.
import { useState } from "react";
import { Download } from "lucide-react";
import { Button } from "./Button";
import { ActionError } from "./ActionError";
import { downloadText, exportFileName, objectsCsv, pageAll } from "../lib/csv";

export function ExportCsvButton({ subject, what, title, page, format = objectsCsv, disabledReason }: {
  /** Names the file (a bot's name, "usage"). */
  subject: string;
  /** What is exported ("orders", "decision-traces"). */
  what: string;
  title: string;
  page: (cursor: string | undefined) => Promise<{ items: Record<string, unknown>[]; next_cursor?: string | null }>;
  /** The rows as CSV text (default: one column per API field). */
  format?: (items: Record<string, unknown>[]) => string;
  /** Why it cannot export now (e.g. an invalid filter), or null. */
  disabledReason?: string | null;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const { items, truncated } = await pageAll(page);
      const name = exportFileName(subject, what, new Date());
      downloadText(format(items), name);
      setDone(`${items.length} row${items.length === 1 ? "" : "s"} exported to ${name}${truncated ? " (the first 100,000 only)" : ""}`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="flex flex-wrap items-center gap-2">
      <Button size="sm" onClick={() => void run()} disabled={busy} disabledReason={disabledReason} title={title}>
        <Download size={14} aria-hidden /> {busy ? "Exporting…" : `Export ${what.replace(/-/g, " ")} CSV`}
      </Button>
      {done && <span role="status" className="text-xs text-muted">{done}</span>}
      {error !== null && <ActionError error={error} />}
    </div>
  );
}
