import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createDatabase,
  decryptCredentials,
  decryptWebhookSecret,
  encryptCredentials,
  encryptWebhookSecret,
  migrateDatabase,
  servers,
  upgradeStoredSecrets,
  webhooks,
  type CredentialBinding,
  type ServerCredentials,
} from '../src/index.js';

const key = randomBytes(32).toString('hex');
const creds: ServerCredentials = { type: 'key', privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n', passphrase: 'pp' };
const binding: CredentialBinding = { serverId: randomUUID(), host: '10.0.0.5', port: 22, username: 'deploy' };

/** What the code before v2 stored: AES-256-GCM under the raw key, no additional data. */
function legacyV1(plain: string, keyHex: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(keyHex, 'hex'), iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
}

const withPart = (stored: string, index: number, part: string) => stored.split('.').map((p, i) => (i === index ? part : p)).join('.');

describe('server credentials at rest', () => {
  it('round-trips and never stores the plaintext', () => {
    const stored = encryptCredentials(creds, key, binding);
    expect(stored).toMatch(/^v2\./);
    expect(stored).not.toContain('OPENSSH');
    expect(stored).not.toContain('pp"');
    expect(decryptCredentials(stored, key, binding)).toEqual(creds);
  });

  it('uses a fresh IV each time', () => {
    expect(encryptCredentials(creds, key, binding)).not.toBe(encryptCredentials(creds, key, binding));
  });

  it.each([
    ['another host', { host: '10.0.0.6' }],
    ['another port', { port: 2222 }],
    ['another user', { username: 'root' }],
    ['another server id', { serverId: randomUUID() }],
    ['fields shifted across the border', { host: '10.0.0.5", 22', port: 22 }],
  ])('does not decrypt when moved to %s', (_what, moved) => {
    const stored = encryptCredentials({ type: 'password', password: 'hunter2' }, key, binding);
    expect(() => decryptCredentials(stored, key, { ...binding, ...moved })).toThrow(/could not be decrypted.*moved to another host, port, user or server/);
  });

  it('refuses a wrong key or a flipped byte, without echoing data', () => {
    const stored = encryptCredentials({ type: 'password', password: 'hunter2' }, key, binding);
    expect(() => decryptCredentials(stored, randomBytes(32).toString('hex'), binding)).toThrow(/could not be decrypted/);
    const body = Buffer.from(stored.split('.')[3]!, 'base64url');
    body[0] = body[0]! ^ 1;
    const tampered = withPart(stored, 3, body.toString('base64url'));
    const message = (() => {
      try {
        decryptCredentials(tampered, key, binding);
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(message).toMatch(/could not be decrypted/);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain(stored.split('.')[3]!);
  });

  it('enforces the full 16-byte tag: a truncated tag is refused', () => {
    const stored = encryptCredentials({ type: 'password', password: 'hunter2' }, key, binding);
    const tag = Buffer.from(stored.split('.')[2]!, 'base64url');
    expect(tag).toHaveLength(16);
    for (const length of [4, 8, 12, 15]) {
      expect(() => decryptCredentials(withPart(stored, 2, tag.subarray(0, length).toString('base64url')), key, binding)).toThrow(/malformed IV or tag/);
    }
  });

  it('does not read the unbound v1 format: rows are upgraded first', () => {
    expect(() => decryptCredentials(legacyV1(JSON.stringify(creds), key), key, binding)).toThrow(/unbound v1 format/);
  });

  it('refuses a key of the wrong length', () => {
    expect(() => encryptCredentials(creds, 'abcd', binding)).toThrow(/32 bytes/);
  });
});

describe('webhook secrets', () => {
  it('use their own derived key: neither kind of ciphertext decrypts as the other', () => {
    const secret = 'whsec-0123456789';
    const sealed = encryptWebhookSecret(secret, key);
    expect(decryptWebhookSecret(sealed, key)).toBe(secret);
    // A server credential ciphertext placed in a webhook row (or the reverse) fails, even with the right key.
    expect(() => decryptWebhookSecret(encryptCredentials(creds, key, binding), key)).toThrow(/could not be decrypted/);
    expect(() => decryptCredentials(sealed, key, binding)).toThrow(/could not be decrypted/);
  });

  it('still read a v1 row written before the upgrade', () => {
    expect(decryptWebhookSecret(legacyV1('old-secret', key), key)).toBe('old-secret');
  });
});

describe('upgradeStoredSecrets', () => {
  // @mm/testing sits above this package, so this file manages its own throwaway database.
  const adminUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `mm_test_creds_${randomBytes(5).toString('hex')}`;
  const url = adminUrl.replace(/\/postgres$/, `/${name}`);

  afterAll(async () => {
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  });

  it('re-encrypts v1 rows bound to their own fields, once, even when processes race, and skips rows of another key', async () => {
    await migrateDatabase(url);
    const database = createDatabase(url, { max: 4 });
    try {
      const { db } = database;
      const password: ServerCredentials = { type: 'password', password: 'legacy-pass' };
      const [a, b, foreign] = await db
        .insert(servers)
        .values([
          { name: 'a', host: '10.1.0.1', port: 22, username: 'ops', authType: 'password', credentials: legacyV1(JSON.stringify(password), key) },
          { name: 'b', host: '10.1.0.2', port: 2200, username: 'root', authType: 'key', credentials: legacyV1(JSON.stringify(creds), key) },
          { name: 'c', host: '10.1.0.3', port: 22, username: 'ops', authType: 'password', credentials: legacyV1('{}', randomBytes(32).toString('hex')) },
        ])
        .returning();
      const [hook] = await db.insert(webhooks).values({ url: 'https://hooks.example/x', events: ['job.failed'], secretEncrypted: legacyV1('hook-secret', key) }).returning();

      const runs = await Promise.all([upgradeStoredSecrets(db, key), upgradeStoredSecrets(db, key), upgradeStoredSecrets(db, key)]);
      expect(runs.reduce((n, r) => n + r.servers, 0)).toBe(2);
      expect(runs.reduce((n, r) => n + r.webhooks, 0)).toBe(1);
      expect(runs[0]!.undecryptable).toEqual([foreign!.id]);

      const rows = new Map((await db.select().from(servers)).map((r) => [r.id, r]));
      const rowA = rows.get(a!.id)!;
      const rowB = rows.get(b!.id)!;
      expect(rowA.credentials).toMatch(/^v2\./);
      expect(decryptCredentials(rowA.credentials, key, { serverId: a!.id, host: '10.1.0.1', port: 22, username: 'ops' })).toEqual(password);
      expect(decryptCredentials(rowB.credentials, key, { serverId: b!.id, host: '10.1.0.2', port: 2200, username: 'root' })).toEqual(creds);
      // Bound: a's upgraded ciphertext does not open as b's.
      expect(() => decryptCredentials(rowA.credentials, key, { serverId: b!.id, host: '10.1.0.2', port: 2200, username: 'root' })).toThrow(/could not be decrypted/);
      expect(rows.get(foreign!.id)!.credentials).toMatch(/^v1\./);
      const [hookRow] = await db.select().from(webhooks);
      expect(hookRow!.id).toBe(hook!.id);
      expect(hookRow!.secretEncrypted).toMatch(/^v2\./);
      expect(decryptWebhookSecret(hookRow!.secretEncrypted, key)).toBe('hook-secret');

      expect(await upgradeStoredSecrets(db, key)).toEqual({ servers: 0, webhooks: 0, undecryptable: [foreign!.id] });
    } finally {
      await database.close();
    }
  });
});
