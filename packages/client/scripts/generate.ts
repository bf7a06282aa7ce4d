import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { generatedFiles, OPENAPI_FILE, SCHEMA_FILE } from './schema-files.js';

const { openapi, schema } = await generatedFiles();
await mkdir(new URL('.', OPENAPI_FILE), { recursive: true });
await writeFile(OPENAPI_FILE, openapi);
await writeFile(SCHEMA_FILE, schema);
process.stdout.write(`wrote ${fileURLToPath(OPENAPI_FILE)} and ${fileURLToPath(SCHEMA_FILE)}\n`);
