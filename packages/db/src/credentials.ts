import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** What a server's `credentials` column holds once decrypted. Never logged, never in job data. */
export type ServerCredentials = { type: 'key'; privateKey: string; passphrase?: string } | { type: 'password'; password: string };

const VERSION = 'v1';

function keyFrom(hex: string): Buffer {
  const key = Buffer.from(hex, 'hex');
  if (key.length !== 32) throw new Error('credentials key must be 32 bytes (64 hex characters)');
  return key;
}

/** AES-256-GCM with a random 96-bit IV: `v1.<iv>.<tag>.<ciphertext>`, base64url parts. Any secret text (e.g. a webhook secret). */
export function encryptSecret(plain: string, keyHex: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFrom(keyHex), iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
}

/** `what` names the secret in the error message, which never echoes anything of the ciphertext or key. */
export function decryptSecret(stored: string, keyHex: string, what = 'stored secret'): string {
  const [version, iv, tag, body] = stored.split('.');
  if (version !== VERSION || !iv || !tag || !body) throw new Error(`unknown format of ${what}`);
  const key = keyFrom(keyHex);
  try {
    // Inside the try: a malformed IV or tag throws here too, and the message must stay ours.
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new Error(`${what} could not be decrypted (wrong CREDENTIALS_KEY or tampered data)`);
  }
}

export function encryptCredentials(credentials: ServerCredentials, keyHex: string): string {
  return encryptSecret(JSON.stringify(credentials), keyHex);
}

export function decryptCredentials(stored: string, keyHex: string): ServerCredentials {
  return JSON.parse(decryptSecret(stored, keyHex, 'stored credentials')) as ServerCredentials;
}
