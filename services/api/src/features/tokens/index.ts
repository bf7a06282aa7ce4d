import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FeatureOptions } from '../../shared/feature-options.js';
import { ApiError, notFound, unavailable } from '../../shared/errors.js';
import { hasRole } from '../../shared/roles.js';
import { errors, IdParams, ok, okList } from '../../shared/schemas.js';
import { findToken, insertToken, listTokens, revokeToken } from './repository.js';
import { CreatedToken, CreateTokenBody, ListTokensQuery, TokenView } from './schemas.js';
import { generateTokenSecret, hashTokenSecret } from './token-secret.js';

/** Personal API tokens: created by their owner (any role), listed and revoked by their owner or an admin. */
const tokens: FastifyPluginAsyncTypebox<FeatureOptions> = async (app) => {
  app.post(
    '/api/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: "Create an API token for yourself (role at most yours); the secret is in this answer only",
        body: CreateTokenBody,
        response: { 201: ok(CreatedToken), ...errors(400, 401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      const caller = request.user;
      const role = request.body.role ?? caller.role;
      if (!hasRole(caller.role, role)) throw new ApiError('FORBIDDEN', `A ${caller.role} cannot create a token with the ${role} role.`);
      const expiresAt = request.body.expiresAt === undefined ? null : new Date(request.body.expiresAt);
      if (expiresAt && expiresAt.getTime() <= Date.now()) {
        throw new ApiError('VALIDATION_ERROR', 'expiresAt must be in the future.', [{ path: '/expiresAt', message: 'must be in the future' }]);
      }
      const secret = generateTokenSecret();
      const created = await insertToken(app.db, { userId: caller.id, name: request.body.name, role, tokenHash: hashTokenSecret(secret), expiresAt });
      request.log.info({ tokenId: created.id, role }, 'api token created');
      return reply.code(201).send({ success: true as const, data: { ...created, token: secret } });
    },
  );

  app.get(
    '/api/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: "Your API tokens, newest first (admins: ?all=true for everyone's); never the secrets",
        querystring: ListTokensQuery,
        response: { 200: okList(TokenView), ...errors(400, 401, 403, 429, 503) },
      },
    },
    async (request) => {
      const { all, limit, offset } = request.query;
      if (all && !hasRole(request.user.role, 'admin')) throw new ApiError('FORBIDDEN', "Only admins may list every user's tokens.");
      const { rows, total } = await listTokens(app.db, all ? null : request.user.id, { limit, offset });
      return { success: true as const, data: rows, meta: { limit, offset, total } };
    },
  );

  app.delete(
    '/api/tokens/:id',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Revoke an API token (yours; admins: anyone\'s); every API process refuses it within a second. Repeating it is harmless',
        params: IdParams,
        response: { 200: ok(TokenView), ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const token = await findToken(app.db, id);
      // Someone else's token is "not found" to a non-admin: its existence is not theirs to learn.
      if (!token || (token.userId !== request.user.id && !hasRole(request.user.role, 'admin'))) throw notFound(`Token ${id}`);
      await revokeToken(app.db, id);
      try {
        await app.apiTokens.announceRevocation(id);
      } catch (err) {
        request.log.warn({ err, tokenId: id }, 'token revocation not announced');
        throw unavailable('The token is revoked, but not every API process could be told yet; repeat the request.');
      }
      request.log.info({ tokenId: id }, 'api token revoked');
      const revoked = await findToken(app.db, id);
      return { success: true as const, data: revoked ?? token };
    },
  );
};

export default tokens;
