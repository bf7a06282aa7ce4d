import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { assertLiteralAllowed, guardedLookup, type PublicUrlPolicy } from '@mm/outbound-http';

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<delivery id>.<t>.<raw body>">` (docs/API.md "Webhooks"): binding the
 * delivery id and the time, a captured delivery cannot be replayed as a new one; the receiver rejects an old `t` or
 * an id it has seen.
 */
export function signWebhook(secret: string, deliveryId: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${deliveryId}.${timestamp}.${body}`).digest('hex')}`;
}

export interface WebhookRequest {
  url: string;
  body: string;
  secret: string;
  event: string;
  deliveryId: string;
}

export interface SendOutcome {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
}

/**
 * One POST attempt. 2xx is delivered; anything else (including a redirect, which is not followed) is a failure.
 * No pooled sockets: every attempt resolves and checks the address again (@mm/outbound-http).
 */
export async function sendWebhook(req: WebhookRequest, opts: { timeoutMs: number; policy: PublicUrlPolicy }): Promise<SendOutcome> {
  let url: URL;
  try {
    url = new URL(req.url);
    assertLiteralAllowed(url, opts.policy);
  } catch (err) {
    return { ok: false, statusCode: null, error: (err as Error).message };
  }
  const transport = url.protocol === 'https:' ? https : http;
  // Signed per attempt: a retry carries its own time and the same delivery id.
  const timestamp = Math.floor(Date.now() / 1_000);
  return new Promise<SendOutcome>((resolve) => {
    const request = transport.request(
      url,
      {
        method: 'POST',
        agent: false,
        lookup: guardedLookup(url, opts.policy),
        signal: AbortSignal.timeout(opts.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(req.body),
          'user-agent': 'medicine-man-webhooks/1',
          'x-mm-event': req.event,
          'x-mm-delivery': req.deliveryId,
          'x-mm-timestamp': String(timestamp),
          'x-mm-signature': signWebhook(req.secret, req.deliveryId, timestamp, req.body),
        },
      },
      (res) => {
        const statusCode = res.statusCode ?? 0;
        // Read and discard the body so the socket closes cleanly; the status is the answer.
        res.resume();
        res.on('error', () => {});
        const ok = statusCode >= 200 && statusCode < 300;
        resolve({ ok, statusCode, error: ok ? null : `receiver answered HTTP ${statusCode}` });
      },
    );
    request.on('error', (err: Error & { code?: string }) => {
      const timedOut = err.name === 'AbortError' || err.name === 'TimeoutError' || err.code === 'ABORT_ERR';
      resolve({ ok: false, statusCode: null, error: timedOut ? `no answer within ${opts.timeoutMs} ms` : err.message.slice(0, 500) });
    });
    request.end(req.body);
  });
}
