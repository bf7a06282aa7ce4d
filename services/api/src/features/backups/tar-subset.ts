import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, pack, type ExtractEvents, type Header } from 'tar-stream';

type Source = ExtractEvents['entry'][1];

/** A tar member's path as backup_files keeps it: no leading '/' or './', no trailing '/'. */
export function normalizeTarPath(name: string): string {
  return name.replace(/^(\.?\/)+/, '').replace(/\/+$/, '');
}

/** Whether `path` is `root` itself or inside it ('' is the whole archive). */
export function isUnder(path: string, root: string): boolean {
  return root === '' || path === root || path.startsWith(`${root}/`);
}

export class TarMemberNotFound extends Error {
  override name = 'TarMemberNotFound';
}

/**
 * The bytes of one regular file of a tar stream. Reading stops as soon as the file has been sent (`onDone` lets
 * the caller stop the producer, e.g. `restic dump`); a stream without that member fails with TarMemberNotFound.
 */
export function tarMemberContent(source: Readable, path: string, onDone: () => void): Readable {
  const out = new PassThrough();
  const parser = extract();
  let found = false;
  parser.on('entry', (header: Header, entry: Source, next: (err?: Error | null) => void) => {
    if (found || normalizeTarPath(header.name) !== path || (header.type !== 'file' && header.type !== 'contiguous-file')) {
      entry.resume();
      entry.once('end', () => next());
      return;
    }
    found = true;
    entry.pipe(out);
    // `next` is never called: the producer is stopped instead, and the truncated rest is not read.
    entry.once('end', onDone);
    entry.once('error', (err: Error) => out.destroy(err));
  });
  pipeline(source, parser).then(
    () => {
      if (!found) out.destroy(new TarMemberNotFound(`${path} is not a file in this backup`));
    },
    (err: unknown) => {
      // Once the file has been sent, the rest of the archive is of no interest (and its producer was stopped).
      if (!found || !out.writableEnded) out.destroy(err instanceof Error ? err : new Error(String(err)));
    },
  );
  return out;
}

/** A tar stream of the members of `source` at or under `root`, headers (times, modes, owners, links) kept as they were. */
export function tarSubtree(source: Readable, root: string): Readable {
  const packer = pack();
  const parser = extract();
  let matched = 0;
  parser.on('entry', (header: Header, entry: Source, next: (err?: Error | null) => void) => {
    if (!isUnder(normalizeTarPath(header.name), root)) {
      entry.resume();
      entry.once('end', () => next());
      return;
    }
    matched++;
    const sink = packer.entry(header, (err) => next(err ?? undefined));
    entry.pipe(sink);
  });
  pipeline(source, parser).then(
    () => {
      if (matched === 0) packer.destroy(new TarMemberNotFound(`${root} is not in this backup`));
      else packer.finalize();
    },
    (err: unknown) => packer.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  // tar-stream's streams are streamx streams: hand Node a Node stream (destroying it destroys the packer).
  return Readable.from(packer);
}
