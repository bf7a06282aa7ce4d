import { eq } from 'drizzle-orm';
import { servers, type Db } from '@mm/db';

const TTL_MS = 5_000;

/**
 * Whether a server exists, cached for a few seconds: the trigger routes are the hot path and the
 * worker verifies the server again, so a just-deleted server costs at most one failed job.
 */
export class ServerLookup {
  private readonly known = new Map<string, number>();
  constructor(private readonly db: Db) {}

  /** Whether the server was seen within TTL_MS: the trigger routes skip `exists` and its promise then. */
  isKnown(id: string): boolean {
    const expires = this.known.get(id);
    return expires !== undefined && expires > Date.now();
  }

  async exists(id: string): Promise<boolean> {
    if (this.isKnown(id)) return true;
    const [row] = await this.db.select({ id: servers.id }).from(servers).where(eq(servers.id, id));
    if (!row) {
      this.known.delete(id);
      return false;
    }
    if (this.known.size > 10_000) this.known.clear();
    this.known.set(id, Date.now() + TTL_MS);
    return true;
  }

  forget(id: string): void {
    this.known.delete(id);
  }
}
