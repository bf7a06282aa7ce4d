import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decryptCredentials, encryptCredentials, type ServerCredentials } from '../src/index.js';

const key = randomBytes(32).toString('hex');
const creds: ServerCredentials = { type: 'key', privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n', passphrase: 'pp' };

describe('credentials at rest', () => {
  it('round-trips and never stores the plaintext', () => {
    const stored = encryptCredentials(creds, key);
    expect(stored).toMatch(/^v1\./);
    expect(stored).not.toContain('OPENSSH');
    expect(stored).not.toContain('pp"');
    expect(decryptCredentials(stored, key)).toEqual(creds);
  });

  it('uses a fresh IV each time', () => {
    expect(encryptCredentials(creds, key)).not.toBe(encryptCredentials(creds, key));
  });

  it('refuses a wrong key or a flipped byte, without echoing data', () => {
    const stored = encryptCredentials({ type: 'password', password: 'hunter2' }, key);
    expect(() => decryptCredentials(stored, randomBytes(32).toString('hex'))).toThrow(/could not be decrypted/);
    const parts = stored.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] = body[0]! ^ 1;
    const tampered = [parts[0], parts[1], parts[2], body.toString('base64url')].join('.');
    expect(() => decryptCredentials(tampered, key)).toThrow(/could not be decrypted/);
  });

  it('refuses a key of the wrong length', () => {
    expect(() => encryptCredentials(creds, 'abcd')).toThrow(/32 bytes/);
  });
});
