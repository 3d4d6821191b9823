// Jobs in the browser: a superuser creates a command job and watches its output arrive
// live, kills a running job, retries a failed one; the list updates itself when a job is
// added elsewhere, and filters by status.
import { ADMIN, expect, open, signIn, test } from './support';
import type { Page } from '@playwright/test';

async function newCommandJob(page: Page, name: string, command: string, maxAttempts = '3'): Promise<void> {
  await open(page, '/jobs/new');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Type', { exact: true }).selectOption('command');
  await page.getByLabel('Shell command', { exact: true }).fill(command);
  await page.getByLabel('Max attempts', { exact: true }).fill(maxAttempts);
  await page.getByRole('button', { name: 'Create job' }).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.getByRole('heading', { level: 1 })).toContainText(name);
}

const badge = (page: Page) => page.locator('.page-head .badge');

test('creates a command job and watches its output arrive live', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await newCommandJob(page, 'counting', 'sleep 1; for i in 1 2 3; do echo line-$i; sleep 0.4; done');
  const output = page.getByLabel('Job output');
  await expect(output).toContainText('line-1');
  await expect(badge(page)).toHaveText('running');
  await expect(output).toContainText('line-3');
  await expect(badge(page)).toHaveText('done');
  // Each line once.
  await expect.poll(async () => ((await output.textContent()) ?? '').split('line-2').length - 1).toBe(1);
});

test('opened while a job is writing fast, the page shows each line once', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  // A line every 10 ms: some are written between the page's subscription to the output and
  // its read of the log, and arrive both ways.
  await newCommandJob(page, 'chatty', 'for i in $(seq 1 300); do echo tick-$i; sleep 0.01; done');
  await expect(badge(page)).toHaveText('done', { timeout: 20_000 });
  const output = page.getByLabel('Job output');
  await expect(output).toContainText('tick-300');
  const lines = ((await output.textContent()) ?? '').split('\n').filter((l) => l.startsWith('tick-'));
  expect(lines).toEqual(Array.from({ length: 300 }, (_, i) => `tick-${i + 1}`));
});

test('kills a running job', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await newCommandJob(page, 'sleepy', 'echo started; sleep 60');
  await expect(page.getByLabel('Job output')).toContainText('started');
  await expect(badge(page)).toHaveText('running');
  await page.getByRole('button', { name: 'Kill' }).click();
  await expect(badge(page)).toHaveText('cancelled');
  await expect(page.getByRole('button', { name: 'Retry' })).toBeVisible();
});

test('retries a failed job', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  const marker = `/tmp/vcore-e2e-retry-${Date.now()}`;
  // Fails the first time, succeeds once the marker exists.
  await newCommandJob(page, 'flaky', `test -f ${marker} && rm ${marker} && echo second-try || { touch ${marker}; exit 3; }`, '1');
  await expect(badge(page)).toHaveText('failed');
  await page.getByRole('button', { name: 'Retry' }).click();
  await expect(badge(page)).toHaveText('done');
  await expect(page.getByLabel('Job output')).toContainText('second-try');
});

test('the jobs list updates itself and filters by status', async ({ page, request }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  const name = `from-api-${Date.now()}`;
  const login = await request.post('/api/v1/login/access-token', { form: ADMIN });
  const { access_token } = await login.json();
  const earlier = await request.post('/api/v1/jobs/', {
    headers: { Authorization: `Bearer ${access_token}` },
    data: { name: `earlier-${Date.now()}`, type: 'script', command: 'noop' },
  });
  expect(earlier.status()).toBe(201);
  await expect.poll(async () => (await (await request.get(`/api/v1/jobs/${(await earlier.json()).id}`, {
    headers: { Authorization: `Bearer ${access_token}` },
  })).json()).status).toBe('done');
  await open(page, '/jobs');
  // Nothing changed since the server rendered the list: once the socket is connected, the
  // page keeps the server's rows (no reload, no flash).
  await page.locator('tbody tr').first().evaluate((el) => { (window as any).__firstRow = el; });
  await page.waitForTimeout(1500); // the socket's hello, and more than the 300 ms reload window
  expect(await page.evaluate(() => (window as any).__firstRow.isConnected)).toBe(true);
  const created = await request.post('/api/v1/jobs/', {
    headers: { Authorization: `Bearer ${access_token}` },
    data: { name, type: 'script', command: 'noop' },
  });
  expect(created.status()).toBe(201);
  // No reload: the socket tells the page.
  const row = page.getByRole('row').filter({ hasText: name });
  await expect(row).toBeVisible();
  await expect(row.locator('.badge')).toHaveText('done');

  await page.getByLabel('Status', { exact: true }).selectOption('failed');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/status=failed/);
  await expect(page.getByRole('row').filter({ hasText: name })).toHaveCount(0);

  // By name, any case: only that job.
  await page.getByLabel('Status', { exact: true }).selectOption('');
  await page.getByLabel('Name contains', { exact: true }).fill(name.toUpperCase());
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/name=/);
  await expect(page.getByRole('row').filter({ hasText: name })).toHaveCount(1);
  await expect(page.getByText(/^1–1 of 1$/)).toBeVisible();
});

