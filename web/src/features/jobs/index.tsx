// The Jobs view: every job run (backtests and other background work), newest first, with its
// state, progress and reason, and Cancel for queued or running jobs (operators), behind a
// confirmation that says what the server does.
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Badge, type Tone } from "../../components/Badge";
import { BotName } from "../../components/BotName";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { useRoleGate } from "../../lib/roleGate";
import { useTitle } from "../../lib/title";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { jobsQuery, type JobStatus } from "../../queries/jobs";
import { CancelJob, Progress } from "./CancelJob";
import { Pager, useCursor } from "../bots/Pager";

const STATUSES: JobStatus[] = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "TIMEOUT", "CANCELLED"];

const TONE: Record<JobStatus, Tone> = {
  QUEUED: "neutral",
  RUNNING: "info",
  SUCCEEDED: "ok",
  FAILED: "bad",
  TIMEOUT: "bad",
  CANCELLED: "neutral",
};

function When({ iso, now }: { iso: string | null | undefined; now: number }) {
  const t = parseTime(iso);
  if (t === null) return <span className="text-muted">—</span>;
  return (
    <time dateTime={iso ?? undefined} title={formatTime(iso)} className="text-xs whitespace-nowrap">
      {ago(t, now)}
    </time>
  );
}

export function JobsPage() {
  useTitle("Jobs");
  const [status, setStatus] = useState<JobStatus | "">("");
  const paging = useCursor();
  const jobs = useQuery(jobsQuery({ status: status || undefined, cursor: paging.cursor }));
  const gate = useRoleGate("Cancel", "operator", ["/api/jobs", "/api/jobs/{id}/cancel"]);
  const now = useNow(5000);
  const items = jobs.data?.items ?? [];
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold tracking-tight">Jobs</h1>
        <PanelStatus query={jobs} />
        <label className="ml-auto flex items-center gap-2 text-sm">
          <span className="text-muted">Status</span>
          <select value={status} onChange={(e) => setStatus(e.target.value as JobStatus | "")} className="rounded-md border border-line bg-surface-2 px-2 py-1 text-sm">
            <option value="">all</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      {gate && (
        <p className="text-xs text-warn" data-testid="cancel-gate">
          Cancel unavailable: {gate}
        </p>
      )}
      {jobs.isPending && <p className="text-sm text-muted">Loading jobs…</p>}
      {jobs.isError && !jobs.data && <QueryError error={jobs.error} />}
      {jobs.data && items.length === 0 && (
        <EmptyState title="No jobs" reason={status ? `No ${status} job runs.` : "No job has run yet: backtests submitted from a bot's page (POST /api/backtests) appear here."} />
      )}
      {items.length > 0 && (
        <div className="relative overflow-x-auto rounded-lg border border-line bg-surface" tabIndex={0}>
          <table aria-label="Jobs" className="w-full text-sm">
            <thead className="text-left text-xs text-muted">
              <tr>
                <th className="px-3 py-2 font-medium">Kind</th>
                <th className="px-3 py-2 font-medium">State</th>
                <th className="px-3 py-2 font-medium">Progress</th>
                <th className="px-3 py-2 font-medium">Bot</th>
                <th className="px-3 py-2 font-medium">Created</th>
                <th className="px-3 py-2 font-medium">Finished</th>
                <th className="px-3 py-2 font-medium">Reason</th>
                <th className="px-3 py-2 font-medium">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((job) => (
                <tr key={job.id} className="border-t border-line align-top" data-testid={`job-${job.id}`}>
                  <td className="px-3 py-2">
                    <span className="font-mono text-xs">{job.kind}</span>
                    <span className="block font-mono text-[11px] text-muted" title={job.id}>
                      {job.id}
                    </span>
                  </td>
                  <td className="px-3 py-2">
                    <Badge tone={TONE[job.status]}>{job.status}</Badge>
                    {job.attempts > 1 && <span className="block text-xs text-muted">{job.attempts} attempts</span>}
                  </td>
                  <td className="px-3 py-2">
                    <Progress job={job} />
                  </td>
                  <td className="px-3 py-2 text-xs">{job.bot_id ? <BotName id={job.bot_id} /> : <span className="text-muted">none</span>}</td>
                  <td className="px-3 py-2">
                    <When iso={job.created_at} now={now} />
                  </td>
                  <td className="px-3 py-2">
                    <When iso={job.finished_at} now={now} />
                  </td>
                  <td className="max-w-xs px-3 py-2 text-xs">
                    {job.error_code && <span className="font-mono">{job.error_code}</span>}
                    {job.error && <span className="block break-words text-muted">{job.error}</span>}
                    {!job.error_code && !job.error && <span className="text-muted">—</span>}
                  </td>
                  <td className="px-3 py-2 text-right">
                    <CancelJob job={job} gate={gate} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager label="Jobs" first={paging.first} nextCursor={jobs.data?.next_cursor} onNext={paging.next} onPrevious={paging.previous} />
    </div>
  );
}
