import { useState } from "react";
import { Filter, X } from "lucide-react";
import { Button } from "../../components/Button";
import { USAGE_STATUSES, WINDOWS, type ProviderUsageSeries } from "../../queries/usage";
import type { SearchParams } from "../../router";
import { DEFAULT_WINDOW, fromLocalInput, toLocalInput } from "./search";
import { BotIdError, BotIdField, FILTER_INPUT, botIdInvalid } from "../../components/BotIdField";


/**
 * Provider, status and window apply at once; the bot id and a custom range apply on Enter or
 * "Apply". Providers come from the series (every registered provider).
 */
export function FilterBar({ search, onChange, providers }: {
  search: SearchParams;
  onChange: (patch: SearchParams) => void;
  providers: readonly ProviderUsageSeries[] | undefined;
}) {
  const [bot, setBot] = useState(search.bot ?? "");
  const [from, setFrom] = useState(toLocalInput(search.from));
  const [to, setTo] = useState(toLocalInput(search.to));
  const win = search.window ?? DEFAULT_WINDOW;
  const custom = win === "custom";
  const botInvalid = botIdInvalid(bot);
  const active = Boolean(search.provider || search.bot || search.status || search.window);
  const known = providers?.some((p) => p.provider_id === search.provider);

  return (
    <form
      aria-label="Usage filters"
      className="flex flex-wrap items-end gap-3"
      onSubmit={(e) => {
        e.preventDefault();
        if (botInvalid) return;
        onChange({
          bot: bot.trim() || undefined,
          ...(custom ? { from: fromLocalInput(from), to: fromLocalInput(to) } : {}),
          usage: undefined,
        });
      }}
    >
      <label className="w-48 text-xs font-medium text-muted">
        Provider
        <select className={FILTER_INPUT} value={search.provider ?? ""} onChange={(e) => onChange({ provider: e.target.value || undefined, usage: undefined })}>
          <option value="">All providers</option>
          {search.provider && !known && <option value={search.provider}>{search.provider}</option>}
          {providers?.map((p) => (
            <option key={p.provider_id} value={p.provider_id}>
              {p.label}
            </option>
          ))}
        </select>
      </label>
      <label className="w-36 text-xs font-medium text-muted">
        Status
        <select className={FILTER_INPUT} value={search.status ?? ""} onChange={(e) => onChange({ status: e.target.value || undefined, usage: undefined })}>
          <option value="">All statuses</option>
          {USAGE_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <label className="w-40 text-xs font-medium text-muted">
        Time window
        <select
          className={FILTER_INPUT}
          value={win}
          onChange={(e) => {
            const w = e.target.value;
            if (w === "custom") {
              // Start from the last 24 h; the range applies with "Apply".
              const now = Date.now();
              setFrom(toLocalInput(new Date(now - 86_400_000).toISOString()));
              setTo(toLocalInput(new Date(now).toISOString()));
              onChange({ window: "custom", from: new Date(now - 86_400_000).toISOString(), to: new Date(now).toISOString(), usage: undefined });
            } else {
              onChange({ window: w === DEFAULT_WINDOW ? undefined : w, from: undefined, to: undefined, usage: undefined });
            }
          }}
        >
          {Object.entries(WINDOWS).map(([id, w]) => (
            <option key={id} value={id}>
              {w.label}
            </option>
          ))}
          <option value="custom">Custom range…</option>
        </select>
      </label>
      {custom && (
        <>
          <label className="w-52 text-xs font-medium text-muted">
            From
            <input type="datetime-local" className={FILTER_INPUT} value={from} onChange={(e) => setFrom(e.target.value)} />
          </label>
          <label className="w-52 text-xs font-medium text-muted">
            To
            <input type="datetime-local" className={FILTER_INPUT} value={to} onChange={(e) => setTo(e.target.value)} />
          </label>
        </>
      )}
      <BotIdField value={bot} onChange={setBot} errorId="usage-bot-invalid" />
      <div className="flex gap-2">
        <Button type="submit" variant="primary" disabledReason={botInvalid ? "Bot id must be a UUID" : null}>
          <Filter size={14} aria-hidden /> Apply
        </Button>
        {active && (
          <Button
            onClick={() => onChange({ provider: undefined, bot: undefined, status: undefined, window: undefined, from: undefined, to: undefined, usage: undefined })}
          >
            <X size={14} aria-hidden /> Clear filters
          </Button>
        )}
      </div>
      {botInvalid && (
        <BotIdError id="usage-bot-invalid" />
      )}
    </form>
  );
}
