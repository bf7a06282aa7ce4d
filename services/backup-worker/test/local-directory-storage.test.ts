import { createHash } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectoryStorage } from '../src/storage/local-directory-storage.js';
import { tempDir } from './backup-test-kit.js';

let dir: string;
let storage: LocalDirectoryStorage;
beforeAll(async () => {
  dir = await tempDir('mm-storage-');
  storage = new LocalDirectoryStorage(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function readAll(key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of storage.read(key)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe('LocalDirectoryStorage', () => {
  it('writes under a partial name until commit, then reads, stats, lists and deletes by key', async () => {
    const write = await storage.write('srv/one.tar');
    write.input.end(Buffer.from('hello archive'));
    const stored = await write.commit();
    expect(stored).toEqual({ location: join(dir, 'srv', 'one.tar'), sizeBytes: 13, sha256: createHash('sha256').update('hello archive').digest('hex') });
    expect((await stat(stored.location)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'srv'))).mode & 0o777).toBe(0o700);
    expect((await readAll('srv/one.tar')).toString()).toBe('hello archive');
    expect(await storage.stat('srv/one.tar')).toEqual({ sizeBytes: 13, isObject: true });
    expect(await storage.list('srv/')).toEqual(['srv/one.tar']);
    expect(storage.keyOf(stored.location)).toBe('srv/one.tar');
    await storage.delete('srv/one.tar');
    await storage.delete('srv/one.tar');
    expect(await storage.stat('srv/one.tar')).toBeUndefined();
  });

  it('a discarded write leaves nothing', async () => {
    const write = await storage.write('srv/two.tar');
    write.input.write(Buffer.alloc(1000));
    await write.discard();
    expect(await storage.list('srv/')).toEqual([]);
  });

  it('keys never leave the folder, and locations outside it have no key', async () => {
    await expect(storage.write('../escape.tar')).rejects.toThrow(/invalid storage key/);
    expect(() => storage.read('srv/../../etc/passwd')).toThrow(/invalid storage key/);
    await expect(storage.delete('/etc/passwd')).rejects.toThrow(/invalid storage key/);
    expect(storage.keyOf('/etc/passwd')).toBeUndefined();
    expect(storage.keyOf(join(dir, '..', 'x.tar'))).toBeUndefined();
  });
});
