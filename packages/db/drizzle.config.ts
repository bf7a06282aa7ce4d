import { defineConfig } from 'drizzle-kit';

// Only `drizzle-kit generate` reads this; it needs no database connection.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/schema/*.ts',
  out: './migrations',
});
