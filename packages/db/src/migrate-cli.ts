import { readMigrateEnv } from './env.js';
import { migrateDatabase } from './migrate.js';

const env = readMigrateEnv();
try {
  await migrateDatabase(env.DATABASE_URL);
  process.stdout.write('migrations applied\n');
} catch (err) {
  process.stderr.write(`migration failed: ${(err as Error).message}\n`);
  process.exit(1);
}
