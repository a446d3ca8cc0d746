// The New backtest form's state → the body of POST /api/backtests or POST /api/backtests/sweeps,
// with the checks the form can make itself (each named by the field the server would name).
// Dates are whole UTC days: `from` at 00:00 UTC, `to` exclusive at 00:00 UTC of the day after
// the last day tested.
import type { CreateBacktestBody, CreateSweepBody } from "../../queries/lab";
import { STRATEGIES, type StrategyKind } from "../bots/NewBotForm";

export interface LabForm {
  source: "strategy" | "bot";
  botId: string;
  kind: StrategyKind;
  /** Param name → text: a number, or for a sweep a comma-separated list of values. */
  params: Record<string, string>;
  average: "sma" | "ema";
  symbol: string;
  timeframe: string;
  /** YYYY-MM-DD, UTC. */
  fromDay: string;
  /** YYYY-MM-DD, UTC, inclusive (the last day tested). */
  toDay: string;
  slippageTicks: string;
  commission: string;
  capital: string;
  dailyLossLimit: string;
  maxDrawdown: string;
  sweep: boolean;
  mode: "grid" | "random";
  samples: string;
  folds: string;
  oosPct: string;
  objective: string;
}

export type Errors = Record<string, string>;

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const AMOUNT = /^\d+(\.\d+)?$/;

export function defaultParams(kind: StrategyKind): Record<string, string> {
  return Object.fromEntries(STRATEGIES[kind].params.map((p) => [p.name, p.default]));
}

/** YYYY-MM-DD of a UTC instant. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function initialForm(nowMs: number): LabForm {
  return {
    source: "strategy",
    botId: "",
    kind: "sma_crossover",
    params: defaultParams("sma_crossover"),
    average: "sma",
    symbol: "ES",
    timeframe: "5m",
    fromDay: utcDay(nowMs - 14 * 86_400_000),
    toDay: utcDay(nowMs - 86_400_000),
    slippageTicks: "1",
    commission: "2.25",
    capital: "100000",
    dailyLossLimit: "",
    maxDrawdown: "",
    sweep: false,
    mode: "grid",
    samples: "20",
    folds: "",
    oosPct: "25",
    objective: "net_pnl",
  };
}

/** "5, 10,20" → [5, 10, 20]; null when any entry is not a number. */
export function numberList(text: string): number[] | null {
  const parts = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (parts.length === 0) return null;
  const out = parts.map(Number);
  return out.every(Number.isFinite) ? out : null;
}

function wholeDayStart(day: string): string {
  return `${day}T00:00:00Z`;
}

function dayAfter(day: string): string {
  return `${utcDay(Date.parse(wholeDayStart(day)) + 86_400_000)}T00:00:00Z`;
}

export type Built = { kind: "backtest"; body: CreateBacktestBody } | { kind: "sweep"; body: CreateSweepBody } | { kind: "invalid"; errors: Errors };

