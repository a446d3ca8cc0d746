// "New backtest" (or sweep): a bot as it is, or a strategy with params, over whole UTC days,
// with the fill model and starting capital. Every refusal — the form's own or the server's
// `details.field` — is shown beside its field; the full error (code, fix, trace id) below.
import { useId, useState, type ReactNode } from "react";
import { useQuery } from "@tanstack/react-query";
import { useNavigate } from "@tanstack/react-router";
import { ActionError } from "../../components/ActionError";
import { Button } from "../../components/Button";
import { isApiError } from "../../api/errors";
import { botNamesQuery } from "../../queries/botNames";
import { SYMBOLS, TIMEFRAMES } from "../../queries/bots";
import { useCreateBacktest, useCreateSweep } from "../../queries/lab";
import { STRATEGIES, type StrategyKind } from "../bots/NewBotForm";
import { buildRequest, defaultParams, initialForm, serverFieldError, type Errors, type LabForm } from "./request";

const INPUT = "rounded-md border border-line bg-surface-2 px-2 py-1.5 text-sm aria-[invalid=true]:border-bad";

const OBJECTIVES = [
  ["net_pnl", "Net PnL"],
  ["profit_factor", "Profit factor"],
  ["trades", "Trades"],
  ["max_drawdown", "Max drawdown (lowest)"],
  ["sharpe", "Sharpe"],
] as const;

