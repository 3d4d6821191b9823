// A person signs in, finds their way around the shell, switches the theme and signs out.
import { ADMIN, expect, hydrated, open, signIn, submitSignIn, test } from './support';

// Start from a known system preference, so the first theme press has a known outcome.
test.use({ colorScheme: 'light' });

test('signs in and sees the app shell', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await expect(page.locator('nav[aria-label="Main"]')).toBeVisible();
  const userMenu = page.getByRole('button', { name: 'User menu' });
  await expect(userMenu).toBeVisible();
  await expect(userMenu).toContainText('admin');
});

test('toggles the theme, and the choice survives a reload', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  const html = page.locator('html');
  const toggle = page.getByRole('button', { name: 'Toggle theme' });

  // From the (light) system setting, the first press picks the opposite.
  await toggle.click();
  await expect(html).toHaveAttribute('data-theme', 'dark');
  await page.reload();
  await hydrated(page);
  await expect(html).toHaveAttribute('data-theme', 'dark');

  await toggle.click();
  await expect(html).toHaveAttribute('data-theme', 'light');
  await page.reload();
  await hydrated(page);
  await expect(html).toHaveAttribute('data-theme', 'light');
});

test('signs out from the user menu', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await page.getByRole('button', { name: 'User menu' }).click();
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/login(\?|$)/);
  await expect(page.getByLabel('Username', { exact: true })).toBeVisible();

  // The session is really over: the app sends us back to sign in.
  await open(page, '/');
  await expect(page).toHaveURL(/\/login(\?|$)/);
  await expect(page.locator('nav[aria-label="Main"]')).toHaveCount(0);
});

test('a wrong password is refused with a message', async ({ page }) => {
  await submitSignIn(page, ADMIN.username, 'definitely-not-it');
  await expect(page.locator('[role=alert]').filter({ hasText: 'Incorrect username or password' })).toBeVisible();
  await expect(page).toHaveURL(/\/login/);
  await expect(page.locator('nav[aria-label="Main"]')).toHaveCount(0);
});