test('shows coloured output, searches it and downloads it', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await newCommandJob(page, 'colours', "printf '\\033[31mred-word\\033[0m plain\\n'; for i in $(seq 1 50); do echo row-$i; done");
  await expect(badge(page)).toHaveText('done');
  const output = page.getByLabel('Job output');
  await expect(output).toContainText('row-50');
  // The colour is a class; no escape sequence is left in the text.
  await expect(output.locator('span.a-f2')).toHaveText('red-word');
  expect(await output.textContent()).not.toContain('\u001b');
  expect(await output.textContent()).not.toContain('[31m');

  // Search: only the matching lines (row-4, row-40 … row-49).
  const search = page.getByLabel('Search the output');
  await search.fill('ROW-4');
  await expect(page.getByText('11 matching lines')).toBeVisible();
  await expect(output).toContainText('row-49');
  await expect(output).not.toContainText('row-39');
  await expect(output).not.toContainText('red-word');
  await search.fill('');
  await expect(output).toContainText('row-39');
  await expect(output.locator('span.a-f2')).toHaveText('red-word');

  // Download: the whole log as a file, escape sequences and all.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download' }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/^job-\d+\.log$/);
  const chunks: Buffer[] = [];
  for await (const chunk of await download.createReadStream()) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  expect(text).toContain('\u001b[31mred-word\u001b[0m plain\n');
  expect(text.trimEnd().split('\n')).toHaveLength(51);
});

test('selects jobs and retries, kills and deletes them in bulk', async ({ page, request }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  const login = await request.post('/api/v1/login/access-token', { form: ADMIN });
  const { access_token } = await login.json();
  const prefix = `bulk-${Date.now()}`;
  const later = new Date(Date.now() + 3600_000).toISOString();
  for (const n of [1, 2, 3]) {
    const r = await request.post('/api/v1/jobs/', {
      headers: { Authorization: `Bearer ${access_token}` },
      data: { name: `${prefix}-${n}`, type: 'script', command: 'noop', run_at: later },
    });
    expect(r.status()).toBe(201);
  }
  await open(page, `/jobs?name=${prefix}`);
  const rows = page.getByRole('row').filter({ hasText: prefix });
  await expect(rows).toHaveCount(3);
  const bar = page.getByRole('group', { name: 'Selected jobs' });
  await expect(bar.getByRole('button', { name: 'Kill' })).toBeDisabled();

  // Kill all three (they are waiting: they end cancelled).
  await page.getByLabel('Select all jobs on this page').check();
  await expect(bar).toContainText('3 jobs selected');
  await bar.getByRole('button', { name: 'Kill' }).click();
  await expect(page.getByRole('status').filter({ hasText: '3 done' })).toBeVisible();
  await expect(rows.locator('.badge', { hasText: 'cancelled' })).toHaveCount(3);
  await expect(bar).toContainText('Select jobs');

  // Retry one: it runs now and ends done; a second retry of it is refused with the reason.
  const first = rows.filter({ hasText: `${prefix}-1` });
  await first.getByRole('checkbox').check();
  await bar.getByRole('button', { name: 'Retry' }).click();
  await expect(first.locator('.badge')).toHaveText('done');
  await first.getByRole('checkbox').check();
  await bar.getByRole('button', { name: 'Retry' }).click();
  await expect(page.getByRole('status').filter({ hasText: '0 done; 1 skipped' })).toContainText('cannot move');

  // Delete all, after confirming.
  page.once('dialog', (d) => d.accept());
  await page.getByLabel('Select all jobs on this page').check();
  await bar.getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByRole('status').filter({ hasText: '3 done' })).toBeVisible();
  await expect(page.getByText('No jobs match.')).toBeVisible();
});
