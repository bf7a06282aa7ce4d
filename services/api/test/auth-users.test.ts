import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { users } from '@mm/db';
import { createLogger } from '@mm/config';
import { seedAdmin } from '../src/features/users/seed-admin.js';
import { createTestApp, PASSWORD, type TestApp } from './helpers/test-app.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

const login = (email: string, password: string) => t.call(null, { method: 'POST', url: '/api/auth/login', payload: { email, password } });

describe('seeded admin', () => {
  it('was created from ADMIN_EMAIL / ADMIN_PASSWORD, lower-cased, with an argon2id hash', async () => {
    const [admin] = await t.database.db.select().from(users).where(eq(users.role, 'admin'));
    expect(admin?.email).toBe('admin@example.test');
    expect(admin?.passwordHash).toMatch(/^\$argon2id\$/);
    expect(admin?.passwordHash).not.toContain(PASSWORD);
  });

  it('is not created again when users exist', async () => {
    const log = createLogger({ name: 'test', level: 'silent', pretty: false });
    expect(await seedAdmin(t.database.db, { email: 'other@example.test', password: PASSWORD }, log)).toBe('exists');
    const admins = await t.database.db.select().from(users).where(eq(users.role, 'admin'));
    expect(admins.map((a) => a.email)).toEqual(['admin@example.test']);
  });
});

describe('POST /api/auth/login', () => {
  it('returns a token and the user, whatever the email case', async () => {
    const res = await login('OPERATOR@Example.TEST', PASSWORD);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.success).toBe(true);
    expect(body.data.user).toEqual({ id: t.userIds.operator, email: 'operator@example.test', role: 'operator' });
    const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${body.data.token}` } });
    expect(me.json().data.email).toBe('operator@example.test');
  });

  it('answers the same 401 for a wrong password and an unknown email', async () => {
    const wrongPassword = await login('operator@example.test', 'not-the-password');
    const unknownEmail = await login('nobody@example.test', PASSWORD);
    expect(wrongPassword.statusCode).toBe(401);
    expect(unknownEmail.statusCode).toBe(401);
    expect(wrongPassword.json()).toEqual(unknownEmail.json());
    expect(wrongPassword.json().error.code).toBe('INVALID_CREDENTIALS');
  });

  it('rejects a body with unknown fields or missing password', async () => {
    const extra = await t.call(null, { method: 'POST', url: '/api/auth/login', payload: { email: 'a@b.c', password: 'x', admin: true } });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error.code).toBe('VALIDATION_ERROR');
    const missing = await t.call(null, { method: 'POST', url: '/api/auth/login', payload: { email: 'a@b.c' } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.details[0].path).toBe('/password');
  });
});

describe('tokens', () => {
  it('401 without a token, with a tampered one, and with an expired one', async () => {
    const none = await t.call(null, { method: 'GET', url: '/api/auth/me' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('UNAUTHORIZED');

    const [head, payload, sig] = t.tokens.viewer.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload as string, 'base64url').toString()), role: 'admin' })).toString('base64url');
    const tampered = await t.app.inject({ method: 'GET', url: '/api/users', headers: { authorization: `Bearer ${head}.${forged}.${sig}` } });
    expect(tampered.statusCode).toBe(401);

    const hourAgo = Math.floor(Date.now() / 1000) - 7_200;
    const expiredToken = t.app.jwt.sign({ sub: t.userIds.viewer, role: 'viewer', iat: hourAgo });
    const expired = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${expiredToken}` } });
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error.message).toMatch(/expired/);
  });

  it('401 for a token signed with another secret', async () => {
    const other = await createTestApp({ JWT_SECRET: 'another-secret-that-is-at-least-32-characters' });
    try {
      const res = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${other.tokens.admin}` } });
      expect(res.statusCode).toBe(401);
    } finally {
      await other.close();
    }
  });
});

describe('users (admin)', () => {
  it('creates a user with a lower-cased email, lists it, and refuses a duplicate', async () => {
    const res = await t.call('admin', { method: 'POST', url: '/api/users', payload: { email: 'New.User@Example.test', password: 'a-long-enough-password', role: 'viewer' } });
    expect(res.statusCode).toBe(201);
    const created = res.json().data;
    expect(created).toMatchObject({ email: 'new.user@example.test', role: 'viewer' });
    expect(created).not.toHaveProperty('passwordHash');

    const dup = await t.call('admin', { method: 'POST', url: '/api/users', payload: { email: 'new.user@EXAMPLE.test', password: 'a-long-enough-password', role: 'admin' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('CONFLICT');

    const list = await t.call('admin', { method: 'GET', url: '/api/users?limit=2' });
    expect(list.statusCode).toBe(200);
    expect(list.json().meta).toEqual({ limit: 2, offset: 0, total: 4 });
    expect(list.json().data[0].email).toBe('new.user@example.test');
    expect(list.json().data[0]).not.toHaveProperty('passwordHash');

    const loginNew = await login('new.user@example.test', 'a-long-enough-password');
    expect(loginNew.statusCode).toBe(200);
  });

  it('rejects a short password, a bad role and a bad email', async () => {
    for (const payload of [
      { email: 'x@example.test', password: 'short', role: 'viewer' },
      { email: 'x@example.test', password: 'a-long-enough-password', role: 'root' },
      { email: 'not-an-email', password: 'a-long-enough-password', role: 'viewer' },
    ]) {
      const res = await t.call('admin', { method: 'POST', url: '/api/users', payload });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_ERROR');
    }
  });

  it('deletes a user, whose token then stops working; not yourself; 404 unknown; 400 bad id', async () => {
    const res = await t.call('admin', { method: 'POST', url: '/api/users', payload: { email: 'temp@example.test', password: 'a-long-enough-password', role: 'operator' } });
    const id = res.json().data.id as string;
    const token = (await login('temp@example.test', 'a-long-enough-password')).json().data.token as string;
    expect((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);

    const del = await t.call('admin', { method: 'DELETE', url: `/api/users/${id}` });
    expect(del.statusCode).toBe(200);
    expect(del.json().data).toEqual({ id, deleted: true });
    const after = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } });
    expect(after.statusCode).toBe(401);

    expect((await t.call('admin', { method: 'DELETE', url: `/api/users/${id}` })).statusCode).toBe(404);
    const self = await t.call('admin', { method: 'DELETE', url: `/api/users/${t.userIds.admin}` });
    expect(self.statusCode).toBe(409);
    expect((await t.call('admin', { method: 'DELETE', url: '/api/users/not-a-uuid' })).statusCode).toBe(400);
  });
});

describe('login rate limit', () => {
  it('answers 429 in the envelope after LOGIN_RATE_LIMIT_MAX attempts', async () => {
    const limited = await createTestApp({ LOGIN_RATE_LIMIT_MAX: '2' });
    try {
      await limited.call(null, { method: 'POST', url: '/api/auth/login', payload: { email: 'viewer@example.test', password: 'wrong-password' } });
      await limited.call(null, { method: 'POST', url: '/api/auth/login', payload: { email: 'viewer@example.test', password: 'wrong-password' } });
      // The right password, but after the limit: brute force cannot go on.
      const res = await limited.call(null, { method: 'POST', url: '/api/auth/login', payload: { email: 'viewer@example.test', password: PASSWORD } });
      expect(res.statusCode).toBe(429);
      expect(res.json()).toMatchObject({ success: false, error: { code: 'RATE_LIMITED' } });
    } finally {
      await limited.close();
    }
  });
});
