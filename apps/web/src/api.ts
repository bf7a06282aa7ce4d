import { createMmClient, type MmClient } from '@mm/client';

/**
 * The one way the page talks to the API: @mm/client (generated from the OpenAPI document), same origin, with the
 * HttpOnly session cookie the browser sends by itself. The CSRF token lives in this module's memory only (never in
 * localStorage): after a reload the page asks GET /api/auth/session for it again.
 */
let csrfToken: string | null = null;
let onSignedOut: () => void = () => undefined;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when the API answers 401: the session ended (expired, signed out elsewhere, user deleted). */
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

export const api: MmClient = createMmClient({ baseUrl: location.origin });
api.use({
  onRequest({ request }) {
    if (csrfToken && !['GET', 'HEAD', 'OPTIONS'].includes(request.method)) request.headers.set('x-csrf-token', csrfToken);
    return request;
  },
});

export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface Envelope<D, M> {
  data: D;
  meta?: M;
}
type Answer<D, M> = { data?: Envelope<D, M>; error?: unknown; response: Response };

/** The `data` of a successful answer, or an ApiFailure carrying the API's own message. */
export async function call<D, M = unknown>(pending: Promise<Answer<D, M>>): Promise<D> {
  return (await callPage(pending)).data;
}

/** `data` and `meta` (paged lists). */
export async function callPage<D, M = unknown>(pending: Promise<Answer<D, M>>): Promise<Envelope<D, M>> {
  let answer: Answer<D, M>;
  try {
    answer = await pending;
  } catch {
    throw new ApiFailure('The API could not be reached.', 0);
  }
  if (answer.data) return answer.data;
  const body = answer.error as { error?: { code?: string; message?: string } } | undefined;
  if (answer.response.status === 401) onSignedOut();
  throw new ApiFailure(body?.error?.message ?? `The API answered ${answer.response.status}.`, answer.response.status, body?.error?.code);
}

export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
