import { useState } from "react";
import { Filter, X } from "lucide-react";
import { Button } from "../../components/Button";
import { SEVERITIES, type SystemEvent } from "../../queries/events";
import type { SearchParams } from "../../router";
import { BotIdError, BotIdField, FILTER_INPUT, botIdInvalid } from "../../components/BotIdField";


/**
 * Severity applies at once; code, bot and provider apply on Enter or "Apply" (one request per
 * change, not per keystroke). Suggestions come from the events on screen.
 */
export function FilterBar({ search, onChange, seen }: {
  search: SearchParams;
  onChange: (patch: SearchParams) => void;
  seen: readonly SystemEvent[];
}) {
  const [code, setCode] = useState(search.code ?? "");
  const [bot, setBot] = useState(search.bot ?? "");
  const [provider, setProvider] = useState(search.provider ?? "");
  const botInvalid = botIdInvalid(bot);
  const active = Boolean(search.severity || search.code || search.bot || search.provider);
  const codes = [...new Set(seen.map((e) => e.code))].sort();
  const providers = [...new Set(seen.flatMap((e) => (e.provider_id ? [e.provider_id] : [])))].sort();

  return (
    <form
      aria-label="Event filters"
      className="flex flex-wrap items-end gap-3"
      onSubmit={(e) => {
        e.preventDefault();
        if (botInvalid) return;
        onChange({ code: code.trim() || undefined, bot: bot.trim() || undefined, provider: provider.trim() || undefined, event: undefined });
      }}
    >
      <label className="w-36 text-xs font-medium text-muted">
        Severity
        <select
          className={FILTER_INPUT}
          value={search.severity ?? ""}
          onChange={(e) => onChange({ severity: e.target.value || undefined, event: undefined })}
        >
          <option value="">All severities</option>
          {SEVERITIES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <label className="w-56 text-xs font-medium text-muted">
        Code
        <input className={`${FILTER_INPUT} font-mono`} value={code} onChange={(e) => setCode(e.target.value)} placeholder="e.g. BOT_KILLED" list="event-codes" spellCheck={false} />
        <datalist id="event-codes">
          {codes.map((c) => (
            <option key={c} value={c} />
          ))}
        </datalist>
      </label>
      <BotIdField value={bot} onChange={setBot} errorId="bot-invalid" />
      <label className="w-44 text-xs font-medium text-muted">
        Provider
        <input className={`${FILTER_INPUT} font-mono`} value={provider} onChange={(e) => setProvider(e.target.value)} placeholder="e.g. databento" list="event-providers" spellCheck={false} />
        <datalist id="event-providers">
          {providers.map((p) => (
            <option key={p} value={p} />
          ))}
        </datalist>
      </label>
      <div className="flex gap-2">
        <Button type="submit" variant="primary" disabledReason={botInvalid ? "Bot id must be a UUID" : null}>
          <Filter size={14} aria-hidden /> Apply
        </Button>
        {active && (
          <Button onClick={() => onChange({ severity: undefined, code: undefined, bot: undefined, provider: undefined, event: undefined })}>
            <X size={14} aria-hidden /> Clear filters
          </Button>
        )}
      </div>
      {botInvalid && (
        <BotIdError id="bot-invalid" />
      )}
    </form>
  );
}