/** The request the form describes, or the errors the form can name itself. */
export function buildRequest(f: LabForm): Built {
  const errors: Errors = {};
  if (!DAY.test(f.fromDay) || Number.isNaN(Date.parse(wholeDayStart(f.fromDay)))) errors.from = "must be a date (YYYY-MM-DD)";
  if (!DAY.test(f.toDay) || Number.isNaN(Date.parse(wholeDayStart(f.toDay)))) errors.to = "must be a date (YYYY-MM-DD)";
  if (!errors.from && !errors.to && f.toDay < f.fromDay) errors.to = "must not be before the first day";
  const ticks = Number(f.slippageTicks);
  if (f.slippageTicks.trim() === "" || !Number.isInteger(ticks) || ticks < 0) errors["fill.slippage_ticks"] = "must be a whole number of ticks (0–100)";
  if (!AMOUNT.test(f.commission.trim())) errors["fill.commission_per_side"] = "must be an amount in USD, e.g. 2.25";
  if (!AMOUNT.test(f.capital.trim())) errors.starting_capital = "must be an amount in USD, e.g. 100000";
  const risk: Record<string, string> = {};
  if (f.dailyLossLimit.trim() !== "") {
    if (AMOUNT.test(f.dailyLossLimit.trim())) risk.daily_loss_limit = f.dailyLossLimit.trim();
    else errors["risk.daily_loss_limit"] = "must be an amount in USD, e.g. 500";
  }
  if (f.maxDrawdown.trim() !== "") {
    if (AMOUNT.test(f.maxDrawdown.trim())) risk.max_drawdown = f.maxDrawdown.trim();
    else errors["risk.max_drawdown"] = "must be an amount in USD, e.g. 1000";
  }

  // Params: one number each for a backtest; for a sweep a list (two or more values sweep it).
  const fixed: Record<string, unknown> = {};
  const swept: Record<string, { values: number[] }> = {};
  if (f.source === "strategy") {
    for (const def of STRATEGIES[f.kind].params) {
      const text = f.params[def.name] ?? "";
      const field = f.sweep ? `params.${def.name}` : `strategy.params.${def.name}`;
      if (f.sweep) {
        const list = numberList(text);
        if (!list) errors[field] = "must be a number or a comma-separated list of numbers";
        else {
          // The base strategy must be complete: a swept param's first value stands in it.
          fixed[def.name] = list[0];
          if (list.length > 1) swept[def.name] = { values: list };
        }
      } else {
        const n = Number(text.trim());
        if (text.trim() === "" || !Number.isFinite(n)) errors[field] = "must be a number";
        else fixed[def.name] = n;
      }
    }
    if (f.kind === "sma_crossover") fixed.average = f.average;
  } else if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(f.botId.trim())) {
    errors.bot_id = "choose a bot";
  }
  if (f.sweep && f.source === "strategy" && Object.keys(swept).length === 0 && !errors[`params.${STRATEGIES[f.kind].params[0]!.name}`]) {
    errors.params = "list two or more values for at least one parameter to sweep it";
  }
  if (f.sweep && f.source === "bot") errors.params = "sweep a strategy's parameters: choose Strategy as the source";
  let walkForward: { folds: number; out_of_sample_pct: number } | undefined;
  if (f.sweep && f.folds.trim() !== "") {
    const folds = Number(f.folds);
    const oos = Number(f.oosPct);
    if (!Number.isInteger(folds) || folds < 1 || folds > 20) errors["walk_forward.folds"] = "must be a whole number from 1 to 20";
    else if (!Number.isInteger(oos) || oos < 10 || oos > 50) errors["walk_forward.out_of_sample_pct"] = "must be a whole number from 10 to 50";
    else walkForward = { folds, out_of_sample_pct: oos };
  }
  let samples: number | undefined;
  if (f.sweep && f.mode === "random") {
    samples = Number(f.samples);
    if (!Number.isInteger(samples) || samples < 1) errors.samples = "must be a whole number of combinations";
  }
  if (Object.keys(errors).length > 0) return { kind: "invalid", errors };

  const common = {
    from: wholeDayStart(f.fromDay),
    to: dayAfter(f.toDay),
    fill: { slippage_ticks: ticks, commission_per_side: f.commission.trim() },
    starting_capital: f.capital.trim(),
    risk: Object.keys(risk).length > 0 ? (risk as unknown as CreateBacktestBody["risk"]) : undefined,
  };
  const target =
    f.source === "bot"
      ? { bot_id: f.botId.trim() }
      : { strategy: { kind: f.kind, params: fixed } as unknown as Record<string, never>, symbol: f.symbol, timeframe: f.timeframe };
  if (!f.sweep) return { kind: "backtest", body: { ...common, ...target } };
  return {
    kind: "sweep",
    body: {
      ...common,
      ...target,
      params: swept as unknown as Record<string, never>,
      mode: f.mode,
      samples,
      walk_forward: walkForward as unknown as Record<string, never> | undefined,
      objective: f.objective,
    },
  };
}

/** The form field a server refusal names (`details.field`), mapped onto the form's own names. */
export function serverFieldError(details: unknown, message: string): { field: string; problem: string } | null {
  if (!details || typeof details !== "object") return null;
  const d = details as { field?: unknown; problem?: unknown };
  if (typeof d.field !== "string") return null;
  let field = d.field;
  // A sweep names a base param `strategy.params.x`, a swept one `params.x…`: both are one input.
  const swept = /^params\.([a-z_]+)/.exec(field);
  if (swept) field = `params.${swept[1]}`;
  return { field, problem: typeof d.problem === "string" ? d.problem : message };
}
