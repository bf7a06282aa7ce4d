export interface ApiResponse {
  status: number;
  body: unknown;
}

/** A small fetch client for the API child process; every request is bounded so a hung API fails the test instead of hanging it. */
export class ApiClient {
  token: string | undefined;

  constructor(readonly baseUrl: string) {}

  async request(method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<ApiResponse> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: kept as text so the assertion shows it.
    }
    return { status: res.status, body: parsed };
  }

  async login(email: string, password: string): Promise<void> {
    const res = await this.request('POST', '/api/auth/login', { email, password });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
    this.token = (res.body as { data: { token: string } }).data.token;
  }
}
