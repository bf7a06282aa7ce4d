import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** What a server's `credentials` column holds once decrypted. Never logged, never in job data. */
export type ServerCredentials = { type: 'key'; privateKey: string; passphrase?: string } | { type: 'password'; password: string };

/**
 * The server fields a credentials ciphertext is bound to (AES-GCM additional authenticated data): moving the row's
 * host, port or username, or copying the ciphertext to another server, makes it fail to decrypt.
 */
export interface CredentialBinding {
  serverId: string;
  host: string;
  port: number;
  username: string;
}

/**
 * Stored format `v2.<iv>.<tag>.<ciphertext>` (base64url parts): AES-256-GCM, 96-bit random IV, 128-bit tag, under a
 * key derived per purpose from CREDENTIALS_KEY (HKDF-SHA256, distinct `info`), so a server credential and a webhook
 * secret never share a key. `v1` (the raw CREDENTIALS_KEY, no binding) is only read by the upgrade below.
 */
const V2 = 'v2';
const V1 = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export type SecretPurpose = 'server-credentials' | 'webhook-secret';
const HKDF_INFO: Record<SecretPurpose, string> = {
  'server-credentials': 'medicine-man/server-credentials/v2',
  'webhook-secret': 'medicine-man/webhook-secret/v2',
};

/** Thrown for a stored secret that does not decrypt: wrong key, tampered ciphertext, or fields moved under it. */
export class SecretDecryptError extends Error {
  override name = 'SecretDecryptError';
}

function rawKey(hex: string): Buffer {
  const key = Buffer.from(hex, 'hex');
  if (key.length !== 32 || hex.length !== 64) throw new Error('credentials key must be 32 bytes (64 hex characters)');
  return key;
}

function purposeKey(hex: string, purpose: SecretPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', rawKey(hex), Buffer.alloc(0), HKDF_INFO[purpose], 32));
}

/** Canonical AAD: a JSON array, so no field can bleed into the next ('a:1' + 'b' vs 'a' + '1:b'). */
function aadOf(binding: CredentialBinding): Buffer {
  return Buffer.from(JSON.stringify(['server-credentials', binding.serverId, binding.host, binding.port, binding.username]), 'utf8');
}

function seal(version: string, plain: string, key: Buffer, aad: Buffer | undefined): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  if (aad) cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return [version, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
}

/** `what` names the secret in the error message, which never echoes anything of the ciphertext or key. */
function open(stored: string, version: string, key: Buffer, aad: Buffer | undefined, what: string): string {
  const parts = stored.split('.');
  const [prefix, ivText, tagText, bodyText] = parts;
  if (parts.length !== 4 || prefix !== version || !ivText || !tagText || bodyText === undefined) throw new SecretDecryptError(`unknown format of ${what}`);
  const iv = Buffer.from(ivText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  // GCM accepts tags down to 4 bytes unless told otherwise: a truncated tag would make forgeries cheap.
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new SecretDecryptError(`${what} could not be decrypted (malformed IV or tag)`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    if (aad) decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(bodyText, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretDecryptError(`${what} could not be decrypted (wrong CREDENTIALS_KEY, tampered data, or moved to another host, port, user or server)`);
  }
}

/** The format version of a stored secret ('v1' needs the upgrade). */
export function storedSecretVersion(stored: string): string {
  return stored.slice(0, stored.indexOf('.'));
}

export function encryptCredentials(credentials: ServerCredentials, keyHex: string, binding: CredentialBinding): string {
  return seal(V2, JSON.stringify(credentials), purposeKey(keyHex, 'server-credentials'), aadOf(binding));
}

/** Only a v2 ciphertext bound to exactly these fields decrypts; anything else is SecretDecryptError. */
export function decryptCredentials(stored: string, keyHex: string, binding: CredentialBinding): ServerCredentials {
  if (storedSecretVersion(stored) === V1) {
    throw new SecretDecryptError('stored credentials are in the unbound v1 format (a worker re-encrypts them at start: upgradeStoredSecrets)');
  }
  return JSON.parse(open(stored, V2, purposeKey(keyHex, 'server-credentials'), aadOf(binding), 'stored credentials')) as ServerCredentials;
}

export function encryptWebhookSecret(plain: string, keyHex: string): string {
  return seal(V2, plain, purposeKey(keyHex, 'webhook-secret'), undefined);
}

/** v2 under the webhook key; a v1 row (written before the upgrade ran) is still read with the raw key. */
export function decryptWebhookSecret(stored: string, keyHex: string): string {
  if (storedSecretVersion(stored) === V1) return open(stored, V1, rawKey(keyHex), undefined, 'webhook secret');
  return open(stored, V2, purposeKey(keyHex, 'webhook-secret'), undefined, 'webhook secret');
}

/** Reads a v1 secret (raw CREDENTIALS_KEY, no binding): used only to re-encrypt old rows as v2. */
export function decryptLegacySecret(stored: string, keyHex: string, what: string): string {
  return open(stored, V1, rawKey(keyHex), undefined, what);
}
