// Fleet actions on the Bots list: start / stop the selected bots, or stop every bot with a
// runner (POST /api/bots/bulk, 1–200 bots a request), each behind a confirmation that says what
// the server does, with each bot's own outcome shown after.
import { useState } from "react";
import { Play, Square, OctagonX } from "lucide-react";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ActionError } from "../../components/ActionError";
import { api, unwrap } from "../../api/client";
import { hasRole, useMe } from "../../queries/auth";
import { LIVE_STATUSES } from "../../queries/bots";
import { useBulk, type BulkOutcome } from "../../queries/desk";

/** The server takes at most this many bots a request. */
export const BULK_MAX = 200;

export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Every bot with a runner (any page), for "Stop all". */
async function runningBotIds(): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const body = await unwrap(api.GET("/api/bots", { params: { query: { limit: 500, cursor } } }));
    for (const b of body.items) if (LIVE_STATUSES.has(b.status)) ids.push(b.id);
    if (!body.next_cursor || body.items.length === 0) return ids;
    cursor = body.next_cursor;
  }
}

type Pending = { action: "start" | "stop"; ids: string[]; all: boolean };

export function BulkBar({ selected, names, onDone }: { selected: string[]; names: Map<string, string>; onDone: () => void }) {
  const me = useMe();
  const bulk = useBulk();
  const [pending, setPending] = useState<Pending | null>(null);
  const [loadingAll, setLoadingAll] = useState(false);
  const [allError, setAllError] = useState<unknown>(null);
  const [results, setResults] = useState<{ action: string; items: BulkOutcome[] } | null>(null);

  const roleReason = !me.data
    ? "Checking your role…"
    : !hasRole(me.data.user.role, "operator")
      ? `Starting and stopping bots needs the operator role; you are ${me.data.user.role}.`
      : null;
  const noneReason = selected.length === 0 ? "Select bots in the list first." : null;
  const tooMany = selected.length > BULK_MAX ? `At most ${BULK_MAX} bots at a time; ${selected.length} are selected.` : null;

  const openAll = async () => {
    setAllError(null);
    setLoadingAll(true);
    try {
      const ids = await runningBotIds();
      setPending({ action: "stop", ids, all: true });
    } catch (e) {
      setAllError(e);
    } finally {
      setLoadingAll(false);
    }
  };

  const confirm = async () => {
    if (!pending) return;
    const items: BulkOutcome[] = [];
    try {
      for (const part of chunks(pending.ids, BULK_MAX)) {
        const body = await bulk.mutateAsync({ action: pending.action, bot_ids: part });
        items.push(...body.items);
      }
    } catch {
      return; // shown in the dialog (bulk.error)
    }
    setResults({ action: pending.action, items });
    setPending(null);
    onDone();
  };

  const name = (id: string) => names.get(id) ?? id;
  const failed = results?.items.filter((i) => !i.ok) ?? [];

  return (
    <div className="flex flex-col gap-2">
      <div role="group" aria-label="Fleet actions" className="flex flex-wrap items-center gap-2">
        <span className="text-sm text-muted">{selected.length} selected</span>
        <Button size="sm" disabledReason={roleReason ?? noneReason ?? tooMany} onClick={() => { bulk.reset(); setPending({ action: "start", ids: selected, all: false }); }}>
          <Play size={14} aria-hidden /> Start selected
        </Button>
        <Button size="sm" disabledReason={roleReason ?? noneReason ?? tooMany} onClick={() => { bulk.reset(); setPending({ action: "stop", ids: selected, all: false }); }}>
          <Square size={14} aria-hidden /> Stop selected
        </Button>
        <Button size="sm" variant="danger" disabledReason={roleReason ?? (loadingAll ? "Finding the running bots…" : null)} onClick={() => { bulk.reset(); void openAll(); }}>
          <OctagonX size={14} aria-hidden /> Stop all
        </Button>
      </div>
      {allError !== null && <ActionError error={allError} />}
      {results && (
        <div role="status" className="rounded-md border border-line bg-surface-2 p-2 text-sm" data-testid="bulk-results">
          <p>
            {results.action === "start" ? "Start" : "Stop"}: {results.items.length - failed.length} of {results.items.length} done
            {failed.length > 0 ? `, ${failed.length} refused:` : "."}
          </p>
          {failed.length > 0 && (
            <ul className="mt-1 list-disc pl-5">
              {failed.map((f) => (
                <li key={f.bot_id}>
                  <span className="font-medium">{f.bot?.name ?? name(f.bot_id)}</span> — {f.error?.code}: {f.error?.message} <span className="text-muted">{f.error?.suggested_fix}</span>
                </li>
              ))}
            </ul>
          )}
          <Button size="sm" variant="ghost" onClick={() => setResults(null)}>Dismiss</Button>
        </div>
      )}
      {pending && (
        <ConfirmDialog
          title={pending.all ? "Stop all bots" : `${pending.action === "start" ? "Start" : "Stop"} ${pending.ids.length} bot(s)`}
          danger={pending.action === "stop"}
          busy={bulk.isPending}
          confirmLabel={pending.all ? `Stop ${pending.ids.length} bot(s)` : pending.action === "start" ? "Start selected" : "Stop selected"}
          consequences={
            <div className="flex flex-col gap-2" data-testid="consequences">
              {pending.action === "start" ? (
                <p>Starts each bot as its own Start would: safe start checks every gate of its stage, and a bot that fails one (or is KILLED, archived or already running) is refused and listed; the others start.</p>
              ) : (
                <p>
                  Stops each bot's runner gracefully and sets it STOPPED. It cancels nothing and closes nothing: positions and working orders stay booked. A KILLED bot stays KILLED (listed as refused).
                  {pending.all && " These are the bots that had a runner when you clicked (every page of the list)."}
                </p>
              )}
              {pending.ids.length === 0 ? (
                <p className="text-fg">No bot has a runner: there is nothing to stop.</p>
              ) : (
                <p className="text-fg">{pending.ids.slice(0, 8).map(name).join(", ")}{pending.ids.length > 8 ? ` and ${pending.ids.length - 8} more` : ""}</p>
              )}
              {pending.ids.length > BULK_MAX && <p>Sent in {Math.ceil(pending.ids.length / BULK_MAX)} requests of at most {BULK_MAX} bots.</p>}
            </div>
          }
          error={bulk.error ? <ActionError error={bulk.error} /> : undefined}
          onConfirm={() => (pending.ids.length === 0 ? setPending(null) : void confirm())}
          onCancel={() => setPending(null)}
        />
      )}
    </div>
  );
}
