// The Content-Security-Policy: every page hydrates under it with no violation (the shared
// fixture fails a test on any), and it really is enforced: an inline script without the
// page's nonce does not run.
import { test as plain } from '@playwright/test';
import { ADMIN, expect, open, signIn, test } from './support';

test('every page hydrates under the policy', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  for (const path of ['/', '/jobs', '/jobs/new', '/schedulers', '/tools', '/users', '/audit', '/profile']) {
    const response = await page.goto(path);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp, path).toContain("frame-ancestors 'none'");
    expect(csp, path).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=_-]+'/);
    expect(response?.headers()['x-content-type-options'], path).toBe('nosniff');
    await expect(page.locator('html[data-hydrated]'), path).toHaveCount(1);
  }
  // Client-side navigation and the live socket work too.
  await open(page, '/');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await expect(page.getByRole('heading', { name: 'Jobs', exact: true })).toBeVisible();
});

plain('an inline script without the nonce is refused', async ({ page }) => {
  await page.goto('/login');
  await expect(page.locator('html[data-hydrated]')).toHaveCount(1);
  const outcome = await page.evaluate(
    () =>
      new Promise<{ ran: boolean; violated: string }>((resolve) => {
        let violated = '';
        document.addEventListener('securitypolicyviolation', (e) => {
          violated = e.violatedDirective;
        });
        const s = document.createElement('script');
        s.textContent = 'window.__injected = true;';
        document.body.appendChild(s);
        setTimeout(() => resolve({ ran: (window as any).__injected === true, violated }), 200);
      }),
  );
  expect(outcome.ran).toBe(false);
  expect(outcome.violated).toMatch(/^script-src/);
});
