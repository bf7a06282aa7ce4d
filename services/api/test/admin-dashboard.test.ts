import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ensureDebianPackage } from '@mm/testing';
import { createTestApp, PASSWORD, type TestApp } from './helpers/test-app.js';

let t: TestApp;
let base: string;
let browser: Browser;

// Debian's chromium (apt-get install chromium), never a downloaded one.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

beforeAll(async () => {
  t = await createTestApp();
  base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  await ensureDebianPackage('/usr/bin/chromium', 'chromium');
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

async function logIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.goto(`${base}/admin/queues`);
  expect(new URL(page.url()).pathname).toBe('/admin/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

describe('bull-board at /admin/queues in headless Chromium', () => {
  it('shows the three queues to an admin after logging in', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await logIn(page, 'admin@example.test');
    await page.waitForURL(`${base}/admin/queues`);
    for (const name of ['backup-queue', 'scan-queue', 'update-queue']) {
      await expect.poll(() => page.getByText(name, { exact: true }).count(), { timeout: 20_000 }).toBeGreaterThan(0);
    }
    const [session] = await context.cookies();
    expect(session).toMatchObject({ name: 'mm_admin_session', httpOnly: true, sameSite: 'Strict', path: '/admin' });
    // bull-board's own API answers the page's fetches with the cookie.
    const api = await page.request.get(`${base}/admin/queues/api/queues`);
    expect(api.status()).toBe(200);
    expect(((await api.json()) as { queues: { name: string }[] }).queues.map((q) => q.name).sort()).toEqual(['backup-queue', 'scan-queue', 'update-queue']);
    await context.close();
  });

  it('refuses an operator, and a visitor who has not logged in', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await logIn(page, 'operator@example.test');
    await page.waitForURL(`${base}/admin/queues`);
    await expect.poll(() => page.getByRole('heading', { name: 'Refused' }).count()).toBe(1);
    expect(await page.getByText('backup-queue').count()).toBe(0);
    const reload = await page.goto(`${base}/admin/queues`);
    expect(reload?.status()).toBe(403);
    expect((await page.request.get(`${base}/admin/queues/api/queues`)).status()).toBe(403);
    await context.close();

    const anonymous = await browser.newContext();
    const visitor = await anonymous.newPage();
    await visitor.goto(`${base}/admin/queues`);
    expect(new URL(visitor.url()).pathname).toBe('/admin/login');
    expect(await visitor.getByText('backup-queue').count()).toBe(0);
    expect((await visitor.request.get(`${base}/admin/queues/api/queues`)).status()).toBe(401);
    await anonymous.close();
  });

  it('shows the error of a wrong password and sets no cookie', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await logIn(page, 'admin@example.test', 'not-the-password');
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Email or password is incorrect.');
    expect(await context.cookies()).toEqual([]);
    await context.close();
  });
});

describe('the session cookie', () => {
  it('is the only credential /admin accepts, and logging out clears it', async () => {
    const bearer = await fetch(`${base}/admin/queues/api/queues`, { headers: { authorization: `Bearer ${t.tokens.admin}` } });
    expect(bearer.status).toBe(401);
    const login = await fetch(`${base}/api/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@example.test', password: PASSWORD }) });
    expect(login.status).toBe(200);
    const setCookie = login.headers.getSetCookie()[0] ?? '';
    expect(setCookie).toMatch(/^mm_admin_session=[^;]+; Max-Age=\d+; Path=\/admin; HttpOnly; SameSite=Strict$/);
    const cookie = setCookie.split(';')[0] as string;
    expect((await fetch(`${base}/admin/queues/api/queues`, { headers: { cookie } })).status).toBe(200);
    // The cookie is no Bearer token for /api.
    expect((await fetch(`${base}/api/auth/me`, { headers: { cookie } })).status).toBe(401);
    const logout = await fetch(`${base}/api/auth/session`, { method: 'DELETE' });
    expect(logout.headers.get('set-cookie')).toMatch(/^mm_admin_session=; Max-Age=0;.*Path=\/admin/);
  });
});
