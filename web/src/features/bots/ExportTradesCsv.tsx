// "Export CSV" on the trades table: pages through GET /api/bots/{id}/trades (500 a page) until
// the last page, then downloads every trade of the bot as one RFC 4180 file.
import { useState } from "react";
import { Download } from "lucide-react";
import { Button } from "../../components/Button";
import { ActionError } from "../../components/ActionError";
import { fetchAllTrades } from "../../queries/bots";
import { csvFileName, tradesCsv } from "./csv";

/** Offers `text` as a file download (a Blob URL on a temporary link). */
export function downloadText(fileName: string, text: string, type = "text/csv;charset=utf-8") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

export function ExportTradesCsv({ botId, botName }: { botId: string; botName: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const trades = await fetchAllTrades(botId);
      const name = csvFileName(botName, "trades", new Date());
      downloadText(name, tradesCsv(trades));
      setDone(`${trades.length} trade${trades.length === 1 ? "" : "s"} exported to ${name}`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="flex flex-wrap items-center gap-2">
      <Button size="sm" onClick={() => void run()} disabled={busy} title="Every trade of this bot (all pages) as CSV">
        <Download size={14} aria-hidden /> {busy ? "Exporting…" : "Export CSV"}
      </Button>
      {done && <span role="status" className="text-xs text-muted">{done}</span>}
      {error !== null && <ActionError error={error} />}
    </div>
  );
}
