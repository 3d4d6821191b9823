// The audit log page: a superuser sees the sign-ins of this run, filters them through the
// address, and a regular user is refused.
import { ADMIN, createUserViaApi, expect, open, signIn, test } from './support';

test('the audit log shows and filters what happened', async ({ page, request, browser }) => {
  const password = 'user-password-1';
  const username = await createUserViaApi(request, password);
  const failed = await request.post('/api/v1/login/access-token', { form: { username, password: 'wrong-password' } });
  expect(failed.status()).toBe(401);
  await signIn(page, ADMIN.username, ADMIN.password);
  await page.getByRole('link', { name: 'Audit log' }).click();
  await expect(page.getByRole('heading', { name: 'Audit log' })).toBeVisible();
  await page.getByLabel('Actor (name or id)').fill(username);
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(new RegExp(`/audit\\?actor=${username}`));
  const rows = page.locator('tbody tr');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('auth.login');
  await expect(rows.first()).toContainText('failure');
  await expect(rows.first()).toContainText('127.0.0.1');

  const other = await browser.newContext();
  try {
    const theirs = await other.newPage();
    await signIn(theirs, username, password);
    await open(theirs, '/audit');
    await expect(theirs.getByRole('alert')).toContainText("You don't have access to this page");
    await expect(theirs.getByRole('link', { name: 'Audit log' })).toHaveCount(0);
  } finally {
    await other.close();
  }
});
