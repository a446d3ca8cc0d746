import { Fragment, useState, type FormEvent } from "react";
import { useInfiniteQuery } from "@tanstack/react-query";
import { useNavigate, useSearch } from "@tanstack/react-router";
import { ChevronDown, ChevronRight } from "lucide-react";
import { isApiError } from "../../api/errors";
import { auditOutcomeValues } from "../../api/schema";
import { Badge, type Tone } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { TraceId } from "../../components/TraceId";
import { formatTime } from "../../lib/time";
import type { SearchParams } from "../../router";
import { auditQuery, usersQuery, type AuditEntry, type AuditFilters } from "../../queries/settings";
import { Forbidden } from "./AdminOnly";
import { SelectField, TextField } from "./Dialog";

/** Actions the server records (the filter is an exact match; others can be typed). */
const KNOWN_ACTIONS = [
  "access.denied",
  "auth.login",
  "auth.2fa_verify",
  "auth.2fa_setup",
  "auth.2fa_confirm",
  "auth.backup_codes_regenerate",
  "auth.step_up",
  "auth.logout",
  "auth.session_revoke",
  "auth.session_revoke_others",
  "auth.register_first_admin",
  "users.create",
  "users.update",
  "service_tokens.create",
  "service_tokens.revoke",
  "system.trading_switch",
  "system.kill_switch",
  "bot.create",
  "bot.update",
  "bot.start",
  "bot.restart",
  "bot.trading_enabled",
];
const OUTCOMES = auditOutcomeValues;

function outcomeTone(outcome: string): Tone {
  if (outcome === "SUCCESS") return "ok";
  if (outcome === "DENIED") return "warn";
  if (outcome === "FAILED") return "bad";
  return "neutral";
}

