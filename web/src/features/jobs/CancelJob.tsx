// Job progress and the operator's Cancel (behind a confirmation that says what the server
// does), shared by the Jobs view and the Strategy Lab.
import { useState } from "react";
import { useMutation, useQueryClient, type QueryKey } from "@tanstack/react-query";
import { Ban } from "lucide-react";
import { ActionError } from "../../components/ActionError";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { cancelJob, cancellable, type JobRun } from "../../queries/jobs";

type JobRef = Pick<JobRun, "id" | "kind" | "status">;

export function Progress({ job }: { job: Pick<JobRun, "id" | "progress_pct"> }) {
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

/** Cancel for a QUEUED or RUNNING job; `also` are query keys to refresh besides the jobs list. */
export function CancelJob({ job, gate, also = [], label }: { job: JobRef; gate: string | null; also?: QueryKey[]; label?: string }) {
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const cancel = useMutation({
    mutationFn: () => cancelJob(job.id),
    onSuccess: () => setOpen(false),
    onSettled: () => {
      for (const queryKey of [["/api/jobs"], ...also]) void client.invalidateQueries({ queryKey });
    },
  });
  const reason = gate ?? (cancellable(job.status) ? null : `The job is ${job.status}: only QUEUED or RUNNING jobs can be cancelled`);
  return (
    <>
      <Button size="sm" aria-label={label ?? `Cancel job ${job.id}`} disabledReason={reason} onClick={() => { cancel.reset(); setOpen(true); }}>
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
              {job.kind === "sweep" && <li>Its child backtests that have not ended are cancelled with it; finished ones keep their results.</li>}
              <li>It cannot be resumed: submit the job again to re-run it. Audited with your name.</li>
            </ul>
          }
        />
      )}
    </>
  );
}
