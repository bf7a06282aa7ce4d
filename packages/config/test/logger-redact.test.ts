import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loggerOptions, redactPaths } from '../src/index.js';

function capture(): { log: pino.Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const log = pino(loggerOptions({ name: 'redact-test', level: 'info', pretty: false }), stream);
  return { log, lines: () => chunks.map((c) => JSON.parse(c) as Record<string, unknown>) };
}

describe('logger redaction', () => {
  it('uses explicit paths only (no wildcard, whose cost every line pays)', () => {
    expect(redactPaths.filter((p) => p.includes('*'))).toEqual([]);
  });

  it('redacts secrets at the top level, on errors, their cause and client config, and in request headers', () => {
    const { log, lines } = capture();
    const err = Object.assign(new Error('connect failed'), {
      password: 'err-pass-1',
      config: { privateKey: 'err-key-2', host: 'db.example' },
      cause: Object.assign(new Error('inner'), { token: 'cause-token-3' }),
    });
    log.info({ password: 'top-pass-4', passphrase: 'top-phrase-5', serverId: 's1' }, 'top');
    log.error({ err }, 'failed');
    log.info({ req: { method: 'GET', url: '/x', headers: { authorization: 'Bearer jwt-6', cookie: 'mm=7', accept: '*/*' } } }, 'request');
    const text = JSON.stringify(lines());
    for (const secret of ['err-pass-1', 'err-key-2', 'cause-token-3', 'top-pass-4', 'top-phrase-5', 'jwt-6', 'mm=7']) expect(text).not.toContain(secret);
    const [top, failed, request] = lines();
    expect(top).toMatchObject({ password: '[redacted]', serverId: 's1' });
    expect(failed).toMatchObject({ err: { message: expect.stringContaining('connect failed') as string, password: '[redacted]', config: { privateKey: '[redacted]', host: 'db.example' } } });
    expect(request).toMatchObject({ req: { headers: { authorization: '[redacted]', accept: '*/*' } } });
  });
});
