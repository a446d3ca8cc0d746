// "Edit bot": PATCH /api/bots/{id} with only the changed fields. Risk limits and the name change
// at any time; strategy params only while the bot is STOPPED; turning trading on needs an admin
// (and, for a LIVE bot, a recent 2FA step-up: the code is asked for here).
// The server names a refused field in `details.field` (name, risk.max_position,
// strategy.params.slow, …); that message is shown beside the field.
import { useId, useState, type ReactNode } from "react";
import { Button } from "../../components/Button";
import { Drawer } from "../../components/Drawer";
import { ActionError } from "../../components/ActionError";
import { isApiError } from "../../api/errors";
import { useMe } from "../../queries/auth";
import { parseTime, useNow } from "../../lib/time";
import { needsStepUp, usePatchBot, type Bot } from "../../queries/bots";
import { STRATEGIES, type StrategyKind } from "./NewBotForm";
import { buildPatch, consequences, initialValues, permissions, RISK_LIMITS, strategyOf, type Errors, type EditValues } from "./editBot";

const INPUT = "rounded-md border border-line bg-surface-2 px-2 py-1.5 text-sm aria-[invalid=true]:border-bad disabled:opacity-60";

function Field({ id, label, error, hint, children }: { id: string; label: string; error?: string; hint?: string; children: (describedBy: string | undefined) => ReactNode }) {
  const describedBy = error ? `${id}-error` : hint ? `${id}-hint` : undefined;
  return (
    <div className="flex flex-col gap-1 text-sm">
      <label htmlFor={id} className="font-medium">{label}</label>
      {children(describedBy)}
      {error ? (
        <p id={`${id}-error`} className="text-xs text-bad" role="alert">{error}</p>
      ) : hint ? (
        <p id={`${id}-hint`} className="text-xs text-muted">{hint}</p>
      ) : null}
    </div>
  );
}

function fieldOf(details: unknown): { field: string; problem: string } | null {
  if (!details || typeof details !== "object") return null;
  const d = details as { field?: unknown; problem?: unknown };
  return typeof d.field === "string" && typeof d.problem === "string" ? { field: d.field, problem: d.problem } : null;
}

function paramLabel(kind: string, name: string): { label: string; hint?: string } {
  if (name === "average") return { label: "Average" };
  const def = STRATEGIES[kind as StrategyKind]?.params.find((p) => p.name === name);
  return def ? { label: def.label, hint: def.hint } : { label: name };
}

