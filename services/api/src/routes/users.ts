import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { and, desc, eq, ne, sql } from 'drizzle-orm';
import { users } from '@mm/db';
import { conflict, notFound } from '../errors.js';
import { hashPassword } from '../domain/passwords.js';
import { errors, IdParams, ok, okList, Pagination } from '../schemas/common.js';
import { Email, Role, UserDetail } from '../schemas/users.js';

const view = (u: typeof users.$inferSelect) => ({ id: u.id, email: u.email, role: u.role, createdAt: u.createdAt.toISOString() });

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/api/users',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Create a user (admin)',
        body: Type.Object(
          { email: Email, password: Type.String({ minLength: 12, maxLength: 1_024 }), role: Role },
          { additionalProperties: false },
        ),
        response: { 201: ok(UserDetail), ...errors(400, 401, 403, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const email = request.body.email.toLowerCase();
      const passwordHash = await hashPassword(request.body.password);
      const [created] = await app.db
        .insert(users)
        .values({ email, passwordHash, role: request.body.role })
        .onConflictDoNothing({ target: users.email })
        .returning();
      if (!created) throw conflict(`A user with email ${email} already exists.`);
      request.log.info({ userId: created.id, role: created.role }, 'user created');
      return reply.code(201).send({ success: true as const, data: view(created) });
    },
  );

  app.get(
    '/api/users',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'List users (admin)',
        querystring: Type.Object(Pagination, { additionalProperties: false }),
        response: { 200: okList(UserDetail), ...errors(400, 401, 403, 429, 503) },
      },
    },
    async (request) => {
      const { limit, offset } = request.query;
      const [rows, [{ total } = { total: 0 }]] = await Promise.all([
        app.db.select().from(users).orderBy(desc(users.createdAt), desc(users.id)).limit(limit).offset(offset),
        app.db.select({ total: sql<number>`count(*)::int` }).from(users),
      ]);
      return { success: true as const, data: rows.map(view), meta: { limit, offset, total } };
    },
  );

  app.delete(
    '/api/users/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Delete a user (admin); not yourself, not the last admin',
        params: IdParams,
        response: { 200: ok(Type.Object({ id: Type.String(), deleted: Type.Literal(true) })), ...errors(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      if (id === request.user.id) throw conflict('You cannot delete your own account.');
      const deleted = await app.db.transaction(async (tx) => {
        const [target] = await tx.select().from(users).where(eq(users.id, id)).for('update');
        if (!target) throw notFound(`User ${id}`);
        if (target.role === 'admin') {
          // Row locks on the other admins keep two concurrent deletes from removing the last two admins.
          const others = await tx.select({ id: users.id }).from(users).where(and(eq(users.role, 'admin'), ne(users.id, id))).for('update');
          if (others.length === 0) throw conflict('The last admin cannot be deleted.');
        }
        await tx.delete(users).where(eq(users.id, id));
        return target;
      });
      app.users.invalidate(id);
      request.log.info({ userId: deleted.id }, 'user deleted');
      return { success: true as const, data: { id, deleted: true as const } };
    },
  );
};

export default routes;
