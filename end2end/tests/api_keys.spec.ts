// API keys from the profile page: created with a scope, the secret shown once and working
// as a bearer, then revoked; and a superuser giving an account another role on /users.
import { ADMIN, createUserViaApi, expect, open, signIn, test } from './support';

test('creates, uses and revokes an API key', async ({ page, request }) => {
  const password = 'user-password-1';
  const username = await createUserViaApi(request, password);
  await signIn(page, username, password);
  await open(page, '/profile');
  await page.getByLabel('Key name').fill('ci runner');
  await page.getByLabel(/^jobs:read/).check();
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = page.getByTestId('new-api-key');
  await expect(secret).toHaveText(/^vk_[0-9a-f]{12}_[0-9a-f]{64}$/);
  const key = (await secret.textContent()) ?? '';
  const row = page.getByRole('row').filter({ hasText: 'ci runner' });
  await expect(row).toContainText('jobs:read');
  await expect(row).toContainText(key.slice(0, 15));

  const me = await request.get('/api/v1/users/me', { headers: { Authorization: `Bearer ${key}` } });
  expect(me.status()).toBe(200);
  expect((await me.json()).username).toBe(username);
  // Its scope is reading jobs: enqueueing is refused.
  const enqueue = await request.post('/api/v1/jobs/', {
    headers: { Authorization: `Bearer ${key}` },
    data: { name: 'nope', type: 'script', command: 'noop' },
  });
  expect(enqueue.status()).toBe(403);

  await page.getByRole('button', { name: 'Revoke ci runner' }).click();
  await expect(row).toContainText('revoked');
  const after = await request.get('/api/v1/users/me', { headers: { Authorization: `Bearer ${key}` } });
  expect(after.status()).toBe(401);
});

test('a superuser gives an account another role', async ({ page, request }) => {
  const username = await createUserViaApi(request, 'user-password-1');
  await signIn(page, ADMIN.username, ADMIN.password);
  await open(page, '/users');
  const row = page.getByRole('row').filter({ hasText: username });
  await row.getByRole('combobox', { name: `Role of ${username}` }).selectOption('operator');
  await row.getByRole('button', { name: `Set the role of ${username}` }).click();
  await page.reload();
  await expect(page.getByRole('row').filter({ hasText: username }).getByRole('combobox', { name: `Role of ${username}` })).toHaveValue('operator');
});
