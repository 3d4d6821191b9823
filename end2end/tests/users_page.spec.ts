// A superuser adds an account on the users page; that account's owner signs in and is
// told, politely, that the users page is not for them.
import { ADMIN, expect, hydrated, open, signIn, test } from './support';

test('admin creates a user, who then has no access to the users page', async ({ page, browser }) => {
  const username = `e2e${Date.now().toString(36)}`;
  const password = 'e2e-user-pass-1';

  await signIn(page, ADMIN.username, ADMIN.password);
  await open(page, '/users');
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Email', { exact: true }).fill(`${username}@example.com`);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Full name', { exact: true }).fill('End To End');
  await page.getByRole('button', { name: 'Create user', exact: true }).click();

  const row = page.getByRole('row').filter({ hasText: username });
  await expect(row).toBeVisible();
  await expect(row).toContainText(`${username}@example.com`);
  await expect(row).toContainText('End To End');
  // It is stored, not just drawn.
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole('row').filter({ hasText: username })).toBeVisible();

  // The new user, in a separate browser context (its own cookies).
  const context = await browser.newContext();
  try {
    const theirs = await context.newPage();
    await signIn(theirs, username, password);
    await expect(theirs.getByRole('button', { name: 'User menu' })).toContainText(username);
    await open(theirs, '/users');
    await expect(theirs.getByText("You don't have access to this page")).toBeVisible();
    await expect(theirs.getByRole('row').filter({ hasText: ADMIN.username })).toHaveCount(0);
    await expect(theirs.getByRole('button', { name: 'Create user' })).toHaveCount(0);
  } finally {
    await context.close();
  }
});
