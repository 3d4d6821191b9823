// The installable app: Chromium reports no installability errors (DevTools protocol), the
// service worker takes control, and with the network gone, or the server stopped, a page
// shows the offline page.
// Installability is checked in a persistent (non-incognito) browser profile: Chromium never
// offers to install from an incognito context, which every ordinary Playwright context is.
import { chromium } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { ADMIN, expect, signIn, test } from './support';

/** Signs in as the admin, then waits until the service worker is installed and controls
 * the page. */
async function signInUnderWorker(page: Page): Promise<void> {
  await signIn(page, ADMIN.username, ADMIN.password);
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
    }
  });
}

test('is installable, and shows the offline page without a network', async ({}, testInfo) => {
  const use = testInfo.project.use;
  const profile = mkdtempSync(path.join(tmpdir(), 'vcore-pwa-'));
  const context = await chromium.launchPersistentContext(profile, {
    ...use.launchOptions,
    baseURL: use.baseURL,
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await signInUnderWorker(page);
    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    expect(installabilityErrors).toEqual([]);
    // Static files keep their names across builds: the browser must revalidate them.
    for (const file of ['/pkg/vcore.wasm', '/pkg/vcore.js', '/pkg/vcore.css', '/favicon.svg', '/offline.html']) {
      const r = await page.request.get(file);
      expect(r.status(), file).toBe(200);
      expect(r.headers()['cache-control'], file).toBe('no-cache');
      const again = await page.request.get(file, { headers: { 'If-Modified-Since': r.headers()['last-modified'] } });
      expect(again.status(), `${file} unchanged`).toBe(304);
    }
    const manifest = await (await page.request.get('/manifest.webmanifest')).json();
    expect(manifest.icons.map((i: { sizes: string }) => i.sizes)).toEqual(expect.arrayContaining(['192x192', '512x512']));

    // Offline: pages give way to the offline page; the API is never answered from a cache.
    await context.setOffline(true);
    await page.goto('/jobs');
    await expect(page.getByRole('heading', { name: "You're offline" })).toBeVisible();
    const api = await page.evaluate(() => fetch('/api/v1/openapi.json').then(() => 'answered', () => 'failed'));
    expect(api).toBe('failed');
    await context.setOffline(false);
    await page.getByRole('link', { name: 'Try again' }).click();
    await expect(page.getByRole('heading', { name: 'Jobs', level: 1 })).toBeVisible();
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

/** Starts the vcore binary on its own port and data dir (this test stops it; the shared
 * server of the other tests must stay up). Resolves once it is ready. */
async function startOwnServer(port: number, dataDir: string): Promise<ChildProcess> {
  const bin = path.resolve(__dirname, '..', process.env.VCORE_BIN ?? '../target/debug/vcore');
  const siteRoot = path.resolve(__dirname, '..', process.env.LEPTOS_SITE_ROOT ?? '../target/site');
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['serve'], {
    stdio: 'ignore',
    env: {
      ...process.env,
      ENV_NAME: 'development',
      SERVER_HOST: '127.0.0.1',
      SERVER_PORT: String(port),
      BASE_URL: base,
      DATA_DIR: dataDir,
      DB_URL: `sqlite://${path.join(dataDir, 'vcore.db')}`,
      // Fixed keys: the session survives the restart.
      JWT_ACCESS_SECRET_KEY: 'offline-test-access-key-0123456789abcdef',
      JWT_REFRESH_SECRET_KEY: 'offline-test-refresh-key-0123456789abcdef',
      FIRST_SUPERUSER_USERNAME: ADMIN.username,
      FIRST_SUPERUSER_EMAIL: 'admin@example.com',
      FIRST_SUPERUSER_PASSWORD: ADMIN.password,
      LEPTOS_SITE_ROOT: siteRoot,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
    },
  });
  await expect.poll(async () => fetch(`${base}/readyz`).then((r) => r.status, () => 0), { timeout: 30_000 }).toBe(200);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

test('shows the offline page when the server is stopped, and the app again once it is back', async ({ browser }) => {
  const port = Number(process.env.E2E_PORT ?? 3456) + 3;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vcore-offline-'));
  let server = await startOwnServer(port, dataDir);
  const context = await browser.newContext({ baseURL: `http://127.0.0.1:${port}` });
  try {
    const page = await context.newPage();
    await signInUnderWorker(page);

    // The server goes away: a page load gets the offline page from the service worker.
    await stop(server);
    await page.goto('/jobs');
    await expect(page.getByRole('heading', { name: "You're offline" })).toBeVisible();

    // Back again (same data, same keys): "Try again" opens the page, still signed in.
    server = await startOwnServer(port, dataDir);
    await page.getByRole('link', { name: 'Try again' }).click();
    await expect(page.getByRole('heading', { name: 'Jobs', level: 1 })).toBeVisible();
  } finally {
    await context.close();
    await stop(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
