import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TarListing, type TarEntry } from '../src/tar-listing.js';

const run = promisify(execFile);
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'mm-tar-listing-'));
  const long = 'd'.repeat(120);
  await mkdir(join(root, 'tree', long, 'sub'), { recursive: true });
  await writeFile(join(root, 'tree', 'small.txt'), 'hello\n');
  await writeFile(join(root, 'tree', long, 'sub', `${'f'.repeat(150)}.bin`), Buffer.alloc(70_000, 7));
  await writeFile(join(root, 'tree', 'ünï cödé.txt'), 'x'.repeat(513));
  await symlink('small.txt', join(root, 'tree', 'link'));
  await utimes(join(root, 'tree', 'small.txt'), 1_700_000_000, 1_700_000_000);
});
afterAll(() => rm(root, { recursive: true, force: true }));

async function listing(format: string, chunkSize: number): Promise<TarEntry[]> {
  const { stdout } = await run('tar', ['-C', root, `--format=${format}`, '-cf', '-', 'tree'], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  const entries: TarEntry[] = [];
  const parser = new TarListing((e) => entries.push(e));
  for (let i = 0; i < stdout.length; i += chunkSize) parser.push(stdout.subarray(i, i + chunkSize));
  return entries.sort((a, b) => a.path.localeCompare(b.path));
}

describe('TarListing', () => {
  // ustar cannot hold this tree's 150-character name: GNU (tar's default) and pax are the formats servers send.
  for (const format of ['gnu', 'pax']) {
    it(`lists what tar -tv lists (${format}, odd chunk sizes)`, async () => {
      for (const chunk of [1, 511, 4096, 1 << 20]) {
        const entries = await listing(format, chunk);
        const long = 'd'.repeat(120);
        expect(entries.map((e) => `${e.type} ${e.path} ${e.size}`)).toEqual([
          'dir tree 0',
          `dir tree/${long} 0`,
          `dir tree/${long}/sub 0`,
          `file tree/${long}/sub/${'f'.repeat(150)}.bin 70000`,
          'symlink tree/link 0',
          'file tree/small.txt 6',
          'file tree/ünï cödé.txt 513',
        ]);
        const small = entries.find((e) => e.path === 'tree/small.txt')!;
        expect(small).toMatchObject({ parent: 'tree', name: 'small.txt' });
        expect(small.mtime?.getTime()).toBe(1_700_000_000_000);
      }
    });
  }
});
