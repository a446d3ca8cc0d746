// The "Edit bot" form's pure rules: the values it starts from, which fields a user may change
// (and why not), and the PATCH body holding only what changed (src/api/bots.rs `patch_bot`).
import { LIVE_STATUSES, type Bot, type PatchBotBody, type StrategyConfig } from "../../queries/bots";
import { STRATEGIES, type StrategyKind } from "./NewBotForm";

/** Every risk limit, its label with the unit, and how it is typed (src/domain/risk_limits.rs). */
export const RISK_LIMITS = [
  { name: "max_order_size", label: "Max order size", unit: "contracts", kind: "int" },
  { name: "max_position", label: "Max position", unit: "contracts", kind: "int" },
  { name: "daily_loss_limit", label: "Daily loss limit", unit: "USD", kind: "usd" },
  { name: "max_drawdown", label: "Max drawdown", unit: "USD", kind: "usd" },
  { name: "max_orders_per_minute", label: "Max orders per minute", unit: "orders/min", kind: "int" },
  { name: "price_collar_ticks", label: "Price collar", unit: "ticks", kind: "int" },
  { name: "max_data_age_seconds", label: "Max data age", unit: "seconds", kind: "int" },
] as const;
export type RiskLimitName = (typeof RISK_LIMITS)[number]["name"];

export interface EditValues {
  name: string;
  risk: Record<RiskLimitName, string>;
  /** The strategy's params as typed (numbers as text; `average` as is). */
  params: Record<string, string>;
  tradingEnabled: boolean;
}

export type Errors = Record<string, string>;

export function strategyOf(bot: Bot): StrategyConfig | null {
  const s = bot.strategy as unknown;
  if (!s || typeof s !== "object") return null;
  const { kind, params } = s as { kind?: unknown; params?: unknown };
  if (typeof kind !== "string") return null;
  return { kind, params: params && typeof params === "object" ? (params as Record<string, unknown>) : {} };
}

/** The form's editable param names for a strategy kind the web app knows, else null. */
export function paramNames(kind: string): string[] | null {
  if (!(kind in STRATEGIES)) return null;
  const names: string[] = STRATEGIES[kind as StrategyKind].params.map((p) => p.name);
  return kind === "sma_crossover" ? [...names, "average"] : names;
}

export function initialValues(bot: Bot): EditValues {
  const risk = Object.fromEntries(RISK_LIMITS.map((l) => [l.name, String(bot.risk_limits[l.name])])) as Record<RiskLimitName, string>;
  const strategy = strategyOf(bot);
  const params: Record<string, string> = {};
  for (const name of (strategy && paramNames(strategy.kind)) ?? []) {
    const v = strategy?.params[name];
    params[name] = v === undefined || v === null ? (name === "average" ? "sma" : "") : String(v);
  }
  return { name: bot.name, risk, params, tradingEnabled: bot.is_trading_enabled };
}

export interface Permissions {
  /** Why the strategy cannot change now, or null. */
  strategy: string | null;
  /** Why the trading switch cannot change, or null. */
  trading: string | null;
}

/**
 * What the user may change: the strategy only while the bot is STOPPED (else the server answers
 * 409 INVALID_STATE_TRANSITION); turning trading on needs an admin (403), turning it off does not.
 */
export function permissions(bot: Bot, role: string | undefined): Permissions {
  const strategy = strategyOf(bot);
  const strategyReason =
    strategy === null || paramNames(strategy.kind) === null
      ? `This form cannot edit the strategy kind ${strategy?.kind ?? "(none)"}`
      : bot.status !== "STOPPED"
        ? `The strategy can change only while the bot is STOPPED; it is ${bot.status}. Stop it first.`
        : null;
  const trading =
    role === "admin" || bot.is_trading_enabled
      ? null
      : `Turning trading on needs the admin role; you are signed in as ${role ?? "an unknown role"}`;
  return { strategy: strategyReason, trading };
}

