import { Radio, RefreshCw, WifiOff } from "lucide-react";
import { Badge, type Tone } from "../../components/Badge";
import { Button } from "../../components/Button";
import { POLL } from "../../lib/queryClient";
import { ago, formatTime, useNow } from "../../lib/time";
import type { StreamMode } from "../../queries/events";

/** The mode's name (the status's accessible name: "Live updates: Live"). */
const LABEL: Record<StreamMode, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  polling: "Polling",
};

/** What the badge says: the stream is live only for the events of the server it is open on. */
const BADGE: Record<StreamMode, string> = { ...LABEL, live: "Live (this server)" };

const TONE: Record<StreamMode, Tone> = {
  connecting: "neutral",
  live: "ok",
  reconnecting: "warn",
  polling: "warn",
};

/**
 * Says how the event list stays current: the live stream (which carries only the events recorded
 * by the server it is open on), a reconnect, or the polling fallback; and how often the list is
 * re-read from the API (`checkEveryMs`), which is what brings every other server's events.
 */
export function LiveIndicator({ mode, failures, lastEventAt, connectedAt, checkEveryMs, onRetry }: {
  mode: StreamMode;
  failures: number;
  lastEventAt: number | null;
  connectedAt: number | null;
  /** How often the list is re-read from the API (ms). */
  checkEveryMs: number;
  onRetry: () => void;
}) {
  const now = useNow(1000);
  const every = `${checkEveryMs / 1000} s`;
  let detail: string;
  if (mode === "live") {
    const streaming = lastEventAt
      ? `streaming this server's events; last event ${ago(lastEventAt, now)}`
      : `streaming this server's events since ${connectedAt ? formatTime(new Date(connectedAt).toISOString()) : "now"}; no new event yet`;
    detail = `${streaming}. Events recorded on other servers appear when the list is checked (every ${every})`;
  } else if (mode === "connecting") {
    detail = `opening the event stream; the list is checked every ${every}`;
  } else if (mode === "reconnecting") {
    detail = `the event stream dropped (${failures} failed attempt${failures === 1 ? "" : "s"}); reconnecting; the list is checked every ${every}`;
  } else {
    detail = `the event stream failed ${failures} times: checking for new events every ${every}, retrying the stream every ${POLL.slow / 1000} s`;
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
          {BADGE[mode]}
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
