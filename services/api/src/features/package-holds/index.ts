import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { eq } from 'drizzle-orm';
import { servers } from '@mm/db';
import { PACKAGE_NAME_PATTERN } from '@mm/jobs';
import { notFound } from '../../shared/errors.js';
import { errors, ok, ServerIdParams } from '../../shared/schemas.js';

const Holds = Type.Object({ serverId: Type.String(), packages: Type.Array(Type.String()) });
const HoldsBody = Type.Object(
  {
    packages: Type.Array(Type.String({ pattern: PACKAGE_NAME_PATTERN, description: 'a package name as apt, dnf or apk spells it' }), {
      maxItems: 500,
      uniqueItems: true,
      description: 'the whole list (replaces the previous one; [] clears it)',
    }),
  },
  { additionalProperties: false },
);

/**
 * Package holds (issue #15): packages the update worker never upgrades on a server, whatever an update asks for; it
 * reports what it skipped (services/update-worker/src/package-holds.ts). Kept in PostgreSQL, not as apt-mark / versionlock
 * state on the server, so a hold is visible and audited here and the worker needs no extra root command to honour it.
 */
const packageHolds: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/servers/:serverId/package-holds',
    {
      config: { auth: 'viewer' },
      schema: { tags: ['updates'], summary: "A server's package holds", params: ServerIdParams, response: { 200: ok(Holds), ...errors(400, 401, 403, 404, 429, 503) } },
    },
    async (request) => {
      const { serverId } = request.params;
      const [row] = await app.db.select({ packages: servers.packageHolds }).from(servers).where(eq(servers.id, serverId));
      if (!row) throw notFound(`Server ${serverId}`);
      return { success: true as const, data: { serverId, packages: row.packages } };
    },
  );

  app.put(
    '/api/servers/:serverId/package-holds',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['updates'],
        summary: "Replace a server's package holds: packages no update upgrades on it (the update reports them as held)",
        params: ServerIdParams,
        body: HoldsBody,
        response: { 200: ok(Holds), ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const { serverId } = request.params;
      const packages = [...request.body.packages].sort();
      const [row] = await app.db.update(servers).set({ packageHolds: packages, updatedAt: new Date() }).where(eq(servers.id, serverId)).returning({ packages: servers.packageHolds });
      if (!row) throw notFound(`Server ${serverId}`);
      request.log.info({ serverId, holds: packages.length }, 'package holds replaced');
      return { success: true as const, data: { serverId, packages: row.packages } };
    },
  );
};

export default packageHolds;
