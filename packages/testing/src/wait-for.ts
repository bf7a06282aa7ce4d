import { setTimeout as delay } from 'node:timers/promises';

/** Polls `probe` every `everyMs` until it returns true; throws naming `what` after `limitMs`. */
export async function waitFor(probe: () => Promise<boolean> | boolean, what: string, limitMs = 120_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    await delay(everyMs);
  }
}
