// A person changes their password on the profile page: a wrong current password is
// refused next to its field; afterwards only the new password signs in.
import { createUserViaApi, expect, open, signIn, submitSignIn, test } from './support';

test('changes the password on the profile page', async ({ page, request }) => {
  const oldPassword = 'old-password-1';
  const newPassword = 'new-password-2';
  const username = await createUserViaApi(request, oldPassword);
  await signIn(page, username, oldPassword);
  await open(page, '/profile');

  await page.getByLabel('Current password', { exact: true }).fill('not-my-password');
  await page.getByLabel('New password', { exact: true }).fill(newPassword);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.locator('#current_password-error')).toHaveText('is incorrect');

  await page.getByLabel('Current password', { exact: true }).fill(oldPassword);
  await page.getByLabel('New password', { exact: true }).fill(newPassword);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Password changed' })).toBeVisible();
  // Still signed in here: the server opened a new session for this browser.
  await open(page, '/profile');
  await expect(page.getByRole('heading', { name: 'Profile' })).toBeVisible();

  await page.getByRole('button', { name: 'User menu' }).click();
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/login$/);
  await submitSignIn(page, username, oldPassword);
  await expect(page.getByRole('alert')).toContainText('Incorrect username or password');
  await signIn(page, username, newPassword);
});
