import { and, eq, like } from 'drizzle-orm';
import type { Db } from './client.js';
import { decryptLegacySecret, encryptCredentials, encryptWebhookSecret, type ServerCredentials } from './credentials.js';
import { servers } from './schema/servers.js';
import { webhooks } from './schema/webhooks.js';

export interface SecretUpgrade {
  /** Rows re-encrypted as v2 by this call. */
  servers: number;
  webhooks: number;
  /** Ids of v1 rows that did not decrypt with this key (left as they are; their jobs fail naming the server). */
  undecryptable: string[];
}

/**
 * Re-encrypts v1 rows (raw CREDENTIALS_KEY, unbound) as v2: server credentials bound to the row's id, host, port and
 * username, webhook secrets under their own derived key. SQL cannot do this (it has no key), so every worker runs it at
 * start, after the migrations. Each row is replaced only if it still holds the ciphertext read (compare and set), so
 * processes starting together and concurrent PATCHes never lose a write; a second run finds nothing to do.
 */
export async function upgradeStoredSecrets(db: Db, keyHex: string): Promise<SecretUpgrade> {
  const result: SecretUpgrade = { servers: 0, webhooks: 0, undecryptable: [] };
  const legacyServers = await db
    .select({ id: servers.id, host: servers.host, port: servers.port, username: servers.username, credentials: servers.credentials })
    .from(servers)
    .where(like(servers.credentials, 'v1.%'));
  for (const row of legacyServers) {
    let plain: string;
    try {
      plain = decryptLegacySecret(row.credentials, keyHex, 'stored credentials');
    } catch {
      result.undecryptable.push(row.id);
      continue;
    }
    const sealed = encryptCredentials(JSON.parse(plain) as ServerCredentials, keyHex, { serverId: row.id, host: row.host, port: row.port, username: row.username });
    // The binding is the row as read: a concurrent move of host/port/username changes no credential it did not also write.
    const updated = await db
      .update(servers)
      .set({ credentials: sealed })
      .where(and(eq(servers.id, row.id), eq(servers.credentials, row.credentials), eq(servers.host, row.host), eq(servers.port, row.port), eq(servers.username, row.username)))
      .returning({ id: servers.id });
    result.servers += updated.length;
  }
  const legacyWebhooks = await db.select({ id: webhooks.id, secret: webhooks.secretEncrypted }).from(webhooks).where(like(webhooks.secretEncrypted, 'v1.%'));
  for (const row of legacyWebhooks) {
    let plain: string;
    try {
      plain = decryptLegacySecret(row.secret, keyHex, 'webhook secret');
    } catch {
      result.undecryptable.push(row.id);
      continue;
    }
    const updated = await db
      .update(webhooks)
      .set({ secretEncrypted: encryptWebhookSecret(plain, keyHex) })
      .where(and(eq(webhooks.id, row.id), eq(webhooks.secretEncrypted, row.secret)))
      .returning({ id: webhooks.id });
    result.webhooks += updated.length;
  }
  return result;
}
