// A broker's execution session on this server (GET /api/runtime/brokers): whether
// LIVE orders may go now and, when not, why (hold after a lost session, lost heartbeats,
// login refused or blocked, breaker open), the environment the vendor reports, heartbeats and,
// the user stream (Tradovate, Ironbeam). Green only for what the server proves now.
import { useQuery } from "@tanstack/react-query";
import { Badge } from "../../components/Badge";
import { formatTime } from "../../lib/time";
import { brokerSessionsQuery, sessionState, type BrokerSession as Session } from "../../queries/integrations";
import { When } from "./When";

const STREAM_TONE = { SYNCED: "ok", CONNECTING: "warn", DOWN: "bad" } as const;

function Details({ s }: { s: Session }) {
  const state = sessionState(s);
  return (
    <>
      <p className="flex flex-wrap items-center gap-2">
        <Badge tone={state.tone}>
          <span data-testid="session-state" data-kind={state.kind}>
            {state.label}
          </span>
        </Badge>
        <span className="text-xs text-muted">
          {s.live ? "live" : "demo"} environment{s.account ? ` · account ${s.account}` : ""}
        </span>
      </p>
      {s.hold && (
        <p className="text-xs text-bad" data-testid="session-hold">
          Lost for {s.hold.lost_seconds} s (since <time dateTime={s.hold.since} title={formatTime(s.hold.since)}>{formatTime(s.hold.since)}</time>):{" "}
          {s.hold.cancel_pending
            ? "the cancel of the account's working orders has not reached the broker yet (retried at every heartbeat)"
            : `${s.hold.cancelled.length} working order${s.hold.cancelled.length === 1 ? "" : "s"} cancelled at the broker`}
          {s.hold.bots.length > 0 && `; held bots: ${s.hold.bots.join(", ")}`}.
        </p>
      )}
      {s.blocked_until && (
        <p className="text-xs text-bad">
          No login before <time dateTime={s.blocked_until}>{formatTime(s.blocked_until)}</time> (the vendor's penalty; never retried in a loop).
        </p>
      )}
      <dl className="grid grid-cols-3 gap-x-4 gap-y-1 text-xs">
        <div>
          <dt className="text-muted">Last heartbeat</dt>
          <dd data-testid="session-heartbeat">
            <When iso={s.last_heartbeat_at} never="none yet" />
          </dd>
        </div>
        <div>
          <dt className="text-muted">Heartbeats</dt>
          <dd className="tabular-nums">
            {s.heartbeats} ok · {s.heartbeat_failures} failed
          </dd>
        </div>
        <div>
          <dt className="text-muted">Logins</dt>
          <dd className="tabular-nums">
            {s.logins} · {s.renewals} renewal{s.renewals === 1 ? "" : "s"}
          </dd>
        </div>
        {s.stream && (
          <div className="col-span-3" data-testid="session-stream">
            <dt className="text-muted">User stream</dt>
            <dd className="flex flex-wrap items-center gap-x-2">
              <Badge tone={STREAM_TONE[s.stream.status]}>{s.stream.status}</Badge>
              {s.stream.since && (
                <span>
                  since <When iso={s.stream.since} never="" />
                </span>
              )}
              <span className="tabular-nums text-muted">
                {s.stream.drops} drop{s.stream.drops === 1 ? "" : "s"} · fills read {s.stream.fill_reads_from_stream} from the stream, {s.stream.fill_reads_from_rest} over REST
              </span>
              {s.stream.last_error && <span className="break-words text-bad">{s.stream.last_error}</span>}
            </dd>
          </div>
        )}
        {s.last_error && (
          <div className="col-span-3">
            <dt className="text-muted">Last session error</dt>
            <dd className="break-words font-mono text-bad">{s.last_error}</dd>
          </div>
        )}
      </dl>
    </>
  );
}

/** The session block of a configured broker's card. */
export function BrokerSession({ broker }: { broker: string }) {
  const sessions = useQuery(brokerSessionsQuery);
  const mine = sessions.data?.filter((s) => s.broker === broker) ?? [];
  return (
    <section aria-label="Broker session" className="flex flex-col gap-1.5 rounded-md border border-line bg-surface-2 p-2.5 text-sm">
      <h4 className="text-xs font-semibold">Broker session (this server)</h4>
      {sessions.isPending && <p className="text-xs text-muted">Loading the session…</p>}
      {sessions.isError && (
        <p className="text-xs text-warn" data-testid="session-unknown">
          Session state unknown: GET /api/runtime/brokers is failing ({sessions.error.message}).
        </p>
      )}
      {!sessions.isError && sessions.data && mine.length === 0 && (
        <p className="text-xs text-muted" data-testid="session-none">
          No session on this server: the broker is configured but no session runs for it here, so no LIVE order can go through it from this server.
        </p>
      )}
      {/* A failing read shows no last-known state: it would look current. */}
      {!sessions.isError && mine.map((s) => (
        <Details key={`${s.broker}-${s.account ?? ""}`} s={s} />
      ))}
    </section>
  );
}
