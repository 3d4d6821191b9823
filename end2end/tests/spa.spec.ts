// The client-only build (Trunk) of the same UI, served from another origin with /api/
// proxied to the server (as `trunk serve` does): a person signs in and out through it.
import { spaURL } from '../playwright.config';
import { ADMIN, expect, hydrated, test } from './support';

test('signs in and out through the client-only build', async ({ page }) => {
  await page.goto(`${spaURL}/login`);
  await hydrated(page);
  // Rendered in the browser: the server sent only the empty Trunk page.
  await page.getByLabel('Username', { exact: true }).fill(ADMIN.username);
  await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.locator('nav[aria-label="Main"]')).toBeVisible();
  await expect(page.getByRole('heading', { name: /Welcome, admin/ })).toBeVisible();
  await page.getByRole('button', { name: 'User menu' }).click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
});