/** `2026-11-26T13:04` (datetime-local, local time) ⇄ RFC 3339 (UTC). */
function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}
function toLocal(iso: string | undefined): string {
  if (!iso) return "";
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return "";
  const p = (n: number) => String(n).padStart(2, "0");
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())}T${p(t.getHours())}:${p(t.getMinutes())}`;
}

/** The audit filters in the URL (`?section=audit&action=…&outcome=…&actor=…&from=…&to=…`). */
export function filtersFrom(search: SearchParams): AuditFilters {
  const f: AuditFilters = {};
  if (search.action) f.action = search.action;
  if (search.outcome) f.outcome = search.outcome;
  if (search.actor) f.actor_user_id = search.actor;
  if (search.from) f.from = search.from;
  if (search.to) f.to = search.to;
  return f;
}

export function AuditSection() {
  const search = useSearch({ strict: false }) as SearchParams;
  const navigate = useNavigate();
  const filters = filtersFrom(search);
  const audit = useInfiniteQuery(auditQuery(filters));
  const filtered = Object.keys(filters).length > 0;

  const apply = (next: AuditFilters) =>
    void navigate({
      to: ".",
      search: {
        section: "audit",
        action: next.action || undefined,
        outcome: next.outcome || undefined,
        actor: next.actor_user_id || undefined,
        from: next.from || undefined,
        to: next.to || undefined,
      },
      replace: true,
    });

  if (audit.isError && isApiError(audit.error) && audit.error.forbidden) {
    return <Forbidden title="Audit log" what="the audit log" error={audit.error} />;
  }
  const items = audit.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <Card title="Audit log" status={<PanelStatus query={audit} />}>
      <p className="mb-3 text-sm text-muted">
        Every sign-in, 2FA change, session revocation, user and token change, system switch and refused request, newest first.
      </p>
      <AuditFilterForm key={JSON.stringify(filters)} filters={filters} onApply={apply} />
      {audit.isError && !audit.data ? (
        <QueryError error={audit.error} />
      ) : audit.isPending ? null : items.length === 0 ? (
        <EmptyState
          title="No audit entries"
          reason={filtered ? "No entry matches these filters. Widen the time range or clear a filter." : "Nothing has been recorded yet; the first sign-in writes the first entry."}
          action={filtered ? <Button size="sm" onClick={() => apply({})}>Clear filters</Button> : undefined}
        />
      ) : (
        <div className="relative overflow-x-auto" tabIndex={0}>
          <table className="w-full text-left text-sm">
            <thead className="text-xs text-muted">
              <tr className="border-b border-line">
                <th className="w-6 py-2"><span className="sr-only">Details</span></th>
                <th className="py-2 pr-3 font-medium">Time</th>
                <th className="py-2 pr-3 font-medium">Actor</th>
                <th className="py-2 pr-3 font-medium">Action</th>
                <th className="py-2 pr-3 font-medium">Target</th>
                <th className="py-2 pr-3 font-medium">Outcome</th>
                <th className="py-2 pr-3 font-medium">IP address</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <AuditRow key={e.id} entry={e} />
              ))}
            </tbody>
          </table>
          {audit.hasNextPage && (
            <div className="mt-3">
              <Button size="sm" onClick={() => void audit.fetchNextPage()} disabled={audit.isFetchingNextPage}>
                {audit.isFetchingNextPage ? "Loading…" : "Load older entries"}
              </Button>
            </div>
          )}
        </div>
      )}
    </Card>
  );
}

function AuditRow({ entry: e }: { entry: AuditEntry }) {
  const [open, setOpen] = useState(false);
  const hasMeta = e.metadata != null && !(typeof e.metadata === "object" && Object.keys(e.metadata as object).length === 0);
  return (
    <Fragment>
      <tr className="border-b border-line/60" data-testid="audit-row">
        <td className="py-2">
          <button
            type="button"
            aria-expanded={open}
            aria-label={`Details of ${e.action} at ${formatTime(e.created_at)}`}
            onClick={() => setOpen(!open)}
            className="rounded p-0.5 text-muted hover:text-fg"
          >
            {open ? <ChevronDown size={14} /> : <ChevronRight size={14} />}
          </button>
        </td>
        <td className="py-2 pr-3 whitespace-nowrap">{formatTime(e.created_at)}</td>
        <td className="py-2 pr-3">{e.actor}</td>
        <td className="py-2 pr-3 font-mono text-xs">{e.action}</td>
        <td className="py-2 pr-3 font-mono text-xs">{e.target ?? <span className="text-muted">—</span>}</td>
        <td className="py-2 pr-3">
          <Badge tone={outcomeTone(e.outcome)}>{e.outcome}</Badge>
        </td>
        <td className="py-2 pr-3 font-mono text-xs">{e.ip ?? <span className="text-muted">unknown</span>}</td>
      </tr>
      {open && (
        <tr className="border-b border-line/60 bg-surface-2/50">
          <td />
          <td colSpan={6} className="py-2 pr-3">
            <div className="flex flex-col gap-2 text-xs">
              <TraceId id={e.trace_id} />
              {e.actor_user_id && <span className="text-muted">actor user id <span className="font-mono">{e.actor_user_id}</span></span>}
              {e.actor_token_id && <span className="text-muted">actor token id <span className="font-mono">{e.actor_token_id}</span></span>}
              {hasMeta ? (
                <pre tabIndex={0} className="relative overflow-x-auto rounded-md border border-line bg-surface p-2 font-mono">{JSON.stringify(e.metadata, null, 2)}</pre>
              ) : (
                <span className="text-muted">No metadata recorded.</span>
              )}
            </div>
          </td>
        </tr>
      )}
    </Fragment>
  );
}

function AuditFilterForm({ filters, onApply }: { filters: AuditFilters; onApply: (f: AuditFilters) => void }) {
  const users = useInfiniteQuery(usersQuery);
  const [action, setAction] = useState(filters.action ?? "");
  const [outcome, setOutcome] = useState(filters.outcome ?? "");
  const [actor, setActor] = useState(filters.actor_user_id ?? "");
  const [from, setFrom] = useState(toLocal(filters.from));
  const [to, setTo] = useState(toLocal(filters.to));
  const badRange = from !== "" && to !== "" && new Date(from) >= new Date(to);
  const submit = (ev: FormEvent) => {
    ev.preventDefault();
    if (badRange) return;
    onApply({ action: action.trim(), outcome, actor_user_id: actor, from: toIso(from), to: toIso(to) });
  };
  const people = users.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <form onSubmit={submit} aria-label="Audit filters" className="mb-4 flex flex-wrap items-end gap-3 rounded-md border border-line bg-surface-2/40 p-3">
      <TextField label="Action" className="block w-56 text-sm" list="audit-actions" placeholder="any" value={action} onChange={(e) => setAction(e.target.value)} />
      <datalist id="audit-actions">
        {KNOWN_ACTIONS.map((a) => (
          <option key={a} value={a} />
        ))}
      </datalist>
      <SelectField label="Outcome" className="block w-36 text-sm" value={outcome} onChange={(e) => setOutcome(e.target.value)}>
        <option value="">any</option>
        {OUTCOMES.map((o) => (
          <option key={o} value={o}>{o}</option>
        ))}
      </SelectField>
      <SelectField label="Actor" className="block w-56 text-sm" value={actor} onChange={(e) => setActor(e.target.value)}>
        <option value="">anyone</option>
        {actor && !people.some((u) => u.id === actor) && <option value={actor}>user {actor.slice(0, 8)}…</option>}
        {people.map((u) => (
          <option key={u.id} value={u.id}>{u.email}</option>
        ))}
      </SelectField>
      <TextField label="From" className="block text-sm" type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
      <TextField label="To" className="block text-sm" type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
      <div className="flex gap-2">
        <Button type="submit" variant="primary" disabledReason={badRange ? "“From” must be earlier than “To”." : null}>Apply</Button>
        <Button onClick={() => onApply({})}>Clear</Button>
      </div>
      {badRange && <p className="w-full text-xs text-warn">“From” must be earlier than “To”.</p>}
    </form>
  );
}
