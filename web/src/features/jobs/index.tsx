// The Jobs view: every job run (backtests and other background work), newest first, with its
// state, progress and reason, and Cancel for queued or running jobs (operators), behind a
// confirmation that says what the server does.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Ban } from "lucide-react";
import { ActionError } from "../../components/ActionError";
import { Badge, type Tone } from "../../components/Badge";
import { BotName } from "../../components/BotName";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { useRoleGate } from "../../lib/roleGate";
import { useTitle } from "../../lib/title";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import { cancelJob, cancellable, jobsQuery, type JobRun, type JobStatus } from "../../queries/jobs";
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

function Progress({ job }: { job: JobRun }) {
  const pct = Math.max(0, Math.min(100, job.progress_pct));
  return (
    <div className="flex items-center gap-2" title={`${pct}% reported by the worker`}>
      <div role="progressbar" aria-label={`Progress of job ${job.id}`} aria-valuenow={pct} aria-valuemin={0} aria-valuemax={100} className="h-1.5 w-20 overflow-hidden rounded-full bg-surface-2">
        <div className="h-full bg-accent" style={{ width: `${pct}%` }} />
      </div>
      <span className="text-xs tabular-nums">{pct}%</span>
    </div>
  );
}

function When({ iso, now }: { iso: string | null | undefined; now: number }) {
  const t = parseTime(iso);
  if (t === null) return <span className="text-muted">—</span>;
  return (
    <time dateTime={iso ?? undefined} title={formatTime(iso)} className="text-xs whitespace-nowrap">
      {ago(t, now)}
    </time>
  );
}

function CancelJob({ job, gate }: { job: JobRun; gate: string | null }) {
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const cancel = useMutation({
    mutationFn: () => cancelJob(job.id),
    onSuccess: () => setOpen(false),
    onSettled: () => void client.invalidateQueries({ queryKey: ["/api/jobs"] }),
  });
  const reason = gate ?? (cancellable(job.status) ? null : `The job is ${job.status}: only QUEUED or RUNNING jobs can be cancelled`);
  return (
    <>
      <Button size="sm" aria-label={`Cancel job ${job.id}`} disabledReason={reason} onClick={() => { cancel.reset(); setOpen(true); }}>
        <Ban size={13} aria-hidden /> Cancel
      </Button>
      {open && (
        <ConfirmDialog
          title={`Cancel ${job.kind} job`}
          danger
          confirmLabel="Cancel job"
          busy={cancel.isPending}
          error={cancel.isError ? <ActionError error={cancel.error} /> : undefined}
          onConfirm={() => cancel.mutate()}
          onCancel={() => setOpen(false)}
          consequences={
            <ul className="flex list-disc flex-col gap-1 pl-4 text-fg">
              <li>
                The job <span className="font-mono">{job.id}</span> becomes CANCELLED (reason CANCELLED_BY_OPERATOR), now {job.status}.
              </li>
              {job.status === "RUNNING" ? (
                <li>Its worker drops the work at its next heartbeat and keeps none of it: no partial result is stored.</li>
              ) : (
                <li>No worker will pick it up.</li>
              )}
              <li>It cannot be resumed: submit the job again to re-run it. Audited with your name.</li>
            </ul>
          }
        />
      )}
    </>
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
        <div className="overflow-x-auto rounded-lg border border-line bg-surface">
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
