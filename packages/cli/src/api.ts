import { createMmClient, type MmClient } from '@mm/client';
import { CliError, ExitCode, exitCodeOfStatus } from './exit-codes.js';
import type { Settings } from './config.js';

interface ErrorEnvelope {
  error?: { code?: string; message?: string; details?: { path: string; message: string }[] };
}

/** What openapi-fetch answers: `data` on 2xx, `error` otherwise. */
interface Answer<D> {
  data?: D;
  error?: unknown;
  response: Response;
}

type Payload<D> = D extends { data: infer X } ? X : never;

/** The message an error answer carries, with the first validation detail when there is one. */
export function describeError(status: number, body: unknown): string {
  const error = (body as ErrorEnvelope | undefined)?.error;
  if (!error?.message) return `The API answered HTTP ${status}.`;
  const detail = error.details?.[0];
  return `${error.message}${detail ? ` (${detail.path || 'body'}: ${detail.message})` : ''} [${error.code ?? status}]`;
}

export function unreachable(url: string, err: unknown): CliError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return new CliError(`Cannot reach the API at ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, ExitCode.unavailable);
}

export class Api {
  readonly client: MmClient;

  constructor(readonly settings: Settings) {
    this.client = createMmClient({ baseUrl: settings.url, ...(settings.token ? { token: settings.token } : {}), headers: { 'user-agent': 'mm-cli' } });
  }

  /** The `data` of a successful answer; an error answer or no answer becomes a CliError with its exit code. */
  async call<D>(request: Promise<Answer<D>>): Promise<Payload<D>> {
    let answer: Answer<D>;
    try {
      answer = await request;
    } catch (err) {
      throw unreachable(this.settings.url, err);
    }
    if (answer.error !== undefined || !answer.response.ok) {
      const status = answer.response.status;
      throw new CliError(describeError(status, answer.error), exitCodeOfStatus(status));
    }
    return (answer.data as { data: Payload<D> }).data;
  }

  /** A raw request (downloads, SSE) with the same credential. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.settings.token) headers.set('authorization', `Bearer ${this.settings.token}`);
    headers.set('user-agent', 'mm-cli');
    let response: Response;
    try {
      response = await fetch(new URL(path, this.settings.url.replace(/\/*$/, '/')), { ...init, headers });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw unreachable(this.settings.url, err);
    }
    if (!response.ok) {
      const body: unknown = await response.json().catch(() => undefined);
      throw new CliError(describeError(response.status, body), exitCodeOfStatus(response.status));
    }
    return response;
  }
}
