import fp from 'fastify-plugin';
import { createDatabase, type Database, type Db } from '@mm/db';

declare module 'fastify' {
  interface FastifyInstance {
    db: Db;
    sql: Database['sql'];
  }
}

export interface DatabasePluginOptions {
  url: string;
}

export default fp<DatabasePluginOptions>(
  async (app, { url }) => {
    // A short connect timeout so a request answers 503 instead of hanging while PostgreSQL is down.
    const database = createDatabase(url, { max: 10, connectTimeout: 3 });
    app.decorate('db', database.db);
    app.decorate('sql', database.sql);
    app.addHook('onClose', async () => {
      await database.close();
    });
  },
  { name: 'database' },
);