/** A decimal string without trailing zeros ("500.00" → "500"), to compare amounts exactly. */
function normalizeDecimal(text: string): string {
  const t = text.trim();
  if (!t.includes(".")) return t.replace(/^0+(?=\d)/, "");
  return t.replace(/^0+(?=\d)/, "").replace(/\.?0+$/, "");
}

/**
 * The PATCH body with only the changed fields (null when nothing changed), or the fields the
 * form refuses before sending (keys as the server names them: `name`, `risk.max_position`, …).
 */
export function buildPatch(bot: Bot, values: EditValues, perms: Permissions): { body: PatchBotBody | null; errors: Errors } {
  const errors: Errors = {};
  const body: PatchBotBody = {};
  const start = initialValues(bot);

  const name = values.name.trim();
  if (name === "") errors.name = "must be 1 to 100 characters";
  else if (name !== bot.name) body.name = name;

  const risk: Record<string, number | string> = {};
  for (const l of RISK_LIMITS) {
    const raw = values.risk[l.name].trim();
    if (l.kind === "int") {
      if (raw === String(bot.risk_limits[l.name])) continue;
      if (!/^\d+$/.test(raw)) errors[`risk.${l.name}`] = "must be a whole number of at least 1";
      else risk[l.name] = Number(raw);
    } else {
      if (normalizeDecimal(raw) === normalizeDecimal(start.risk[l.name])) continue;
      if (!/^\d+(\.\d+)?$/.test(raw)) errors[`risk.${l.name}`] = "must be a positive USD amount, e.g. 500 or 250.50";
      else risk[l.name] = raw;
    }
  }
  if (Object.keys(risk).length > 0) body.risk = risk as PatchBotBody["risk"];

  const strategy = strategyOf(bot);
  const names = strategy ? paramNames(strategy.kind) : null;
  if (strategy && names && perms.strategy === null) {
    const changed = names.some((n) => (values.params[n] ?? "").trim() !== (start.params[n] ?? ""));
    if (changed) {
      const params: Record<string, unknown> = { ...strategy.params };
      for (const n of names) {
        const raw = (values.params[n] ?? "").trim();
        if (n === "average") {
          params[n] = raw;
          continue;
        }
        const num = Number(raw);
        if (raw === "" || !Number.isFinite(num)) errors[`strategy.params.${n}`] = "must be a number";
        else params[n] = num;
      }
      body.strategy = { kind: strategy.kind, params } as unknown as PatchBotBody["strategy"];
    }
  }

  if (values.tradingEnabled !== bot.is_trading_enabled && (perms.trading === null || !values.tradingEnabled)) {
    body.is_trading_enabled = values.tradingEnabled;
  }

  if (Object.keys(errors).length > 0) return { body: null, errors };
  return { body: Object.keys(body).length > 0 ? body : null, errors };
}

/** What the server does with `body`, in the words the form shows before saving. */
export function consequences(bot: Bot, body: PatchBotBody): string[] {
  const lines: string[] = [];
  // A runner exists (or is about to) only in these states; `bot_changed` casts it a Reload.
  const running = LIVE_STATUSES.has(bot.status);
  if (body.name) lines.push(`Renames the bot to “${body.name}” (names are unique; the id stays ${bot.id}).`);
  if (body.risk) {
    lines.push(
      `Merges the changed limits (${Object.keys(body.risk).join(", ")}) onto the current ones and stores the complete set.` +
        (running
          ? " The bot's runner is told to reload the bot row at once; its next evaluation checks the new limits (an evaluation already under way finishes with the old ones)."
          : " The bot is not running: the new limits apply from its next start."),
    );
  }
  if (body.strategy) lines.push("Replaces the strategy's params; the strategy's variables are re-synced. The bot is STOPPED: they apply from its next start.");
  if (body.is_trading_enabled === true) lines.push("Turns this bot's trading switch on (audited). LIVE orders also need the global trading switch on.");
  if (body.is_trading_enabled === false)
    lines.push(
      "Turns this bot's trading switch off (audited): its working LIVE orders are cancelled (unless the server runs with TRADEPLANE_TRADING_OFF_CANCELS off) and new LIVE orders stop at its next bar. It flattens nothing.",
    );
  return lines;
}
