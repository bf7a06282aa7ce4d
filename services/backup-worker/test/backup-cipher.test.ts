import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { BackupDecryptionError, HEADER_BYTES, createBackupDecryptStream, createBackupEncryptStream } from '../src/backup-cipher.js';

const KEY = randomBytes(32).toString('hex');
const OTHER_KEY = randomBytes(32).toString('hex');
const CHUNK = 1024;
const TAG = 16;

async function collect(source: Buffer[], transform: NodeJS.ReadWriteStream): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(source), transform, async (chunks: AsyncIterable<Buffer | string>) => {
    for await (const c of chunks) out.push(Buffer.from(c));
  });
  return Buffer.concat(out);
}

// Feeds the input in uneven slices so chunk boundaries never line up with writes.
function slices(buf: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let at = 0, n = 1; at < buf.length; at += n, n = (n * 7 + 3) % 1500 || 1) parts.push(buf.subarray(at, at + n));
  return parts;
}

const encrypt = (plain: Buffer, key = KEY) => collect(slices(plain), createBackupEncryptStream(key, CHUNK));
const decrypt = (sealed: Buffer, key = KEY) => collect(slices(sealed), createBackupDecryptStream(key));

describe('backup cipher', () => {
  it.each([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5 * CHUNK + 17])('round-trips %i bytes in the documented layout', async (size) => {
    const plain = randomBytes(size);
    const sealed = await encrypt(plain);
    const chunks = Math.max(1, Math.ceil(size / CHUNK));
    expect(sealed.length).toBe(HEADER_BYTES + size + chunks * TAG);
    expect(sealed.subarray(0, 5).equals(Buffer.from('MMBK\x01', 'latin1'))).toBe(true);
    expect(sealed.readUInt32BE(5)).toBe(CHUNK);
    expect((await decrypt(sealed)).equals(plain)).toBe(true);
  });

  it('uses a fresh salt and nonce prefix per file', async () => {
    const plain = randomBytes(100);
    const [a, b] = await Promise.all([encrypt(plain), encrypt(plain)]);
    expect(a.subarray(9, HEADER_BYTES).equals(b.subarray(9, HEADER_BYTES))).toBe(false);
    expect(a.subarray(HEADER_BYTES).equals(b.subarray(HEADER_BYTES))).toBe(false);
  });

  it('rejects the wrong key', async () => {
    const sealed = await encrypt(randomBytes(3000));
    await expect(decrypt(sealed, OTHER_KEY)).rejects.toThrow(/failed authentication at chunk 0/);
  });

  it('detects truncation at a chunk boundary (the final flag is authenticated)', async () => {
    const sealed = await encrypt(randomBytes(3 * CHUNK + 10));
    const cut = sealed.subarray(0, HEADER_BYTES + 2 * (CHUNK + TAG));
    await expect(decrypt(cut)).rejects.toThrow(BackupDecryptionError);
    await expect(decrypt(cut)).rejects.toThrow(/chunk 1 \(last\)/);
  });

  it('detects truncation inside a chunk, a missing final chunk and a header-only file', async () => {
    const sealed = await encrypt(randomBytes(2 * CHUNK + 10));
    await expect(decrypt(sealed.subarray(0, sealed.length - 5))).rejects.toThrow(BackupDecryptionError);
    await expect(decrypt(sealed.subarray(0, HEADER_BYTES + 5))).rejects.toThrow(/truncated/);
    await expect(decrypt(sealed.subarray(0, 10))).rejects.toThrow(/shorter than its header/);
  });

  it('detects a flipped bit, swapped chunks and an edited header', async () => {
    const sealed = await encrypt(randomBytes(3 * CHUNK));
    const flipped = Buffer.from(sealed);
    flipped[HEADER_BYTES + CHUNK + TAG + 3] = (flipped[HEADER_BYTES + CHUNK + TAG + 3] ?? 0) ^ 1;
    await expect(decrypt(flipped)).rejects.toThrow(/chunk 1/);

    const first = sealed.subarray(HEADER_BYTES, HEADER_BYTES + CHUNK + TAG);
    const second = sealed.subarray(HEADER_BYTES + CHUNK + TAG, HEADER_BYTES + 2 * (CHUNK + TAG));
    const swapped = Buffer.concat([sealed.subarray(0, HEADER_BYTES), second, first, sealed.subarray(HEADER_BYTES + 2 * (CHUNK + TAG))]);
    await expect(decrypt(swapped)).rejects.toThrow(/chunk 0/);

    const header = Buffer.from(sealed);
    header[20] = (header[20] ?? 0) ^ 1; // inside the salt: another file key
    await expect(decrypt(header)).rejects.toThrow(BackupDecryptionError);
    const magic = Buffer.from(sealed);
    magic[0] = 0x58;
    await expect(decrypt(magic)).rejects.toThrow(/bad magic/);
  });

  it('never puts the key in an error message', async () => {
    const sealed = await encrypt(randomBytes(50));
    const err = await decrypt(sealed, OTHER_KEY).catch((e: Error) => e);
    expect(err).toBeInstanceOf(BackupDecryptionError);
    expect(String((err as Error).message)).not.toContain(OTHER_KEY);
    expect(String((err as Error).message)).not.toContain(KEY);
  });
});
