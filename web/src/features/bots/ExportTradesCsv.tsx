// "Export CSV" on the trades table: pages through GET /api/bots/{id}/trades (500 a page) until
// the last page, then downloads every trade of the bot as one RFC 4180 file.
import { useState } from "react";
import { Download } from "lucide-react";
import { Button } from "../../components/Button";
import { ActionError } from "../../components/ActionError";
import { fetchAllTrades } from "../../queries/bots";
import { downloadText } from "../../lib/csv";
import { csvFileName, tradesCsv } from "./csv";

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
      downloadText(tradesCsv(trades), name);
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
