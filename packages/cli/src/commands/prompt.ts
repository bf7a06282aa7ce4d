import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';

/** Asks on the terminal (the question on stderr); with `secret`, what is typed is not echoed. */
export async function ask(question: string, { secret = false } = {}): Promise<string> {
  let muted = false;
  const echo = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output: echo, terminal: process.stdin.isTTY === true });
  try {
    const answer = rl.question(question);
    muted = secret;
    return (await answer).trim();
  } finally {
    rl.close();
    if (secret) process.stderr.write('\n');
  }
}

/** The first line of stdin (for `--password-stdin` and pipes). */
export async function readStdinLine(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}
