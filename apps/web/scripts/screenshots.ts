// Screenshots of the main pages, light and dark, into docs/screenshots/ (`pnpm -C apps/web screenshots`). Runs the
// same stack as the browser test (PostgreSQL, Redis, the API, real workers, a loopback sshd) and drives the page in
// Debian's Chromium, so the pictures show real data: a scan, a backup, a fleet run.
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { ADMIN_EMAIL, buildDashboard, PASSWORD, startStack } from '../test/helpers/stack.js';

const OUT = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url));
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

await mkdir(OUT, { recursive: true });
await buildDashboard();
const stack = await startStack();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const progress = (label: string) => page.getByRole('progressbar', { name: label }).first().getAttribute('aria-valuenow');
  const until = async (check: () => Promise<boolean>) => {
    for (let i = 0; i < 240 && !(await check()); i++) await page.waitForTimeout(250);
  };

  await page.goto(stack.url);
  await page.getByLabel('Email').waitFor();
  const shots: { name: string; url: string; prepare?: (p: Page) => Promise<void> }[] = [{ name: 'sign-in', url: stack.url }];
  await page.getByLabel('Email').fill(ADMIN_EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Fleet', level: 1 }).waitFor();

  // Some history: a scan and a backup of web-1, a bulk scan of both web servers.
  await page.goto(`${stack.url}/#/servers/${stack.servers.web1.id}`);
  await page.getByRole('button', { name: 'Scan', exact: true }).click();
  await until(async () => (await progress('Scan progress')) === '100');
  await page.getByRole('button', { name: 'Back up now' }).click();
  await until(async () => (await progress('Backup progress')) === '100');
  await page.getByRole('region', { name: 'Backups' }).getByRole('link').first().waitFor();
  const backupHref = (await page.getByRole('region', { name: 'Backups' }).getByRole('link').first().getAttribute('href')) as string;
  const scanHref = (await page.getByRole('region', { name: 'Jobs' }).getByRole('link', { name: 'scan:full' }).getAttribute('href')) as string;
  await page.goto(`${stack.url}/#/`);
  await page.getByLabel('Filter').fill('web-');
  await page.getByRole('checkbox', { name: 'Select web-1' }).check();
  await page.getByRole('checkbox', { name: 'Select web-2' }).check();
  await page.getByRole('button', { name: 'Scan selected (2)' }).click();
  await page.getByRole('heading', { name: /^Fleet run / }).waitFor();
  await until(async () => (await progress('Run progress')) === '100');
  const runUrl = page.url();

  shots.push(
    { name: 'fleet', url: `${stack.url}/#/` },
    { name: 'server', url: `${stack.url}/#/servers/${stack.servers.web1.id}` },
    { name: 'job', url: `${stack.url}/${scanHref}` },
    {
      name: 'backup',
      url: `${stack.url}/${backupHref}`,
      prepare: async (p) => {
        for (const part of stack.siteDir.split('/').filter(Boolean)) await p.getByRole('button', { name: `${part}/`, exact: true }).click();
        await p.getByRole('link', { name: 'Download hello.txt' }).waitFor();
      },
    },
    { name: 'fleet-run', url: runUrl },
    { name: 'history', url: `${stack.url}/#/history` },
    { name: 'admin', url: `${stack.url}/#/admin` },
  );

  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const shot of shots) {
      if (shot.name === 'sign-in') {
        const anonymous = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: scheme });
        const p = await anonymous.newPage();
        await p.goto(shot.url);
        await p.getByLabel('Email').waitFor();
        await p.screenshot({ path: `${OUT}${shot.name}-${scheme}.png` });
        await anonymous.close();
        continue;
      }
      await page.goto('about:blank');
      await page.goto(shot.url);
      await page.locator('main h1').waitFor();
      await page.waitForLoadState('networkidle').catch(() => undefined);
      await shot.prepare?.(page);
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${OUT}${shot.name}-${scheme}.png` });
      process.stdout.write(`wrote docs/screenshots/${shot.name}-${scheme}.png\n`);
    }
  }
} finally {
  await browser.close();
  await stack.close();
}
