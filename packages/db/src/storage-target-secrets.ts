import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { StorageTargetSecrets } from './schema/storage-targets.js';

/**
 * A storage target's secrets (repository password, S3 keys, REST password, SFTP key) as stored in
 * `storage_targets.secrets`: `st1.<iv>.<tag>.<ciphertext>` (base64url), AES-256-GCM under a key derived from
 * CREDENTIALS_KEY for this purpose only (HKDF-SHA256, its own `info`), with the row id as additional authenticated
 * data: a ciphertext copied onto another target's row does not decrypt. Server credentials and webhook secrets use
 * other derivations (credentials.ts), so no two kinds of secret share a key.
 */
const VERSION = 'st1';
const HKDF_INFO = 'medicine-man/storage-target-secrets/v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

function targetKey(keyHex: string): Buffer {
  const raw = Buffer.from(keyHex, 'hex');
  if (raw.length !== 32 || keyHex.length !== 64) throw new Error('credentials key must be 32 bytes (64 hex characters)');
  return Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), HKDF_INFO, 32));
}

const aadOf = (targetId: string): Buffer => Buffer.from(JSON.stringify(['storage-target-secrets', targetId]), 'utf8');

export function encryptStorageTargetSecrets(secrets: StorageTargetSecrets, keyHex: string, targetId: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', targetKey(keyHex), iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aadOf(targetId));
  const body = Buffer.concat([cipher.update(JSON.stringify(secrets), 'utf8'), cipher.final()]);
  return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
}

/** Throws a message that names the target only (never any of the ciphertext or key) when it does not decrypt. */
export function decryptStorageTargetSecrets(stored: string, keyHex: string, targetId: string): StorageTargetSecrets {
  const parts = stored.split('.');
  const [version, ivText, tagText, bodyText] = parts;
  const failure = new Error(`the secrets of storage target ${targetId} could not be decrypted (wrong CREDENTIALS_KEY, tampered data, or copied from another target)`);
  if (parts.length !== 4 || version !== VERSION || !ivText || !tagText || bodyText === undefined) throw failure;
  const iv = Buffer.from(ivText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  // GCM accepts tags down to 4 bytes unless told otherwise: a truncated tag would make forgeries cheap.
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw failure;
  const key = targetKey(keyHex);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aadOf(targetId));
    decipher.setAuthTag(tag);
    const plain = Buffer.concat([decipher.update(Buffer.from(bodyText, 'base64url')), decipher.final()]).toString('utf8');
    return JSON.parse(plain) as StorageTargetSecrets;
  } catch {
    throw failure;
  }
}
