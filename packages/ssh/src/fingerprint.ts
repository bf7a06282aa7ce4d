import { createHash } from 'node:crypto';

/** `SHA256:` + unpadded base64 of the raw host key blob: exactly what `ssh-keygen -lf` prints. */
export function hostKeyFingerprint(rawKey: Buffer): string {
  return `SHA256:${createHash('sha256').update(rawKey).digest('base64').replace(/=+$/, '')}`;
}