function Field({ label, error, hint, id, children }: { label: string; error?: string; hint?: string; id: string; children: (describedBy: string | undefined) => ReactNode }) {
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

export function BacktestForm({ gate, nowMs, botId }: { gate: string | null; nowMs: number; /** Start on "a bot as it is now" with this bot. */ botId?: string }) {
  const uid = useId();
  const id = (name: string) => `${uid}-${name.replace(/\./g, "-")}`;
  const navigate = useNavigate();
  const createBacktest = useCreateBacktest();
  const createSweep = useCreateSweep();
  const bots = useQuery(botNamesQuery);
  const [form, setForm] = useState<LabForm>(() => ({ ...initialForm(nowMs), ...(botId ? { source: "bot" as const, botId } : {}) }));
  const [clientErrors, setClientErrors] = useState<Errors>({});
  const set = (patch: Partial<LabForm>) => setForm((f) => ({ ...f, ...patch }));

  const serverError = form.sweep ? createSweep.error : createBacktest.error;
  const serverField = isApiError(serverError) ? serverFieldError(serverError.details, serverError.message) : null;
  const errors: Errors = { ...clientErrors };
  if (serverField) errors[serverField.field] = serverField.problem;
  const err = (...fields: string[]) => fields.map((f) => errors[f]).find(Boolean);
  const pending = createBacktest.isPending || createSweep.isPending;

  const submit = () => {
    createBacktest.reset();
    createSweep.reset();
    const built = buildRequest(form);
    if (built.kind === "invalid") {
      setClientErrors(built.errors);
      return;
    }
    setClientErrors({});
    if (built.kind === "backtest") {
      createBacktest.mutate(built.body, { onSuccess: (res) => void navigate({ to: "/lab/backtests/$backtestId", params: { backtestId: res.backtest.id } }) });
    } else {
      createSweep.mutate(built.body, { onSuccess: (res) => void navigate({ to: "/lab/sweeps/$sweepId", params: { sweepId: res.sweep.id } }) });
    }
  };

  const botList = bots.data ? [...bots.data.entries()].sort((a, b) => a[1].localeCompare(b[1])) : [];
  return (
    <form
      noValidate
      aria-label="New backtest"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
      className="flex flex-col gap-4"
    >
      <div className="flex flex-wrap items-center gap-4 text-sm">
        <span className="font-medium">Test</span>
        <label className="flex items-center gap-1">
          <input type="radio" name={id("source")} checked={form.source === "strategy"} onChange={() => set({ source: "strategy" })} /> a strategy
        </label>
        <label className="flex items-center gap-1">
          <input type="radio" name={id("source")} checked={form.source === "bot"} onChange={() => set({ source: "bot", sweep: false })} /> a bot as it is now
        </label>
        <label className="ml-auto flex items-center gap-1" title="Run one backtest per combination of the listed parameter values">
          <input type="checkbox" checked={form.sweep} disabled={form.source === "bot"} onChange={(e) => set({ sweep: e.target.checked })} /> Sweep parameters
        </label>
      </div>

      {form.source === "bot" ? (
        <Field label="Bot" id={id("bot_id")} error={err("bot_id")} hint="Its strategy, params, symbol, timeframe and risk limits as they are now.">
          {(d) => (
            <select id={id("bot_id")} value={form.botId} onChange={(e) => set({ botId: e.target.value })} aria-invalid={Boolean(err("bot_id"))} aria-describedby={d} className={INPUT}>
              <option value="">{bots.isPending ? "Loading bots…" : botList.length === 0 ? "No bots" : "Choose a bot"}</option>
              {botList.map(([botId, name]) => (
                <option key={botId} value={botId}>
                  {name}
                </option>
              ))}
            </select>
          )}
        </Field>
      ) : (
        <fieldset className="flex flex-col gap-3 rounded-md border border-line p-3">
          <legend className="px-1 text-sm font-semibold">Strategy</legend>
          <div className="grid grid-cols-3 gap-3">
            <Field label="Strategy" id={id("strategy.kind")} error={err("strategy.kind", "strategy")}>
              {(d) => (
                <select
                  id={id("strategy.kind")}
                  value={form.kind}
                  onChange={(e) => {
                    const kind = e.target.value as StrategyKind;
                    set({ kind, params: defaultParams(kind) });
                  }}
                  aria-describedby={d}
                  className={INPUT}
                >
                  {(Object.keys(STRATEGIES) as StrategyKind[]).map((k) => (
                    <option key={k} value={k}>
                      {STRATEGIES[k].label}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field label="Symbol" id={id("symbol")} error={err("symbol")}>
              {(d) => (
                <select id={id("symbol")} value={form.symbol} onChange={(e) => set({ symbol: e.target.value })} aria-invalid={Boolean(err("symbol"))} aria-describedby={d} className={INPUT}>
                  {SYMBOLS.map((s) => (
                    <option key={s}>{s}</option>
                  ))}
                </select>
              )}
            </Field>
            <Field label="Timeframe" id={id("timeframe")} error={err("timeframe")}>
              {(d) => (
                <select id={id("timeframe")} value={form.timeframe} onChange={(e) => set({ timeframe: e.target.value })} aria-invalid={Boolean(err("timeframe"))} aria-describedby={d} className={INPUT}>
                  {TIMEFRAMES.map((s) => (
                    <option key={s}>{s}</option>
                  ))}
                </select>
              )}
            </Field>
          </div>
          <p className="text-xs text-muted">{STRATEGIES[form.kind].help}</p>
          <div className="grid grid-cols-3 gap-3">
            {STRATEGIES[form.kind].params.map((def) => {
              const field = `strategy.params.${def.name}`;
              const e = err(field, `params.${def.name}`);
              return (
                <Field key={field} label={def.label} id={id(field)} error={e} hint={form.sweep ? "One value, or a list to sweep: 5, 10, 20" : def.hint}>
                  {(d) => (
                    <input
                      id={id(field)}
                      inputMode={form.sweep ? "text" : "decimal"}
                      value={form.params[def.name] ?? ""}
                      onChange={(ev) => set({ params: { ...form.params, [def.name]: ev.target.value } })}
                      aria-invalid={Boolean(e)}
                      aria-describedby={d}
                      className={INPUT}
                    />
                  )}
                </Field>
              );
            })}
            {form.kind === "sma_crossover" && (
              <Field label="Average" id={id("strategy.params.average")} error={err("strategy.params.average")}>
                {(d) => (
                  <select id={id("strategy.params.average")} value={form.average} onChange={(e) => set({ average: e.target.value as "sma" | "ema" })} aria-describedby={d} className={INPUT}>
                    <option value="sma">Simple (sma)</option>
                    <option value="ema">Exponential (ema)</option>
                  </select>
                )}
              </Field>
            )}
          </div>
          {err("strategy.params", "params") && (
            <p className="text-xs text-bad" role="alert">
              Parameters: {err("strategy.params", "params")}
            </p>
          )}
        </fieldset>
      )}

      <div className="grid grid-cols-2 gap-3">
        <Field label="First day (UTC)" id={id("from")} error={err("from", "range")}>
          {(d) => <input id={id("from")} type="date" value={form.fromDay} onChange={(e) => set({ fromDay: e.target.value })} aria-invalid={Boolean(err("from", "range"))} aria-describedby={d} className={INPUT} />}
        </Field>
        <Field label="Last day (UTC, included)" id={id("to")} error={err("to")}>
          {(d) => <input id={id("to")} type="date" value={form.toDay} onChange={(e) => set({ toDay: e.target.value })} aria-invalid={Boolean(err("to"))} aria-describedby={d} className={INPUT} />}
        </Field>
      </div>

      <fieldset className="grid grid-cols-3 gap-3 rounded-md border border-line p-3">
        <legend className="px-1 text-sm font-semibold">Fill model and capital</legend>
        <Field label="Slippage (ticks per fill)" id={id("fill.slippage_ticks")} error={err("fill.slippage_ticks", "fill")}>
          {(d) => <input id={id("fill.slippage_ticks")} inputMode="numeric" value={form.slippageTicks} onChange={(e) => set({ slippageTicks: e.target.value })} aria-invalid={Boolean(err("fill.slippage_ticks", "fill"))} aria-describedby={d} className={INPUT} />}
        </Field>
        <Field label="Commission (USD per contract per fill)" id={id("fill.commission_per_side")} error={err("fill.commission_per_side")}>
          {(d) => <input id={id("fill.commission_per_side")} inputMode="decimal" value={form.commission} onChange={(e) => set({ commission: e.target.value })} aria-invalid={Boolean(err("fill.commission_per_side"))} aria-describedby={d} className={INPUT} />}
        </Field>
        <Field label="Starting capital (USD)" id={id("starting_capital")} error={err("starting_capital")}>
          {(d) => <input id={id("starting_capital")} inputMode="decimal" value={form.capital} onChange={(e) => set({ capital: e.target.value })} aria-invalid={Boolean(err("starting_capital"))} aria-describedby={d} className={INPUT} />}
        </Field>
        <Field label="Daily loss limit (USD, optional)" id={id("risk.daily_loss_limit")} error={err("risk.daily_loss_limit")} hint="Blank: the bot's or the desk default; the run stops where it would have killed the bot.">
          {(d) => <input id={id("risk.daily_loss_limit")} inputMode="decimal" value={form.dailyLossLimit} onChange={(e) => set({ dailyLossLimit: e.target.value })} aria-invalid={Boolean(err("risk.daily_loss_limit"))} aria-describedby={d} className={INPUT} />}
        </Field>
        <Field label="Max drawdown (USD, optional)" id={id("risk.max_drawdown")} error={err("risk.max_drawdown", "risk")}>
          {(d) => <input id={id("risk.max_drawdown")} inputMode="decimal" value={form.maxDrawdown} onChange={(e) => set({ maxDrawdown: e.target.value })} aria-invalid={Boolean(err("risk.max_drawdown", "risk"))} aria-describedby={d} className={INPUT} />}
        </Field>
      </fieldset>

      {form.sweep && (
        <fieldset className="grid grid-cols-3 gap-3 rounded-md border border-line p-3">
          <legend className="px-1 text-sm font-semibold">Sweep</legend>
          <Field label="Mode" id={id("mode")} error={err("mode")}>
            {(d) => (
              <select id={id("mode")} value={form.mode} onChange={(e) => set({ mode: e.target.value as "grid" | "random" })} aria-describedby={d} className={INPUT}>
                <option value="grid">Grid (every combination)</option>
                <option value="random">Random sample of the grid</option>
              </select>
            )}
          </Field>
          {form.mode === "random" && (
            <Field label="Samples" id={id("samples")} error={err("samples")}>
              {(d) => <input id={id("samples")} inputMode="numeric" value={form.samples} onChange={(e) => set({ samples: e.target.value })} aria-invalid={Boolean(err("samples"))} aria-describedby={d} className={INPUT} />}
            </Field>
          )}
          <Field label="Objective" id={id("objective")} error={err("objective")}>
            {(d) => (
              <select id={id("objective")} value={form.objective} onChange={(e) => set({ objective: e.target.value })} aria-describedby={d} className={INPUT}>
                {OBJECTIVES.map(([v, label]) => (
                  <option key={v} value={v}>
                    {label}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Walk-forward folds (optional)" id={id("walk_forward.folds")} error={err("walk_forward.folds", "walk_forward")} hint="1–20; blank: no walk-forward">
            {(d) => <input id={id("walk_forward.folds")} inputMode="numeric" value={form.folds} onChange={(e) => set({ folds: e.target.value })} aria-invalid={Boolean(err("walk_forward.folds", "walk_forward"))} aria-describedby={d} className={INPUT} />}
          </Field>
          {form.folds.trim() !== "" && (
            <Field label="Out-of-sample %" id={id("walk_forward.out_of_sample_pct")} error={err("walk_forward.out_of_sample_pct")} hint="10–50 % of each fold">
              {(d) => <input id={id("walk_forward.out_of_sample_pct")} inputMode="numeric" value={form.oosPct} onChange={(e) => set({ oosPct: e.target.value })} aria-invalid={Boolean(err("walk_forward.out_of_sample_pct"))} aria-describedby={d} className={INPUT} />}
            </Field>
          )}
        </fieldset>
      )}

      {serverError && <ActionError error={serverError} />}
      <div className="flex justify-end gap-2">
        <Button type="submit" variant="primary" disabled={pending} disabledReason={gate}>
          {pending ? "Queuing…" : form.sweep ? "Run sweep" : "Run backtest"}
        </Button>
      </div>
    </form>
  );
}
