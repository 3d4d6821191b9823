// Screenshots of the main pages, light and dark, at a desktop and a phone width, saved as
// test artifacts (end2end/screenshots/, and attached to the HTML report). Each page must
// also fit a 360 px wide screen: nothing may widen the document (wide tables scroll in
// their own box).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ADMIN, expect, open, signIn, test } from './support';

const dir = path.join(__dirname, '..', 'screenshots');

test('captures the main pages, light and dark, at desktop and phone widths', async ({ page, request }, testInfo) => {
  test.setTimeout(120_000);
  mkdirSync(dir, { recursive: true });
  const login = await request.post('/api/v1/login/access-token', { form: ADMIN });
  const { access_token } = await login.json();
  const job = await request.post('/api/v1/jobs/', {
    headers: { Authorization: `Bearer ${access_token}` },
    data: { name: 'screenshot-job', type: 'command', command: "printf '\\033[32mok\\033[0m building\\n\\033[31merror\\033[0m: none\\n'" },
  });
  expect(job.status()).toBe(201);
  const { id } = await job.json();

  const pages: [string, string][] = [
    ['dashboard', '/'],
    ['jobs', '/jobs'],
    ['job', `/jobs/${id}`],
    ['new-job', '/jobs/new'],
    ['schedulers', '/schedulers'],
    ['tools', '/tools'],
    ['users', '/users'],
    ['profile', '/profile'],
  ];
  const shoot = async (name: string) => {
    const file = path.join(dir, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    await testInfo.attach(name, { path: file, contentType: 'image/png' });
  };
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width: 1280, height: 800 });
    await open(page, '/login');
    await shoot(`login-${scheme}-1280`);
    await signIn(page, ADMIN.username, ADMIN.password);
    for (const [name, url] of pages) {
      for (const width of [1280, 360]) {
        await page.setViewportSize({ width, height: 800 });
        await open(page, url);
        await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
        if (width === 360) {
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          expect(overflow, `${url} is wider than a 360 px screen`).toBeLessThanOrEqual(0);
        }
        await shoot(`${name}-${scheme}-${width}`);
      }
    }
    await page.context().clearCookies();
  }
});
