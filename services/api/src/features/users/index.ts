import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { User } from '@mm/db';
import { conflict, notFound } from '../../shared/errors.js';
import { hashPassword } from '../../shared/passwords.js';
import { deleteUser, insertUser, listUsers } from './repository.js';
import { errors, IdParams, ok, okList, Pagination } from '../../shared/schemas.js';
import { Email, Role, UserDetail } from './schemas.js';

const view = (u: User) => ({ id: u.id, email: u.email, role: u.role, createdAt: u.createdAt.toISOString() });

const userFeature: FastifyPluginAsyncTypebox = async (app) => {
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
      const created = await insertUser(app.db, { email, passwordHash, role: request.body.role });
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
      const { rows, total } = await listUsers(app.db, limit, offset);
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
      const outcome = await deleteUser(app.db, id);
      if ('refused' in outcome) throw outcome.refused === 'not-found' ? notFound(`User ${id}`) : conflict('The last admin cannot be deleted.');
      const { deleted } = outcome;
      app.users.invalidate(id);
      // Their open event streams end now, not at token expiry (other API processes: within a heartbeat).
      app.closeUserStreams(id, 'The account behind this token no longer exists.');
      request.log.info({ userId: deleted.id }, 'user deleted');
      return { success: true as const, data: { id, deleted: true as const } };
    },
  );
};

export default userFeature;
