import { setTimeout as delay } from 'node:timers/promises';
import { UnrecoverableError } from 'bullmq';
import { HostKeyMismatchError, SshError, SshOutputLimitError, type SshSession } from '@mm/ssh';

export interface RebootSettings {
  /** Run after `sudo -n` (unless root): UPDATE_REBOOT_COMMAND. */
  command: string;
  /** Prints the boot id: UPDATE_BOOT_ID_COMMAND. */
  bootIdCommand: string;
  /** UPDATE_REBOOT_TIMEOUT_S, in ms. */
  timeoutMs: number;
  /** UPDATE_REBOOT_POLL_MS. */
  pollMs: number;
}

export const DEFAULT_REBOOT_SETTINGS: RebootSettings = Object.freeze({
  command: 'reboot',
  bootIdCommand: 'cat /proc/sys/kernel/random/boot_id',
  timeoutMs: 600_000,
  pollMs: 5_000,
});

export interface RebootOutcome {
  bootIdBefore: string;
  bootIdAfter: string;
}

// A boot id is a UUID on Linux; anything short and plain is accepted from a configured command, nothing else is trusted.
const BOOT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const BOOT_ID_TIMEOUT_MS = 15_000;
const REBOOT_COMMAND_TIMEOUT_MS = 60_000;

class BootIdError extends Error {
  override name = 'BootIdError';
}

/** The server's boot id; a BootIdError when the command fails or prints something else (its output is hostile: 4 KiB at most). */
async function readBootId(session: SshSession, command: string, signal: AbortSignal | undefined): Promise<string> {
  const res = await session.exec(command, { timeoutMs: BOOT_ID_TIMEOUT_MS, maxOutputBytes: 4_096, signal });
  const id = res.stdout.trim();
  if (res.code !== 0 || !BOOT_ID.test(id)) {
    throw new BootIdError(`the boot id command (${command}) did not print a boot id (exit ${res.code ?? res.signal}): ${JSON.stringify(id.slice(0, 80))}`);
  }
  return id;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 300);

/**
 * Reboots the server and waits until SSH answers again, to the same pinned host key, with a new boot id. Each try is a
 * fresh connection (`session.reset()`), so a connection that hangs across the reboot is never waited on. The server
 * having gone down (a try that could not connect) and come back with the same boot id fails at once; otherwise the
 * wait ends at `timeoutMs`. A different host key fails at once. Every failure is final (retrying would upgrade and
 * reboot again): the job fails with the reason.
 */
export async function rebootAndWait(
  session: SshSession,
  settings: RebootSettings,
  rootPrefix: string,
  serverName: string,
  signal: AbortSignal | undefined,
  line: (text: string) => void,
): Promise<RebootOutcome> {
  // Read first: a server whose boot id cannot be read is not rebooted, since its coming back could not be told apart.
  const bootIdBefore = await readBootId(session, settings.bootIdCommand, signal).catch((err: unknown) => {
    throw err instanceof BootIdError ? new UnrecoverableError(`not rebooting ${serverName}: ${err.message}`) : err;
  });
  const command = rootPrefix ? `${rootPrefix} ${settings.command}` : settings.command;
  line(`$ ${command}`);
  try {
    const res = await session.exec(command, { timeoutMs: REBOOT_COMMAND_TIMEOUT_MS, maxOutputBytes: 64 * 1024, signal });
    // A reboot command that returns at all returns 0; the connection dropping under it is the other normal outcome.
    if (res.code !== null && res.code !== 0) {
      throw new UnrecoverableError(`reboot of ${serverName} failed: ${command} exited ${res.code}: ${res.stderr.trim().slice(-300) || 'no output'}`);
    }
  } catch (err) {
    if (err instanceof UnrecoverableError || signal?.aborted) throw err;
    line(`connection ended during the reboot command: ${messageOf(err)}`);
  }
  session.reset();

  const deadline = Date.now() + settings.timeoutMs;
  let wentDown = false;
  let lastError: string | null = null;
  let sameIdSeen = false;
  while (Date.now() < deadline) {
    await delay(settings.pollMs, undefined, { signal });
    try {
      const bootIdAfter = await readBootId(session, settings.bootIdCommand, signal);
      if (bootIdAfter !== bootIdBefore) {
        line(`back after the reboot: boot id ${bootIdBefore} -> ${bootIdAfter}`);
        return { bootIdBefore, bootIdAfter };
      }
      sameIdSeen = true;
      if (wentDown) throw new UnrecoverableError(`reboot of ${serverName} failed: it came back with the same boot id ${bootIdAfter}, so it did not reboot`);
    } catch (err) {
      if (err instanceof UnrecoverableError || signal?.aborted) throw err;
      if (err instanceof HostKeyMismatchError) throw new UnrecoverableError(`reboot of ${serverName} failed: it came back with another host key: ${err.message}`);
      // Not answering SSH is the server being down; a boot id command failing while it shuts down or starts is not.
      if (err instanceof SshError && !(err instanceof SshOutputLimitError)) wentDown = true;
      else if (!(err instanceof BootIdError)) throw err;
      lastError = messageOf(err);
    } finally {
      session.reset();
    }
  }
  const seconds = Math.round(settings.timeoutMs / 1000);
  if (!wentDown && sameIdSeen) throw new UnrecoverableError(`reboot of ${serverName} failed: after ${seconds} s it still answers with the same boot id ${bootIdBefore} (the reboot command did not reboot it)`);
  throw new UnrecoverableError(`reboot of ${serverName} failed: SSH did not come back within ${seconds} s${lastError ? ` (last error: ${lastError})` : ''}`);
}
