// "New bot": POST /api/bots. The server validates every field and names the one it refuses in
// `details.field` (name, symbol, strategy.params.slow, risk.max_order_size, …); that message is
// shown beside the field.
import { useId, useState, type ReactNode } from "react";
import { useNavigate } from "@tanstack/react-router";
import { Button } from "../../components/Button";
import { Drawer } from "../../components/Drawer";
import { isApiError } from "../../api/errors";
import { oneOf, SYMBOLS, TIMEFRAMES, useCreateBot, type CreateBotBody, type Instrument, type Timeframe } from "../../queries/bots";
import { ActionError } from "../../components/ActionError";

/** Strategy kinds and their params with the defaults the form starts from (src/domain/strategy_config.rs). */
export const STRATEGIES = {
  sma_crossover: {
    label: "SMA crossover",
    help: "Long when the fast average crosses above the slow one, short (or flat) below.",
    params: [
      { name: "fast", label: "Fast period (bars)", default: "10", hint: "1–1000, smaller than slow" },
      { name: "slow", label: "Slow period (bars)", default: "30", hint: "2–1000" },
    ],
  },
  donchian_breakout: {
    label: "Donchian breakout",
    help: "Long on a close above the highest high of the lookback, short below the lowest low.",
    params: [{ name: "lookback", label: "Lookback (bars)", default: "20", hint: "2–1000" }],
  },
  rsi_mean_reversion: {
    label: "RSI mean reversion",
    help: "Long when RSI is below oversold, short above overbought, exit near 50.",
    params: [
      { name: "period", label: "RSI period (bars)", default: "14", hint: "2–1000" },
      { name: "oversold", label: "Oversold level", default: "30", hint: "0–100, below overbought" },
      { name: "overbought", label: "Overbought level", default: "70", hint: "0–100" },
    ],
  },
} as const;
export type StrategyKind = keyof typeof STRATEGIES;

/** Optional risk limits; a blank field takes the desk default for the timeframe. */
const RISK_FIELDS = [
  { name: "max_order_size", label: "Max order size (contracts)", kind: "int", placeholder: () => "1" },
  { name: "max_position", label: "Max position (contracts)", kind: "int", placeholder: () => "1" },
  { name: "daily_loss_limit", label: "Daily loss limit (USD)", kind: "usd", placeholder: () => "500" },
  { name: "max_drawdown", label: "Max drawdown (USD)", kind: "usd", placeholder: () => "1000" },
  { name: "max_orders_per_minute", label: "Max orders per minute", kind: "int", placeholder: () => "10" },
  { name: "price_collar_ticks", label: "Price collar (ticks)", kind: "int", placeholder: () => "20" },
  { name: "max_data_age_seconds", label: "Max data age (seconds)", kind: "int", placeholder: (tf: string) => String(2 * (TF_SECONDS[tf] ?? 60) + 5) },
] as const;

