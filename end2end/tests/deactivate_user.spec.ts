// A superuser deactivates an account on the users page; its owner can no longer sign in,
// until the account is activated again.
import { ADMIN, createUserViaApi, expect, open, signIn, submitSignIn, test } from './support';

test('deactivates and reactivates a user', async ({ page, browser, request }) => {
  const password = 'user-password-1';
  const username = await createUserViaApi(request, password);
  await signIn(page, ADMIN.username, ADMIN.password);
  await open(page, '/users');
  const row = page.getByRole('row').filter({ hasText: username });
  await page.getByRole('button', { name: `Deactivate ${username}` }).click();
  await expect(page.getByRole('button', { name: `Activate ${username}` })).toBeVisible();
  await expect(row.getByRole('cell').nth(2)).toHaveText('No');

  const other = await browser.newContext();
  try {
    const theirs = await other.newPage();
    await submitSignIn(theirs, username, password);
    await expect(theirs.getByText('Inactive user')).toBeVisible();
    await expect(theirs).toHaveURL(/\/login$/);

    await page.getByRole('button', { name: `Activate ${username}` }).click();
    await expect(page.getByRole('button', { name: `Deactivate ${username}` })).toBeVisible();
    await signIn(theirs, username, password);
  } finally {
    await other.close();
  }
});
