// The installable app: Chromium reports no installability errors (DevTools protocol), the
// service worker takes control, and with the network gone a page shows the offline page.
// Installability is checked in a persistent (non-incognito) browser profile: Chromium never
// offers to install from an incognito context, which every ordinary Playwright context is.
import { chromium } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ADMIN, expect, hydrated, test } from './support';

test('is installable, and shows the offline page without a network', async ({}, testInfo) => {
  const use = testInfo.project.use;
  const profile = mkdtempSync(path.join(tmpdir(), 'vcore-pwa-'));
  const context = await chromium.launchPersistentContext(profile, {
    ...use.launchOptions,
    baseURL: use.baseURL,
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto('/login');
    await hydrated(page);
    await page.getByLabel('Username', { exact: true }).fill(ADMIN.username);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect(page.locator('nav[aria-label="Main"]')).toBeVisible();
    // The worker is installed and controls the page.
    await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      if (!navigator.serviceWorker.controller) {
        await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
      }
    });
    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    expect(installabilityErrors).toEqual([]);
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
