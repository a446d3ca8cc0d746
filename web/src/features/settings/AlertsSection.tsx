// Settings → Alerts: which system-event severities go to Discord (GET|PUT /api/settings/alerts,
// admins change it; the alerts task follows it from its next poll) and a test message through
// the Discord path (POST /api/settings/alerts/test, operators).
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import type { components } from "../../api/schema";
import { BellRing, Send } from "lucide-react";
import { ActionError } from "../../components/ActionError";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { useRoleGate } from "../../lib/roleGate";
import { cn } from "../../lib/cn";
import { formatTime } from "../../lib/time";
import { alertSettingsQuery, useSaveAlertSettings, useTestAlert } from "../../queries/desk";

export const SEVERITIES = [
  { id: "SEV-1", about: "blockers: kills with exposure, reconciliation mismatches, data outages" },
  { id: "SEV-2", about: "degraded: suspended bots, open breakers, acknowledged exposure" },
  { id: "SEV-3", about: "warnings" },
  { id: "INFO", about: "every state change (noisy)" },
] as const;

type AlertSettings = components["schemas"]["AlertSettingsBody"];

/** Whether this server's own alerts task has failed to post or to read the events. */
function postingTrouble(d: AlertSettings): boolean {
  return d.alerts_enabled && d.posts_here && (d.alerts.failed > 0 || d.alerts.poll_failures > 0);
}

/**
 * What is known about the posting, from this server's alerts task: a running task is not a
 * post that arrived, and on a server that does not lead, nothing here says whether alerts go out.
 */
export function postingText(d: AlertSettings): string {
  if (!d.discord_configured) return "Discord is not configured (set DISCORD_WEBHOOK_URL): the routing below is stored, and nothing is posted until it is.";
  if (!d.alerts_enabled) return "Discord is configured but the alerts task is not posting (the webhook was rejected: replace DISCORD_WEBHOOK_URL and restart).";
  if (!d.posts_here) return "Discord is configured. Another server (the cluster's leader) posts the alerts: this server cannot tell whether they arrive; send a test message to check.";
  const a = d.alerts;
  const last = a.last_posted_at ? `, the latest at ${formatTime(a.last_posted_at)}` : "";
  const done = `This server posts the alerts: ${a.posted} accepted by Discord${last}.`;
  if (a.failed === 0 && a.poll_failures === 0) return `Discord is configured. ${done}`;
  const problems = [
    a.failed > 0 ? `${a.failed} post(s) failed${a.last_error_code ? ` (latest: ${a.last_error_code})` : ""}` : null,
    a.poll_failures > 0 ? `${a.poll_failures} read(s) of the events failed` : null,
  ].filter(Boolean);
  return `Discord is configured, but alerts may not be reaching it: ${problems.join(" and ")}. ${done}`;
}

export function AlertsSection() {
  const query = useQuery(alertSettingsQuery);
  const save = useSaveAlertSettings();
  const test = useTestAlert();
  const saveGate = useRoleGate("Changing the alert routing", "admin", ["/api/settings/alerts"]);
  const testGate = useRoleGate("Sending a test alert", "operator", ["/api/settings/alerts"]);
  const [severities, setSeverities] = useState<string[] | null>(null);
  const [kills, setKills] = useState<boolean | null>(null);
  const routing = query.data?.routing;

  const chosen = severities ?? routing?.severities ?? [];
  const killsOn = kills ?? routing?.kills ?? true;
  const dirty = routing !== undefined && (killsOn !== routing.kills || chosen.slice().sort().join() !== routing.severities.slice().sort().join());
  const notConfigured = query.data && !query.data.discord_configured ? "Discord is not configured (DISCORD_WEBHOOK_URL): nothing can be posted." : null;

  return (
    <Card>
      <div className="mb-3 flex flex-wrap items-center gap-3">
        <h2 className="flex items-center gap-2 text-base font-semibold">
          <BellRing size={16} aria-hidden /> Alerts
        </h2>
        <PanelStatus query={query} />
      </div>
      {query.isError && <QueryError error={query.error} />}
      {query.data && (
        <div className="flex flex-col gap-4 text-sm">
          <p data-testid="alerts-state" className={cn(postingTrouble(query.data) && "text-warn")}>
            {postingText(query.data)} Repeats of one code and bot within 5 minutes are folded into one post; at most 5 posts per 10 s.
          </p>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              save.mutate({ severities: chosen, kills: killsOn }, { onSuccess: (b) => { setSeverities(b.routing.severities); setKills(b.routing.kills); } });
            }}
            className="flex flex-col gap-3"
          >
            <fieldset className="flex flex-col gap-2">
              <legend className="mb-1 font-medium">Severities posted to Discord</legend>
              {SEVERITIES.map((s) => (
                <label key={s.id} className="flex items-center gap-2">
                  <input
                    type="checkbox"
                    checked={chosen.includes(s.id)}
                    disabled={saveGate !== null}
                    onChange={(e) => setSeverities(e.target.checked ? [...chosen, s.id] : chosen.filter((x) => x !== s.id))}
                  />
                  <span className="font-mono">{s.id}</span> <span className="text-muted">— {s.about}</span>
                </label>
              ))}
              <label className="mt-1 flex items-center gap-2">
                <input type="checkbox" checked={killsOn} disabled={saveGate !== null} onChange={(e) => setKills(e.target.checked)} />
                Kills of any severity (BOT_KILLED, RISK_KILL_TRIGGER, SUPERVISION_KILL_TRIGGER, KILL_SWITCH_ACTIVATED)
              </label>
            </fieldset>
            {chosen.length === 0 && !killsOn && <p className="text-warn">Nothing selected: no alert will be posted at all.</p>}
            <div className="flex flex-wrap items-center gap-2">
              <Button type="submit" variant="primary" disabledReason={saveGate ?? (dirty ? null : "No change to save.")}>
                {save.isPending ? "Saving…" : "Save routing"}
              </Button>
              {routing?.updated_at && (
                <span className="text-xs text-muted">
                  Last changed {formatTime(routing.updated_at)} by {routing.updated_by ?? "?"}
                </span>
              )}
            </div>
            {save.isError && <ActionError error={save.error} />}
            {save.isSuccess && !dirty && <p role="status" className="text-xs text-muted">Saved: the alerts task follows it from its next poll (within a second).</p>}
          </form>
          <div className="flex flex-col gap-2 border-t border-line pt-3">
            <p>Send one test message to the Discord channel now (a usage event of discord; never retried). It names you and the saved routing.</p>
            <div>
              <Button disabledReason={testGate ?? notConfigured} onClick={() => test.mutate()}>
                <Send size={14} aria-hidden /> {test.isPending ? "Sending…" : "Send test message"}
              </Button>
            </div>
            {test.isSuccess && <p role="status">Discord accepted the test message.</p>}
            {test.isError && <ActionError error={test.error} />}
          </div>
        </div>
      )}
    </Card>
  );
}
