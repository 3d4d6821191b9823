// The dashboard: the superuser sees the machine's state, the queues and the last hour;
// a job failing elsewhere shows up under "Recent failures" without a reload; a regular
// user sees no machine state.
import { ADMIN, createUserViaApi, expect, open, signIn, test } from './support';

test('the dashboard shows the system and follows jobs live', async ({ page, request }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await open(page, '/');
  await expect(page.getByRole('heading', { name: 'System' })).toBeVisible();
  await expect(page.getByText(/% of \d+ CPUs/)).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Queues' })).toBeVisible();
  await expect(page.getByRole('img', { name: /jobs done and \d+ failed in the last hour/ })).toBeVisible();

  const login = await request.post('/api/v1/login/access-token', { form: ADMIN });
  const { access_token } = await login.json();
  const name = `doomed-${Date.now()}`;
  const created = await request.post('/api/v1/jobs/', {
    headers: { Authorization: `Bearer ${access_token}` },
    data: { name, type: 'command', command: 'exit 4', max_attempts: 1 },
  });
  expect(created.status()).toBe(201);
  const failures = page.locator('section', { has: page.getByRole('heading', { name: 'Recent failures' }) });
  await expect(failures.getByRole('link', { name: new RegExp(name) })).toBeVisible();
});

test('a regular user sees no machine state', async ({ page, request }) => {
  const username = await createUserViaApi(request, 'regular-pass-1');
  await signIn(page, username, 'regular-pass-1');
  await open(page, '/');
  await expect(page.getByRole('heading', { name: 'Queues' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'System' })).toHaveCount(0);
});
