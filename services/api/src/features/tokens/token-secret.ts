import { createHash, randomBytes } from 'node:crypto';

export const TOKEN_PREFIX = 'mm_pat_';
const SECRET_BYTES = 32;
/** `mm_pat_` and 43 base64url characters (32 bytes); anything else is not one of ours. */
const TOKEN_SHAPE = /^mm_pat_[A-Za-z0-9_-]{43}$/;

/** A new secret: 256 random bits, so guessing one is hopeless and a fast hash is enough to store it. */
export function generateTokenSecret(): string {
  return TOKEN_PREFIX + randomBytes(SECRET_BYTES).toString('base64url');
}

/** What the database keeps instead of the secret. */
export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Whether a Bearer credential claims to be an API token (so it is not tried as a JWT). */
export const looksLikeApiToken = (credential: string): boolean => credential.startsWith(TOKEN_PREFIX);

export const isWellFormedToken = (credential: string): boolean => TOKEN_SHAPE.test(credential);
