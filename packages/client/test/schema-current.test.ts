import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { generatedFiles, SCHEMA_FILE } from '../scripts/schema-files.js';

describe('generated client types', () => {
  // A route or schema change without `pnpm -C packages/client generate` fails here, before any user of the client sees it.
  it('src/schema.d.ts matches the API as it is built now', async () => {
    const [{ schema }, committed] = await Promise.all([generatedFiles(), readFile(SCHEMA_FILE, 'utf8')]);
    expect(committed.length).toBeGreaterThan(1_000);
    expect(schema === committed, 'src/schema.d.ts is stale: run `pnpm -C packages/client generate` and commit it').toBe(true);
  });

  it('knows the routes the CLI calls', async () => {
    const committed = await readFile(SCHEMA_FILE, 'utf8');
    for (const route of ['"/api/servers"', '"/api/jobs/{id}/events"', '"/api/auth/login"', '"/api/backups/{id}/download"']) expect(committed).toContain(route);
  });
});
