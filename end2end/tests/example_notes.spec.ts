// The example application built on vcore (examples/notes), in a browser: its navigation
// entry inside vcore's shell, its page and server functions (add, list, open, delete a
// note), and its quick tool among vcore's. It runs its own server (playwright.config.ts).
import { ADMIN, createUserViaApi, expect, hydrated, open, signIn, test } from './support';
import { notesURL } from '../playwright.config';

test.use({ baseURL: notesURL });

test('adds, opens and deletes a note from the Notes page', async ({ page, request }) => {
  const password = 'notes-e2e-pass';
  const user = await createUserViaApi(request, password);
  await signIn(page, user, password);

  // Its entry is in vcore's main navigation, after vcore's own.
  const nav = page.locator('nav[aria-label="Main"]');
  await expect(nav.getByRole('link', { name: 'Jobs' })).toBeVisible();
  await nav.getByRole('link', { name: 'Notes' }).click();
  await expect(page).toHaveURL(/\/notes$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Notes' })).toBeVisible();
  await expect(page.getByText('No notes yet.')).toBeVisible();

  // A bad title is refused next to its field; a good note is listed.
  await page.getByLabel('Title').fill('   ');
  await page.getByRole('button', { name: 'Add note' }).click();
  await expect(page.locator('#title-error')).toContainText('1 to 200 characters');
  await page.getByLabel('Title').fill('Groceries');
  await page.getByLabel('Text').fill('eggs, milk');
  await page.getByRole('button', { name: 'Add note' }).click();
  const link = page.getByRole('link', { name: 'Groceries' });
  await expect(link).toBeVisible();

  // Its own page, rendered by the server and hydrated, inside the shell.
  await link.click();
  await expect(page.getByRole('heading', { level: 1, name: 'Groceries' })).toBeVisible();
  await expect(page.getByText('eggs, milk')).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole('heading', { level: 1, name: 'Groceries' })).toBeVisible();
  await expect(page.locator('nav[aria-label="Main"]')).toBeVisible();

  await open(page, '/notes');
  await page.getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByText('No notes yet.')).toBeVisible();
});

test('runs the application quick tool among vcore tools', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await open(page, '/tools');
  await expect(page.getByRole('link', { name: 'Cron explainer' })).toBeVisible();
  await page.getByRole('link', { name: 'Slugify', exact: true }).click();
  await page.locator('#input').fill('Hello, World!');
  await page.getByRole('button', { name: 'Run' }).click();
  await expect(page.getByLabel('Result text')).toHaveText('hello-world');
});

test('keeps a visitor without a session out of the page', async ({ page }) => {
  await page.goto('/notes');
  await expect(page).toHaveURL(/\/login/);
});
