import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decryptStorageTargetSecrets, encryptStorageTargetSecrets, type StorageTargetSecrets } from '../src/index.js';

const key = randomBytes(32).toString('hex');
const secrets: StorageTargetSecrets = { repositoryPassword: 'repo-pass-123', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 's3-secret-xyz' };

describe('storage target secrets at rest', () => {
  it('round-trips for the same target and never stores the plaintext', () => {
    const id = randomUUID();
    const stored = encryptStorageTargetSecrets(secrets, key, id);
    expect(stored).toMatch(/^st1\./);
    for (const plain of ['repo-pass-123', 'AKIAEXAMPLE', 's3-secret-xyz']) expect(stored).not.toContain(plain);
    expect(decryptStorageTargetSecrets(stored, key, id)).toEqual(secrets);
    expect(encryptStorageTargetSecrets(secrets, key, id)).not.toBe(stored);
  });

  it('refuses another target id, a wrong key, a flipped byte and a short tag, naming only the target', () => {
    const id = randomUUID();
    const stored = encryptStorageTargetSecrets(secrets, key, id);
    const other = randomUUID();
    expect(() => decryptStorageTargetSecrets(stored, key, other)).toThrow(`storage target ${other} could not be decrypted`);
    expect(() => decryptStorageTargetSecrets(stored, randomBytes(32).toString('hex'), id)).toThrow(/could not be decrypted/);
    const [v, iv, tag, body] = stored.split('.') as [string, string, string, string];
    const flipped = Buffer.from(body, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => decryptStorageTargetSecrets([v, iv, tag, flipped.toString('base64url')].join('.'), key, id)).toThrow(/could not be decrypted/);
    const shortTag = Buffer.from(tag, 'base64url').subarray(0, 4).toString('base64url');
    expect(() => decryptStorageTargetSecrets([v, iv, shortTag, body].join('.'), key, id)).toThrow(/could not be decrypted/);
    try {
      decryptStorageTargetSecrets(stored, key, other);
    } catch (err) {
      expect((err as Error).message).not.toContain(body.slice(0, 12));
    }
  });

  it('uses its own derived key: the raw CREDENTIALS_KEY does not open it, nor does it open a raw-key ciphertext', () => {
    const id = randomUUID();
    // The same plaintext sealed under the raw key with the same AAD, as a scheme without derivation would store it.
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(key, 'hex'), iv);
    cipher.setAAD(Buffer.from(JSON.stringify(['storage-target-secrets', id])));
    const body = Buffer.concat([cipher.update(JSON.stringify(secrets)), cipher.final()]);
    const rawSealed = ['st1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
    expect(() => decryptStorageTargetSecrets(rawSealed, key, id)).toThrow(/could not be decrypted/);
  });
});
