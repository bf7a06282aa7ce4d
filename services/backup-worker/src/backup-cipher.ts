import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/*
 * Encrypted backup file format, version 1 (`*.enc`). AES-256-GCM has one tag per message, so a
 * multi-gigabyte archive is sealed as a sequence of chunks (the STREAM construction, as in Tink's
 * streaming AEAD), which lets both directions run in constant memory:
 *
 *   header (33 bytes)
 *     0..3    magic "MMBK"
 *     4       version 0x01
 *     5..8    plaintext chunk size, uint32 big-endian (65536 when written by this worker)
 *     9..24   salt, 16 random bytes
 *     25..32  nonce prefix, 8 random bytes
 *   chunk* (each: ciphertext of up to `chunk size` plaintext bytes, then its 16-byte GCM tag)
 *
 *   file key  = HKDF-SHA256(BACKUP_ENCRYPTION_KEY, salt, "medicine-man backup v1", 32 bytes):
 *               a fresh key per file, so nonces never repeat across files under the master key.
 *   nonce_i   = nonce prefix || i as uint32 big-endian (i = 0, 1, ...): reordering or dropping a chunk fails its tag.
 *   aad_i     = the 33 header bytes || final flag (0x01 on the last chunk, 0x00 otherwise): truncation at a chunk
 *               boundary and header edits fail authentication.
 *
 * Every chunk but the last carries exactly `chunk size` plaintext bytes; the last carries 0..chunk size and is
 * always present (an empty archive is a header plus one empty final chunk).
 */

const MAGIC = Buffer.from('MMBK', 'ascii');
const VERSION = 1;
const SALT_BYTES = 16;
const NONCE_PREFIX_BYTES = 8;
export const HEADER_BYTES = MAGIC.length + 1 + 4 + SALT_BYTES + NONCE_PREFIX_BYTES;
const TAG_BYTES = 16;
const DEFAULT_CHUNK_BYTES = 64 * 1024;
// Bounds what a crafted header can make the decryptor buffer.
const MAX_CHUNK_BYTES = 16 * 1024 * 1024;
const MAX_CHUNKS = 2 ** 32;
const HKDF_INFO = Buffer.from('medicine-man backup v1', 'ascii');

/** A damaged, truncated or foreign file, or the wrong key: the message never echoes key or data. */
export class BackupDecryptionError extends Error {
  override name = 'BackupDecryptionError';
}

function masterKey(keyHex: string): Buffer {
  const key = Buffer.from(keyHex, 'hex');
  if (key.length !== 32) throw new Error('backup encryption key must be 32 bytes (64 hex characters)');
  return key;
}

function fileKey(master: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', master, salt, HKDF_INFO, 32));
}

function nonceFor(prefix: Buffer, index: number): Buffer {
  if (index >= MAX_CHUNKS) throw new Error('backup too large for the encrypted file format (2^32 chunks)');
  const nonce = Buffer.alloc(NONCE_PREFIX_BYTES + 4);
  prefix.copy(nonce, 0);
  nonce.writeUInt32BE(index, NONCE_PREFIX_BYTES);
  return nonce;
}

function aadFor(header: Buffer, final: boolean): Buffer {
  return Buffer.concat([header, Buffer.from([final ? 1 : 0])]);
}

/** Growable byte queue; avoids re-concatenating the whole backlog on every write. */
class ByteQueue {
  private parts: Buffer[] = [];
  length = 0;
  push(buf: Buffer): void {
    if (buf.length === 0) return;
    this.parts.push(buf);
    this.length += buf.length;
  }
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.parts[0] as Buffer;
      const used = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, used);
      filled += used;
      if (used === head.length) this.parts.shift();
      else this.parts[0] = head.subarray(used);
    }
    this.length -= n;
    return out;
  }
}

/** Streams plaintext in, the format above out. */
export function createBackupEncryptStream(keyHex: string, chunkBytes = DEFAULT_CHUNK_BYTES): Transform {
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_CHUNK_BYTES) throw new Error(`invalid chunk size ${chunkBytes}`);
  const salt = randomBytes(SALT_BYTES);
  const prefix = randomBytes(NONCE_PREFIX_BYTES);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt8(VERSION, 4);
  header.writeUInt32BE(chunkBytes, 5);
  salt.copy(header, 9);
  prefix.copy(header, 9 + SALT_BYTES);
  const key = fileKey(masterKey(keyHex), salt);
  const pending = new ByteQueue();
  let index = 0;

  const seal = (plain: Buffer, final: boolean): Buffer => {
    const cipher = createCipheriv('aes-256-gcm', key, nonceFor(prefix, index++));
    cipher.setAAD(aadFor(header, final));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([body, cipher.getAuthTag()]);
  };

  return new Transform({
    construct(callback) {
      this.push(header);
      callback();
    },
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        pending.push(chunk);
        // Strictly more than one chunk buffered: only then is the first one known not to be the last.
        while (pending.length > chunkBytes) this.push(seal(pending.take(chunkBytes), false));
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        this.push(seal(pending.take(pending.length), true));
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
}

/**
 * Streams the format above in, plaintext out. Each chunk is emitted only after its tag verified, but a
 * truncated file is only detected at the end: treat the output as untrusted until the stream finishes
 * without error (a restore writes to a temp location and keeps it only then).
 */
export function createBackupDecryptStream(keyHex: string): Transform {
  const master = masterKey(keyHex);
  const pending = new ByteQueue();
  let header: Buffer | undefined;
  let key: Buffer | undefined;
  let prefix: Buffer | undefined;
  let sealedBytes = 0;
  let index = 0;

  const readHeader = (): void => {
    const candidate = pending.take(HEADER_BYTES);
    if (!candidate.subarray(0, 4).equals(MAGIC)) throw new BackupDecryptionError('not an encrypted Medicine Man backup (bad magic)');
    const version = candidate.readUInt8(4);
    if (version !== VERSION) throw new BackupDecryptionError(`unsupported encrypted backup version ${version}`);
    const chunkBytes = candidate.readUInt32BE(5);
    if (chunkBytes < 1 || chunkBytes > MAX_CHUNK_BYTES) throw new BackupDecryptionError(`invalid chunk size ${chunkBytes} in backup header`);
    header = candidate;
    key = fileKey(master, candidate.subarray(9, 9 + SALT_BYTES));
    prefix = candidate.subarray(9 + SALT_BYTES, HEADER_BYTES);
    sealedBytes = chunkBytes + TAG_BYTES;
  };

  const open = (sealed: Buffer, final: boolean): Buffer => {
    if (!header || !key || !prefix) throw new BackupDecryptionError('encrypted backup has no header');
    const at = index;
    const decipher = createDecipheriv('aes-256-gcm', key, nonceFor(prefix, index++));
    decipher.setAAD(aadFor(header, final));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new BackupDecryptionError(
        `encrypted backup failed authentication at chunk ${at}${final ? ' (last)' : ''}: wrong BACKUP_ENCRYPTION_KEY, or the file is damaged or truncated`,
      );
    }
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        pending.push(chunk);
        if (!header && pending.length >= HEADER_BYTES) readHeader();
        while (header && pending.length > sealedBytes) this.push(open(pending.take(sealedBytes), false));
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        if (!header) throw new BackupDecryptionError('encrypted backup is shorter than its header');
        if (pending.length < TAG_BYTES) throw new BackupDecryptionError('encrypted backup is truncated (no final chunk)');
        this.push(open(pending.take(pending.length), true));
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
}
