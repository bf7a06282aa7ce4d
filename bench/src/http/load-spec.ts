/** What the load child is asked to do; requests are cycled per connection, so many ids spread the load. */
export interface LoadSpec {
  url: string;
  connections: number;
  seconds: number;
  headers: Record<string, string>;
  requests: { method: 'GET' | 'POST'; path: string; body?: string }[];
}

export interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  total: number;
  non2xx: number;
  errors: number;
  /** Status code -> count, to say what went wrong when non2xx > 0. */
  statusCodes: Record<string, number>;
}
