import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './schema.js';

export type { components, paths };

/** The typed client: every path, parameter, body and response of the API, checked by the compiler. */
export type MmClient = Client<paths>;

export interface MmClientOptions {
  /** The API's origin, e.g. `http://127.0.0.1:3000` (a trailing slash is dropped). */
  baseUrl: string;
  /** A JWT or an `mm_pat_…` API token, sent as `Authorization: Bearer`. */
  token?: string;
  /** For tests and proxies; the global fetch otherwise. */
  fetch?: typeof globalThis.fetch;
  headers?: Record<string, string>;
}

/** A client for one API origin and credential, generated from the OpenAPI document (src/schema.d.ts). */
export function createMmClient({ baseUrl, token, fetch, headers }: MmClientOptions): MmClient {
  return createClient<paths>({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(fetch ? { fetch } : {}),
  });
}

/** The `data` of a successful answer of a route, e.g. `ApiData<'/api/servers/{id}', 'get'>`. */
export type ApiData<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  responses: infer R;
}
  ? {
      [S in keyof R]: S extends 200 | 201 | 202 ? (R[S] extends { content: { 'application/json': { data: infer D } } } ? D : never) : never;
    }[keyof R]
  : never;
