import type { ReactNode } from "react";

/** One labelled field of a detail list (`<dl>`), e.g. in an event's drawer. */
export function DetailRow({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="grid grid-cols-[7rem_1fr] gap-3 border-b border-line py-2 text-sm">
      <dt className="text-muted">{label}</dt>
      <dd className="min-w-0 break-words">{children}</dd>
    </div>
  );
}

/** A record's free-form metadata as formatted JSON, or a line saying there is none. */
export function MetadataBlock({ metadata, emptyText, testId }: { metadata: unknown; emptyText: string; testId?: string }) {
  const present = metadata !== null && typeof metadata === "object" && Object.keys(metadata).length > 0;
  return (
    <div>
      <h3 className="mb-1 text-xs font-semibold tracking-wide text-muted uppercase">Metadata</h3>
      {present ? (
        <pre className="overflow-auto rounded-md border border-line bg-surface-2 p-3 font-mono text-xs" data-testid={testId}>
          {JSON.stringify(metadata, null, 2)}
        </pre>
      ) : (
        <p className="text-sm text-muted">{emptyText}</p>
      )}
    </div>
  );
}
