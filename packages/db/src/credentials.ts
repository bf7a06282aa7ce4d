import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** What a server's `credentials` column holds once decrypted. Never logged, never in job data. */
export type ServerCredentials = { type: 'key'; privateKey: string; passphrase?: string } | { type: 'password'; password: string };

const VERSION = 'v1';

function keyFrom(hex: string): Buffer {
  const key = Buffer.from(hex, 'hex');
  if (key.length !== 32) throw new Error('credentials key must be 32 bytes (64 hex characters)');
  return key;
}

/** AES-256-GCM with a random 96-bit IV: `v1.<iv>.<tag>.<ciphertext>`, base64url parts. */
export function encryptCredentials(credentials: ServerCredentials, keyHex: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFrom(keyHex), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(credentials), 'utf8'), cipher.final()]);
  return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
}

export function decryptCredentials(stored: string, keyHex: string): ServerCredentials {
  const [version, iv, tag, body] = stored.split('.');
  if (version !== VERSION || !iv || !tag || !body) throw new Error('stored credentials are not in a known format');
  const decipher = createDecipheriv('aes-256-gcm', keyFrom(keyHex), Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  try {
    const plain = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]);
    return JSON.parse(plain.toString('utf8')) as ServerCredentials;
  } catch {
    // The message must not echo anything of the ciphertext or key.
    throw new Error('stored credentials could not be decrypted (wrong CREDENTIALS_KEY or tampered data)');
  }
}