const TF_SECONDS: Record<string, number> = { "1s": 1, "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400 };

type Errors = Record<string, string>;

function Field({ label, error, hint, children, id }: { label: string; error?: string; hint?: string; children: (describedBy: string | undefined) => ReactNode; id: string }) {
  const describedBy = error ? `${id}-error` : hint ? `${id}-hint` : undefined;
  return (
    <div className="flex flex-col gap-1 text-sm">
      <label htmlFor={id} className="font-medium">
        {label}
      </label>
      {children(describedBy)}
      {error ? (
        <p id={`${id}-error`} className="text-xs text-bad" role="alert">
          {error}
        </p>
      ) : hint ? (
        <p id={`${id}-hint`} className="text-xs text-muted">
          {hint}
        </p>
      ) : null}
    </div>
  );
}

const INPUT = "rounded-md border border-line bg-surface-2 px-2 py-1.5 text-sm aria-[invalid=true]:border-bad";

export function NewBotForm({ onClose }: { onClose: () => void }) {
  const uid = useId();
  const id = (name: string) => `${uid}-${name.replace(/\./g, "-")}`;
  const navigate = useNavigate();
  const create = useCreateBot();
  const [name, setName] = useState("");
  const [symbol, setSymbol] = useState<Instrument>("MES");
  const [timeframe, setTimeframe] = useState<Timeframe>("1m");
  const [kind, setKind] = useState<StrategyKind>("sma_crossover");
  const [params, setParams] = useState<Record<string, string>>(() => defaults("sma_crossover"));
  const [average, setAverage] = useState<"sma" | "ema">("sma");
  const [risk, setRisk] = useState<Record<string, string>>({});
  const [showRisk, setShowRisk] = useState(false);
  const [clientErrors, setClientErrors] = useState<Errors>({});

  const serverError = create.error;
  const serverField = isApiError(serverError) ? fieldOf(serverError.details) : null;
  const errors: Errors = { ...clientErrors };
  if (serverField && isApiError(serverError)) errors[serverField.field] = serverField.problem;
  const err = (field: string) => errors[field];
  const submit = () => {
    const found: Errors = {};
    if (!name.trim()) found.name = "must be 1 to 100 characters";
    const p: Record<string, unknown> = {};
    for (const def of STRATEGIES[kind].params) {
      const raw = params[def.name]?.trim() ?? "";
      const n = Number(raw);
      if (raw === "" || !Number.isFinite(n)) found[`strategy.params.${def.name}`] = "must be a number";
      else p[def.name] = n;
    }
    if (kind === "sma_crossover") p.average = average;
    const r: Record<string, unknown> = {};
    for (const f of RISK_FIELDS) {
      const raw = risk[f.name]?.trim() ?? "";
      if (raw === "") continue;
      if (f.kind === "int") {
        const n = Number(raw);
        if (!Number.isInteger(n)) found[`risk.${f.name}`] = "must be a whole number";
        else r[f.name] = n;
      } else {
        if (!/^\d+(\.\d+)?$/.test(raw)) found[`risk.${f.name}`] = "must be a positive amount in USD, e.g. 500 or 250.50";
        else r[f.name] = raw;
      }
    }
    setClientErrors(found);
    if (Object.keys(found).length > 0) return;
    const body: CreateBotBody = {
      name: name.trim(),
      symbol,
      timeframe,
      stage: "LAB",
      strategy: { kind, params: p },
      risk: Object.keys(r).length > 0 ? (r as CreateBotBody["risk"]) : undefined,
    };
    create.mutate(body, {
      onSuccess: (res) => {
        onClose();
        void navigate({ to: "/bots/$botId", params: { botId: res.bot.id } });
      },
    });
  };

  return (
    <Drawer title="New bot" onClose={onClose} width={520}>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
        className="flex flex-col gap-4"
      >
        <p className="text-sm text-muted">
          The bot is created STOPPED in LAB. Backtest it in the Strategy Lab; PAPER, SHADOW and LIVE are reached only by promotion, one stage at a time, each once its evidence gate is met.
        </p>
        <Field label="Name" id={id("name")} error={err("name")}>
          {(d) => <input id={id("name")} value={name} onChange={(e) => setName(e.target.value)} maxLength={100} aria-invalid={Boolean(err("name"))} aria-describedby={d} className={INPUT} autoComplete="off" />}
        </Field>
        <div className="grid grid-cols-2 gap-3">
          <Field label="Symbol" id={id("symbol")} error={err("symbol")}>
            {(d) => (
              <select id={id("symbol")} value={symbol} onChange={(e) => setSymbol(oneOf(SYMBOLS, e.target.value) ?? symbol)} aria-invalid={Boolean(err("symbol"))} aria-describedby={d} className={INPUT}>
                {SYMBOLS.map((s) => <option key={s}>{s}</option>)}
              </select>
            )}
          </Field>
          <Field label="Timeframe" id={id("timeframe")} error={err("timeframe")}>
            {(d) => (
              <select id={id("timeframe")} value={timeframe} onChange={(e) => setTimeframe(oneOf(TIMEFRAMES, e.target.value) ?? timeframe)} aria-invalid={Boolean(err("timeframe"))} aria-describedby={d} className={INPUT}>
                {TIMEFRAMES.map((s) => <option key={s}>{s}</option>)}
              </select>
            )}
          </Field>
        </div>

        <fieldset className="flex flex-col gap-3 rounded-md border border-line p-3">
          <legend className="px-1 text-sm font-semibold">Strategy</legend>
          <Field label="Strategy" id={id("strategy.kind")} error={err("strategy.kind")} hint={STRATEGIES[kind].help}>
            {(d) => (
              <select
                id={id("strategy.kind")}
                value={kind}
                onChange={(e) => {
                  const k = e.target.value as StrategyKind;
                  setKind(k);
                  setParams(defaults(k));
                  setClientErrors({});
                }}
                aria-invalid={Boolean(err("strategy.kind"))}
                aria-describedby={d}
                className={INPUT}
              >
                {(Object.keys(STRATEGIES) as StrategyKind[]).map((k) => (
                  <option key={k} value={k}>
                    {STRATEGIES[k].label} ({k})
                  </option>
                ))}
              </select>
            )}
          </Field>
          <div className="grid grid-cols-2 gap-3">
            {STRATEGIES[kind].params.map((def) => {
              const field = `strategy.params.${def.name}`;
              return (
                <Field key={field} label={def.label} id={id(field)} error={err(field)} hint={def.hint}>
                  {(d) => (
                    <input
                      id={id(field)}
                      inputMode="decimal"
                      value={params[def.name] ?? ""}
                      onChange={(e) => setParams({ ...params, [def.name]: e.target.value })}
                      aria-invalid={Boolean(err(field))}
                      aria-describedby={d}
                      className={INPUT}
                    />
                  )}
                </Field>
              );
            })}
            {kind === "sma_crossover" && (
              <Field label="Average" id={id("strategy.params.average")} error={err("strategy.params.average")}>
                {(d) => (
                  <select id={id("strategy.params.average")} value={average} onChange={(e) => setAverage(e.target.value as "sma" | "ema")} aria-describedby={d} className={INPUT}>
                    <option value="sma">Simple (sma)</option>
                    <option value="ema">Exponential (ema)</option>
                  </select>
                )}
              </Field>
            )}
          </div>
          {err("strategy.params") && (
            <p className="text-xs text-bad" role="alert">
              Parameters: {err("strategy.params")}
            </p>
          )}
        </fieldset>

        <fieldset className="flex flex-col gap-3 rounded-md border border-line p-3">
          <legend className="px-1 text-sm font-semibold">Risk limits (optional)</legend>
          <p className="text-xs text-muted">Blank fields take the desk defaults for the timeframe (shown as placeholders); the bot stores the complete limits.</p>
          <Button size="sm" variant="ghost" aria-expanded={showRisk} onClick={() => setShowRisk(!showRisk)} className="self-start">
            {showRisk ? "Hide risk limits" : "Set risk limits"}
          </Button>
          {(showRisk || RISK_FIELDS.some((f) => err(`risk.${f.name}`)) || err("risk")) && (
            <div className="grid grid-cols-2 gap-3">
              {RISK_FIELDS.map((f) => {
                const field = `risk.${f.name}`;
                return (
                  <Field key={field} label={f.label} id={id(field)} error={err(field)}>
                    {(d) => (
                      <input
                        id={id(field)}
                        inputMode={f.kind === "int" ? "numeric" : "decimal"}
                        placeholder={f.placeholder(timeframe)}
                        value={risk[f.name] ?? ""}
                        onChange={(e) => setRisk({ ...risk, [f.name]: e.target.value })}
                        aria-invalid={Boolean(err(field))}
                        aria-describedby={d}
                        className={INPUT}
                      />
                    )}
                  </Field>
                );
              })}
            </div>
          )}
          {err("risk") && (
            <p className="text-xs text-bad" role="alert">
              Risk: {err("risk")}
            </p>
          )}
        </fieldset>

        {serverError && <ActionError error={serverError} />}
        <div className="flex justify-end gap-2">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" disabled={create.isPending}>
            {create.isPending ? "Creating…" : "Create bot"}
          </Button>
        </div>
      </form>
    </Drawer>
  );
}

function defaults(kind: StrategyKind): Record<string, string> {
  return Object.fromEntries(STRATEGIES[kind].params.map((p) => [p.name, p.default]));
}

function fieldOf(details: unknown): { field: string; problem: string } | null {
  if (!details || typeof details !== "object") return null;
  const d = details as { field?: unknown; problem?: unknown };
  return typeof d.field === "string" && typeof d.problem === "string" ? { field: d.field, problem: d.problem } : null;
}
