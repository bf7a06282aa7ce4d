import { randomUUID } from 'node:crypto';
import { shellQuote } from './shell-input.js';

/** Extra time the remote `timeout` waits beyond the local one: it is the safety net when the connection drops. */
const REMOTE_GRACE_SECONDS = 5;

/** A unique tag that appears in the remote command line, so this one command's processes can be found and killed. */
export function newMarker(): string {
  return `mm-exec-${randomUUID()}`;
}

/**
 * `exec timeout` replaces the login shell, and GNU timeout puts itself and the command in a new process group
 * (unless --foreground), so killing that group ends the whole pipeline. The marker is `$0` of the inner sh.
 * A duration of 0 disables timeout's own limit but keeps the process group.
 */
export function wrapCommand(command: string, marker: string, timeoutMs: number): string {
  const seconds = timeoutMs > 0 ? Math.ceil(timeoutMs / 1000) + REMOTE_GRACE_SECONDS : 0;
  return `exec timeout --signal=KILL ${seconds}s sh -c ${shellQuote(command)} ${marker}`;
}

/**
 * Kills the process group(s) of the command tagged `marker`. The `[m]` pattern matches the marker
 * but not this kill command's own command line.
 */
export function killCommand(marker: string): string {
  const pattern = shellQuote(`[${marker[0]}]${marker.slice(1)}`);
  return `pids=$(pgrep -d, -f ${pattern}); [ -n "$pids" ] && for g in $(ps -o pgid= -p "$pids" | sort -u); do kill -KILL -- "-$g"; done 2>/dev/null; true`;
}