export function EditBotForm({ bot, onClose, onSaved }: { bot: Bot; onClose: () => void; onSaved: (message: string) => void }) {
  const uid = useId();
  const id = (name: string) => `${uid}-${name.replace(/\./g, "-")}`;
  const me = useMe();
  const patch = usePatchBot(bot.id);
  const [values, setValues] = useState<EditValues>(() => initialValues(bot));
  const [clientErrors, setClientErrors] = useState<Errors>({});
  const perms = permissions(bot, me.data?.user.role);
  const strategy = strategyOf(bot);
  const preview = buildPatch(bot, values, perms);
  const now = useNow(5000);
  const stepUpUntil = parseTime(me.data?.step_up_valid_until);
  const [code, setCode] = useState("");
  const [askedForCode, setAskedForCode] = useState(false);
  // Turning a LIVE bot's trading on needs a recent step-up: asked up front when the session's
  // is stale, or when the server answers TWO_FACTOR_REQUIRED.
  const liveOn = bot.stage === "LIVE" && preview.body?.is_trading_enabled === true;
  const showCode = liveOn && (askedForCode || stepUpUntil === null || stepUpUntil <= now);

  const serverField = isApiError(patch.error) ? fieldOf(patch.error.details) : null;
  const errors: Errors = { ...clientErrors };
  if (serverField) errors[serverField.field] = serverField.problem;
  const err = (f: string) => errors[f];

  const submit = () => {
    const { body, errors: found } = buildPatch(bot, values, perms);
    setClientErrors(found);
    if (Object.keys(found).length > 0 || !body) return;
    patch.mutate({ body, code: showCode && code.trim() ? code : undefined }, {
      onError: (error) => {
        if (needsStepUp(error)) setAskedForCode(true);
      },
      onSuccess: (res) => {
        const changed = [body.name !== undefined && "name", body.risk && "risk limits", body.strategy && "strategy params", body.is_trading_enabled !== undefined && "trading switch"].filter(Boolean).join(", ");
        onSaved(`Saved ${changed} of ${res.bot.name}.`);
        onClose();
      },
    });
  };

  const lines = preview.body ? consequences(bot, preview.body) : [];

  return (
    <Drawer title="Edit bot" onClose={onClose} width={560}>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
        className="flex flex-col gap-4"
      >
        <p className="text-sm text-muted">
          {bot.symbol} {bot.timeframe} · {bot.stage} · {bot.status}. Only the fields you change are sent. The stage changes only by promotion or demotion.
        </p>
        <Field id={id("name")} label="Name" error={err("name")}>
          {(d) => (
            <input id={id("name")} value={values.name} onChange={(e) => setValues({ ...values, name: e.target.value })} maxLength={100} aria-invalid={Boolean(err("name"))} aria-describedby={d} className={INPUT} autoComplete="off" />
          )}
        </Field>

        <fieldset className="flex flex-col gap-3 rounded-md border border-line p-3">
          <legend className="px-1 text-sm font-semibold">Risk limits</legend>
          <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
            {RISK_LIMITS.map((l) => {
              const field = `risk.${l.name}`;
              return (
                <Field key={field} id={id(field)} label={`${l.label} (${l.unit})`} error={err(field)} hint={`Now: ${bot.risk_limits[l.name]}`}>
                  {(d) => (
                    <input
                      id={id(field)}
                      inputMode={l.kind === "int" ? "numeric" : "decimal"}
                      value={values.risk[l.name]}
                      onChange={(e) => setValues({ ...values, risk: { ...values.risk, [l.name]: e.target.value } })}
                      aria-invalid={Boolean(err(field))}
                      aria-describedby={d}
                      className={INPUT}
                    />
                  )}
                </Field>
              );
            })}
          </div>
          {err("risk") && <p className="text-xs text-bad" role="alert">Risk: {err("risk")}</p>}
        </fieldset>

        <fieldset className="flex flex-col gap-3 rounded-md border border-line p-3" disabled={perms.strategy !== null}>
          <legend className="px-1 text-sm font-semibold">Strategy params{strategy ? ` · ${strategy.kind}` : ""}</legend>
          {perms.strategy && (
            <p className="text-xs text-muted" data-testid="strategy-disabled-reason">{perms.strategy}</p>
          )}
          <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
            {Object.keys(values.params).map((name) => {
              const field = `strategy.params.${name}`;
              const { label, hint } = paramLabel(strategy?.kind ?? "", name);
              return (
                <Field key={field} id={id(field)} label={label} error={err(field)} hint={hint}>
                  {(d) =>
                    name === "average" ? (
                      <select id={id(field)} value={values.params[name]} onChange={(e) => setValues({ ...values, params: { ...values.params, [name]: e.target.value } })} aria-describedby={d} className={INPUT}>
                        <option value="sma">Simple (sma)</option>
                        <option value="ema">Exponential (ema)</option>
                      </select>
                    ) : (
                      <input
                        id={id(field)}
                        inputMode="decimal"
                        value={values.params[name]}
                        onChange={(e) => setValues({ ...values, params: { ...values.params, [name]: e.target.value } })}
                        aria-invalid={Boolean(err(field))}
                        aria-describedby={d}
                        className={INPUT}
                      />
                    )
                  }
                </Field>
              );
            })}
          </div>
          {(err("strategy.params") || err("strategy.kind") || err("strategy")) && (
            <p className="text-xs text-bad" role="alert">Strategy: {err("strategy.params") ?? err("strategy.kind") ?? err("strategy")}</p>
          )}
        </fieldset>

        <fieldset className="flex flex-col gap-1 rounded-md border border-line p-3">
          <legend className="px-1 text-sm font-semibold">Trading switch</legend>
          <label className="flex items-center gap-2 text-sm">
            <input
              type="checkbox"
              checked={values.tradingEnabled}
              disabled={perms.trading !== null}
              aria-describedby={perms.trading ? id("trading-reason") : undefined}
              onChange={(e) => setValues({ ...values, tradingEnabled: e.target.checked })}
            />
            Trading enabled (LIVE orders need it on)
          </label>
          {perms.trading && <p id={id("trading-reason")} className="text-xs text-muted">{perms.trading}</p>}
          {err("is_trading_enabled") && <p className="text-xs text-bad" role="alert">{err("is_trading_enabled")}</p>}
          {showCode && (
            <Field id={id("code")} label="Authenticator code" hint="Turning a LIVE bot's trading on needs a recent two-factor step-up: the code is checked first (POST /api/auth/step-up), then the change is saved.">
              {(d) => (
                <input id={id("code")} value={code} onChange={(e) => setCode(e.target.value)} inputMode="numeric" autoComplete="one-time-code" aria-describedby={d} className={INPUT} />
              )}
            </Field>
          )}
        </fieldset>

        {lines.length > 0 && (
          <section aria-label="What saving does" className="rounded-md border border-info/40 bg-info/10 p-3 text-sm">
            <p className="mb-1 font-medium">Saving:</p>
            <ul className="flex list-disc flex-col gap-1 pl-4" data-testid="edit-consequences">
              {lines.map((l) => <li key={l}>{l}</li>)}
            </ul>
          </section>
        )}
        {patch.error !== null && <ActionError error={patch.error} />}
        <div className="flex justify-end gap-2">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" disabled={patch.isPending} disabledReason={preview.body === null && Object.keys(preview.errors).length === 0 ? "Nothing changed yet" : null}>
            {patch.isPending ? "Saving…" : "Save changes"}
          </Button>
        </div>
      </form>
    </Drawer>
  );
}
