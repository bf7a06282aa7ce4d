import http from 'node:http';
import https from 'node:https';
import { assertLiteralAllowed, guardedLookup, parsePublicUrl, type PublicUrlPolicy } from './public-url-guard.js';

export interface GuardedGetResult {
  /** A 2xx answer within the time limit. */
  ok: boolean;
  statusCode: number | null;
  /** Why not ok, in one line. */
  error: string | null;
}

/**
 * One GET under the SSRF policy, checked on the address actually connected to (no pooled socket, so every call resolves
 * again). A redirect is not followed (it is a failure, like any other non-2xx); the body is discarded unread, so a
 * hostile endpoint cannot make the caller hold it.
 */
export async function guardedGet(raw: string, opts: { policy: PublicUrlPolicy; timeoutMs: number; userAgent: string }): Promise<GuardedGetResult> {
  let url: URL;
  try {
    url = parsePublicUrl(raw);
    assertLiteralAllowed(url, opts.policy);
  } catch (err) {
    return { ok: false, statusCode: null, error: (err as Error).message };
  }
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<GuardedGetResult>((resolve) => {
    const request = transport.request(
      url,
      { method: 'GET', agent: false, lookup: guardedLookup(url, opts.policy), signal: AbortSignal.timeout(opts.timeoutMs), headers: { 'user-agent': opts.userAgent } },
      (res) => {
        const statusCode = res.statusCode ?? 0;
        res.on('error', () => {});
        res.destroy();
        const ok = statusCode >= 200 && statusCode < 300;
        resolve({ ok, statusCode, error: ok ? null : `answered HTTP ${statusCode}` });
      },
    );
    request.on('error', (err: Error & { code?: string }) => {
      const timedOut = err.name === 'AbortError' || err.name === 'TimeoutError' || err.code === 'ABORT_ERR';
      resolve({ ok: false, statusCode: null, error: timedOut ? `no answer within ${opts.timeoutMs} ms` : err.message.slice(0, 300) });
    });
    request.end();
  });
}
