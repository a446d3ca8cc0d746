import { Radio, RefreshCw, WifiOff } from "lucide-react";
import { Badge, type Tone } from "../../components/Badge";
import { Button } from "../../components/Button";
import { POLL } from "../../lib/queryClient";
import { ago, formatTime, useNow } from "../../lib/time";
import type { StreamMode } from "../../queries/events";

const LABEL: Record<StreamMode, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  polling: "Polling",
};

const TONE: Record<StreamMode, Tone> = {
  connecting: "neutral",
  live: "ok",
  reconnecting: "warn",
  polling: "warn",
};

/** Says how the event list stays current: the live stream, a reconnect, or the polling fallback. */
export function LiveIndicator({ mode, failures, lastEventAt, connectedAt, onRetry }: {
  mode: StreamMode;
  failures: number;
  lastEventAt: number | null;
  connectedAt: number | null;
  onRetry: () => void;
}) {
  const now = useNow(1000);
  let detail: string;
  if (mode === "live") {
    detail = lastEventAt
      ? `streaming; last event ${ago(lastEventAt, now)}`
      : `streaming since ${connectedAt ? formatTime(new Date(connectedAt).toISOString()) : "now"}; no new event yet`;
  } else if (mode === "connecting") {
    detail = "opening the event stream";
  } else if (mode === "reconnecting") {
    detail = `the event stream dropped (${failures} failed attempt${failures === 1 ? "" : "s"}); reconnecting`;
  } else {
    detail = `the event stream failed ${failures} times: checking for new events every ${POLL.fast / 1000} s, retrying the stream every ${POLL.slow / 1000} s`;
  }
  const Icon = mode === "live" ? Radio : mode === "polling" ? WifiOff : RefreshCw;
  return (
    <div className="flex flex-wrap items-center gap-2" data-testid="live-indicator" data-mode={mode}>
      <span role="status" aria-label={`Live updates: ${LABEL[mode]}`} className="inline-flex items-center gap-2">
        <Badge tone={TONE[mode]}>
          {mode === "live" ? (
            <span className="relative flex h-2 w-2" aria-hidden>
              <span className="absolute inline-flex h-full w-full animate-ping rounded-full bg-current opacity-60" />
              <span className="relative inline-flex h-2 w-2 rounded-full bg-current" />
            </span>
          ) : (
            <Icon size={12} aria-hidden className={mode === "reconnecting" || mode === "connecting" ? "animate-spin" : undefined} />
          )}
          {LABEL[mode]}
        </Badge>
        <span className="text-xs text-muted">{detail}</span>
      </span>
      {(mode === "polling" || mode === "reconnecting") && (
        <Button size="sm" variant="ghost" onClick={onRetry}>
          <RefreshCw size={12} aria-hidden /> Retry stream now
        </Button>
      )}
    </div>
  );
}
